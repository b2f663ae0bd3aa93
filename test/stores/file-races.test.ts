// Interleavings that real processes produce only by chance, made certain by a scripted fs.
import * as fs from 'node:fs/promises'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t0, { test, type Test } from 'tap'

type Hook = (...args: any[]) => unknown
const hooks: { readFile?: Hook, rename?: Hook, open?: Hook } = {}
const scripted = {
  ...fs,
  readFile: (...args: any[]) => hooks.readFile?.(...args) ?? (fs.readFile as Hook)(...args),
  rename: (...args: any[]) => hooks.rename?.(...args) ?? (fs.rename as Hook)(...args),
  open: (...args: any[]) => hooks.open?.(...args) ?? (fs.open as Hook)(...args)
}

const T0 = Date.UTC(2026, 11, 4, 15, 0, 0)
const root = await mkdtemp(path.join(os.tmpdir(), 'easy-bugsnag-races-'))
t0.teardown(() => rm(root, { recursive: true, force: true }))

async function scriptedStore (t: Test, options: Record<string, unknown> = {}) {
  const { FileSessionStore } = await t.mockImport<typeof import('../../lib/stores/file.js')>('../../lib/stores/file.js', {
    'node:fs/promises': scripted
  })
  t.teardown(() => { delete hooks.readFile; delete hooks.rename; delete hooks.open })
  const store = new FileSessionStore({ directory: await mkdtemp(path.join(root, 'case-')), namespace: 'sessions', ...options })
  await store.add([{ minute: T0, sessions: 1 }], T0)
  return { store, lock: path.join(store.path, 'sessions.lock'), state: path.join(store.path, 'sessions.json') }
}

function failure (code: string): Error {
  return Object.assign(new Error(`scripted ${code}`), { code })
}

const lockText = (pid: number, at = Date.now()) => JSON.stringify({ pid, host: os.hostname(), at, token: 'other' })

test('a write that fails leaves the old content and no temporary file', async (t) => {
  const { store, state } = await scriptedStore(t)
  hooks.rename = (from: string) => from.endsWith('.tmp') ? Promise.reject(failure('EIO')) : undefined

  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { code: 'EIO' })
  t.same(await readdir(store.path), ['sessions.json'])
  t.same(JSON.parse(await readFile(state, 'utf8')).buckets, [[T0, 1]])
})

test('a temporary file that cannot be created fails the call and leaves nothing behind', async (t) => {
  const { store } = await scriptedStore(t)
  hooks.open = (file: string) => file.endsWith('.tmp') ? Promise.reject(failure('EMFILE')) : undefined
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { code: 'EMFILE' })
  t.same(await readdir(store.path), ['sessions.json'])
})

test('a lock that cannot be written is removed and fails the call', async (t) => {
  const { store } = await scriptedStore(t)
  hooks.open = (file: string, flags: string, mode: number) => {
    if (!file.endsWith('sessions.lock')) return undefined
    return fs.open(file, flags, mode).then((handle) => Object.assign(handle, { writeFile: () => Promise.reject(failure('ENOSPC')) }))
  }
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { code: 'ENOSPC' })
  t.same(await readdir(store.path), ['sessions.json'])
})

test('a lock released while it was being looked at: the store tries again at once', async (t) => {
  const { store, lock } = await scriptedStore(t, { lockTimeout: 0.05 })
  await writeFile(lock, lockText(process.pid))
  hooks.readFile = (file: string) => {
    if (file !== lock) return undefined
    delete hooks.readFile
    return fs.rm(lock).then(() => fs.readFile(file, 'utf8'))
  }
  await store.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await store.pending(T0), { sessions: 2, expired: 0 })
})

test('a stale lock replaced by a live one before it is broken is left alone', async (t) => {
  const { store, lock } = await scriptedStore(t, { lockTimeout: 0.1 })
  await writeFile(lock, lockText(process.pid, Date.now() - 60_000))
  let reads = 0
  hooks.readFile = (file: string) => {
    if (file !== lock || ++reads !== 2) return undefined
    // Between the breaker's two looks, the holder released and a live process took the lock.
    return fs.writeFile(lock, lockText(process.pid)).then(() => fs.readFile(file, 'utf8'))
  }
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { message: /stayed taken/ })
  t.equal(await readFile(lock, 'utf8'), lockText(process.pid, JSON.parse(await readFile(lock, 'utf8')).at))
})

test('a holder whose lock was broken as stale does not remove the next holder\'s lock', async (t) => {
  const { store, lock } = await scriptedStore(t)
  const next = lockText(process.pid)
  hooks.readFile = (file: string) => {
    if (file !== lock) return undefined
    return fs.writeFile(lock, next).then(() => fs.readFile(file, 'utf8'))
  }
  await store.add([{ minute: T0, sessions: 1 }], T0)
  t.equal(await readFile(lock, 'utf8'), next)
})
