import { spawnSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t0, { test } from 'tap'
import { FileSessionStore } from '../../index.js'
import { describeSessionStore } from '../../lib/store-conformance.js'
import { recordingLogger, setup } from '../helpers.js'

const T0 = Date.UTC(2026, 11, 4, 15, 0, 0)

const root = await mkdtemp(path.join(os.tmpdir(), 'easy-bugsnag-file-'))
t0.teardown(() => rm(root, { recursive: true, force: true }))

describeSessionStore('FileSessionStore', () => new FileSessionStore({ directory: root }), { test })

/** A folder of the test's own, and a store in it. */
async function fileStore (options: ConstructorParameters<typeof FileSessionStore>[0] = {}): Promise<FileSessionStore> {
  const directory = await mkdtemp(path.join(root, 'case-'))
  return new FileSessionStore({ directory, namespace: 'sessions', ...options })
}

/** The pid of a process that ran and is gone. */
function deadPid (): number {
  const result = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(result.stdout)
}

test('the folder and its files are readable by the service\'s user only', async (t) => {
  const store = await fileStore()
  await store.add([{ minute: T0, sessions: 1 }], T0)

  t.equal((await stat(store.path)).mode & 0o777, 0o700)
  t.equal((await stat(path.join(store.path, 'sessions.json'))).mode & 0o777, 0o600)
  t.same(await readdir(store.path), ['sessions.json'], 'no lock or temporary file left behind')
  t.same(JSON.parse(await readFile(path.join(store.path, 'sessions.json'), 'utf8')), {
    format: 1, buckets: [[T0, 1]], expired: 0, claimedAt: null
  })
})

test('a folder that others could read is closed to them; a link in its place is refused', async (t) => {
  const store = await fileStore()
  await mkdir(store.path, { mode: 0o777 })
  await chmod(store.path, 0o777)
  await store.add([{ minute: T0, sessions: 1 }], T0)
  t.equal((await stat(store.path)).mode & 0o777, 0o700)

  // A symbolic link could lead the counts anywhere.
  const directory = await mkdtemp(path.join(root, 'case-'))
  await symlink(store.path, path.join(directory, 'sessions'))
  const blocked = new FileSessionStore({ directory, namespace: 'sessions' })
  await t.rejects(blocked.add([{ minute: T0, sessions: 1 }], T0), { message: /sessions is not a directory/ })
  // Nothing is remembered of a failed preparation: the next call tries again.
  await rm(path.join(directory, 'sessions'))
  await blocked.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await blocked.pending(T0), { sessions: 1, expired: 0 })
})

test('a folder that belongs to another user is refused', async (t) => {
  const store = await fileStore()
  await mkdir(store.path, { mode: 0o700 })
  const getuid = process.getuid
  process.getuid = () => 12345
  t.teardown(() => { process.getuid = getuid })
  await t.rejects(store.take(T0), { message: /belongs to another user \(uid \d+\)/ })
  // Where there are no user ids (Windows), there is no owner to compare.
  process.getuid = undefined
  t.same(await store.take(T0), { buckets: [], expired: 0 })
})

test('the namespace names a folder: separators and dot names are refused', async (t) => {
  t.throws(() => new FileSessionStore({ namespace: '../etc' }), { name: 'TypeError', message: /usable as a folder name; got "..\/etc"/ })
  const store = new FileSessionStore()
  t.throws(() => store.configure({ cacheExpiresAfter: 60, namespace: '..' }), { message: /got "\.\."/ })
  store.configure({ cacheExpiresAfter: 60, namespace: 'shop' })
  t.equal(store.path, path.join(os.tmpdir(), 'shop'))
})

test('its own namespace and TTL win over the plugin\'s', async (t) => {
  const store = await fileStore({ namespace: 'own', cacheExpiresAfter: 120 })
  store.configure({ cacheExpiresAfter: 3600, namespace: 'plugin' })
  t.equal(path.basename(store.path), 'own')
  await store.add([{ minute: T0, sessions: 2 }], T0)
  t.same(await store.pending(T0 + 121_000), { sessions: 0, expired: 2 })
})

test('malformed content: set aside, reported once through a failed call, then read as empty', async (t) => {
  const contents = [
    '',
    '{"format":1,"buckets":[[',
    'null',
    '{"format":2,"buckets":[],"expired":0,"claimedAt":null}',
    '{"format":1,"buckets":{},"expired":0,"claimedAt":null}',
    '{"format":1,"buckets":[],"expired":-1,"claimedAt":null}',
    '{"format":1,"buckets":[],"expired":0,"claimedAt":"soon"}',
    '{"format":1,"buckets":[[1,2,3]],"expired":0,"claimedAt":null}',
    '{"format":1,"buckets":[[1000,2]],"expired":0,"claimedAt":null}',
    '{"format":1,"buckets":[[0,0]],"expired":0,"claimedAt":null}'
  ]
  for (const content of contents) {
    const store = await fileStore()
    await mkdir(store.path, { mode: 0o700 })
    await writeFile(path.join(store.path, 'sessions.json'), content)

    await t.rejects(store.pending(T0), { message: /held malformed data; moved to .*sessions\.json\.malformed-\d+, the file store starts empty/ }, JSON.stringify(content))
    t.same(await store.pending(T0), { sessions: 0, expired: 0 })
    const names = await readdir(store.path)
    t.ok(names.some((name) => name.startsWith('sessions.json.malformed-')), 'kept for a person to look at')
  }
})

test('a file the store cannot read fails the call and stays where it is', async (t) => {
  const store = await fileStore()
  await mkdir(path.join(store.path, 'sessions.json'), { recursive: true })
  await t.rejects(store.take(T0), { code: 'EISDIR' })
  t.ok((await stat(path.join(store.path, 'sessions.json'))).isDirectory())
})

test('a lock left by a killed process, with a half-written temporary file, is recovered at once', async (t) => {
  const store = await fileStore()
  await store.add([{ minute: T0, sessions: 3 }], T0)
  const pid = deadPid()
  await writeFile(path.join(store.path, 'sessions.lock'), JSON.stringify({ pid, host: os.hostname(), at: Date.now(), token: 'x' }))
  await writeFile(path.join(store.path, `sessions.json.${pid}.abcdef.tmp`), '{"format":1,"buck')
  await writeFile(path.join(store.path, 'sessions.json.1.abcdef.tmp'), 'another pid, left alone')

  const started = performance.now()
  t.same(await store.take(T0), { buckets: [{ minute: T0, sessions: 3 }], expired: 0 }, 'the state is whole')
  t.ok(performance.now() - started < 1000, 'without waiting for the lock to age')
  t.same((await readdir(store.path)).sort(), ['sessions.json', 'sessions.json.1.abcdef.tmp'])
})

test('a lock from another host is judged by its age only', async (t) => {
  const store = await fileStore({ lockTimeout: 0.3, staleLockAfter: 0.15 })
  await store.add([], T0)
  const lock = path.join(store.path, 'sessions.lock')
  await writeFile(lock, JSON.stringify({ pid: deadPid(), host: 'elsewhere', at: Date.now(), token: 'x' }))

  const started = performance.now()
  await store.add([{ minute: T0, sessions: 1 }], T0)
  const waited = performance.now() - started
  t.ok(waited >= 140 && waited < 1000, `waited ${Math.round(waited)} ms for the lock to age`)
})

test('a lock held too long by a live process is taken for abandoned; a fresh one makes the call fail in time', async (t) => {
  const store = await fileStore({ lockTimeout: 0.2, staleLockAfter: 60 })
  await store.add([], T0)
  const lock = path.join(store.path, 'sessions.lock')

  // Held by this very process (alive) for a minute: the call gives up after lockTimeout.
  await writeFile(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now(), token: 'x' }))
  const started = performance.now()
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { message: /lock .*sessions\.lock stayed taken for 200 ms/ })
  t.ok(performance.now() - started < 1000)

  // Held by a live process, but since long before staleLockAfter.
  await writeFile(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() - 61_000, token: 'x' }))
  await store.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await store.pending(T0), { sessions: 1, expired: 0 })
})

test('a lock file still being written (no pid yet) is judged by the file\'s age', async (t) => {
  const store = await fileStore({ lockTimeout: 0.1, staleLockAfter: 0.5 })
  await store.add([], T0)
  const lock = path.join(store.path, 'sessions.lock')
  await writeFile(lock, '')
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { message: /stayed taken/ }, 'fresh: a holder is writing it')
  // A lock that the holder could not finish writing.
  await writeFile(lock, '{"pid":')
  const old = new Date(Date.now() - 1000)
  await utimes(lock, old, old)
  await store.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await store.pending(T0), { sessions: 1, expired: 0 })
})

test('a breaker killed while breaking a lock leaves a file that ages out too', async (t) => {
  const store = await fileStore({ lockTimeout: 1, staleLockAfter: 0.1 })
  await store.add([], T0)
  await writeFile(path.join(store.path, 'sessions.lock'), JSON.stringify({ pid: deadPid(), host: os.hostname(), at: Date.now(), token: 'x' }))
  await writeFile(path.join(store.path, 'sessions.lock.break'), '1')

  const started = performance.now()
  await store.add([{ minute: T0, sessions: 2 }], T0)
  t.ok(performance.now() - started >= 90, 'waited for the breaker\'s file to age')
  t.same(await store.take(T0), { buckets: [{ minute: T0, sessions: 2 }], expired: 0 })
})

test('odd lock files: a folder in its place fails the call, as does a breaker\'s file that cannot be read', async (t) => {
  const store = await fileStore({ lockTimeout: 0.2, staleLockAfter: 0.05 })
  await store.add([], T0)
  await mkdir(path.join(store.path, 'sessions.lock'))
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { code: 'EISDIR' })
  await rm(path.join(store.path, 'sessions.lock'), { recursive: true })

  await writeFile(path.join(store.path, 'sessions.lock'), JSON.stringify({ pid: deadPid(), host: os.hostname(), at: Date.now(), token: 'x' }))
  await symlink('sessions.lock.break', path.join(store.path, 'sessions.lock.break'))
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { code: 'ELOOP' })
})

test('a folder removed under the store fails the call; the next one makes it again', async (t) => {
  const store = await fileStore()
  await store.add([{ minute: T0, sessions: 1 }], T0)
  await rm(store.path, { recursive: true })
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { code: 'ENOENT' })
})

test('claims: a claim far ahead of now (a clock that jumped back) blocks nothing', async (t) => {
  const store = await fileStore()
  t.equal(await store.claimDelivery(T0, 30_000), true)
  t.equal(await store.claimDelivery(T0 - 1, 30_000), false, 'a clock a little behind')
  t.equal(await store.claimDelivery(T0 - 30_000, 30_000), true, 'a clock an interval behind')
})

test('cache: \'file\' opens a file store in cacheDirectory/cacheNamespace that the plugin delivers from', async (t) => {
  const directory = await mkdtemp(path.join(root, 'plugin-'))
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { cache: 'file', cacheDirectory: directory, cacheNamespace: 'shop', deliveryInterval: 60 } }
  })
  for (let i = 0; i < 3; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionsStarted, 3)
  t.same(await readdir(path.join(directory, 'shop')), ['sessions.json'])
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 3)
  t.equal(stats.pending, 0)
})

test('cacheDirectory must be a non-empty string', async (t) => {
  await t.rejects(setup(t, { plugin: { sessionTracking: { cache: 'file', cacheDirectory: '' } } }), {
    code: 'FST_EASY_BUGSNAG_INVALID_OPTION',
    message: 'fastify-easy-bugsnag: option "sessionTracking.cacheDirectory" must be a non-empty string, got ""'
  })
})

test('a malformed file reaches the log once, and the counts are delivered all the same', async (t) => {
  const directory = await mkdtemp(path.join(root, 'plugin-'))
  await mkdir(path.join(directory, 'shop'), { mode: 0o700 })
  await writeFile(path.join(directory, 'shop', 'sessions.json'), 'not json')
  const logger = recordingLogger()
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { cache: 'file', cacheDirectory: directory, cacheNamespace: 'shop', deliveryInterval: 60 } },
    fastify: { logger: { level: 'info', stream: logger.stream } }
  })
  for (let i = 0; i < 2; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionsStarted, 2)
  const lines = logger.lines.filter((line) => /session store/.test(line.msg as string))
  t.same(lines.map((line) => line.msg), [
    'fastify-easy-bugsnag: session store failing; counts kept in memory',
    'fastify-easy-bugsnag: session store recovered'
  ])
  t.match((lines[0]?.err as { message: string }).message, /sessions\.json held malformed data/)
})
