import { Redis } from 'ioredis'
import t0, { test } from 'tap'
import { RedisSessionStore } from '../../index.js'
import { describeSessionStore } from '../../lib/store-conformance.js'
import { recordingLogger, setup, until } from '../helpers.js'
import { startRedis } from '../redis-server.js'

const T0 = Date.UTC(2026, 11, 4, 15, 0, 0)
const M = 60_000

const server = await startRedis(t0)
const client = new Redis({ host: '127.0.0.1', port: server.port })
// Tests stop the server on purpose; the store's calls say what failed.
client.on('error', () => {})
t0.teardown(() => client.quit())

describeSessionStore('RedisSessionStore on an app\'s client', () => new RedisSessionStore({ client }), { test })
describeSessionStore('RedisSessionStore with its own connection', () => new RedisSessionStore({
  connection: { host: '127.0.0.1', port: server.port }
}), { test })

/** A connection that tries again every 20 ms, so that a test sees the server come back quickly. */
const quickly = () => ({ host: '127.0.0.1', port: server.port, retryStrategy: () => 20 })

test('takes either a client or connection options, not both, not neither', async (t) => {
  t.throws(() => new RedisSessionStore({}), { name: 'TypeError', message: /either \{ client \} \(an ioredis client\) or \{ connection \}/ })
  t.throws(() => new RedisSessionStore({ client, connection: {} }), { name: 'TypeError' })
  t.throws(() => new RedisSessionStore(undefined as never), { name: 'TypeError' })
})

test('keys live under the namespace, in one hash tag, and expire when nobody writes for longer than the TTL', async (t) => {
  const store = new RedisSessionStore({ client })
  store.configure({ cacheExpiresAfter: 120, namespace: 'shop' })
  t.same(store.keys, { buckets: '{shop}:buckets', expired: '{shop}:expired', claim: '{shop}:delivery' })

  await store.add([{ minute: T0, sessions: 2 }], T0)
  await store.claimDelivery(T0, 30_000)
  t.same(await client.hgetall('{shop}:buckets'), { [T0]: '2' })
  const keep = await client.pttl('{shop}:buckets')
  t.ok(keep > 120_000 && keep <= 120_000 + 10 * M, `kept ${keep} ms after the last write`)
  const claim = await client.pttl('{shop}:delivery')
  t.ok(claim > 0 && claim <= 30_000, `the claim expires by itself (${claim} ms)`)
  await store.close()
})

test('its own namespace and TTL win over the plugin\'s', async (t) => {
  const store = new RedisSessionStore({ client, namespace: 'own', cacheExpiresAfter: 120 })
  store.configure({ cacheExpiresAfter: 3600, namespace: 'plugin' })
  t.equal(store.keys.buckets, '{own}:buckets')
  await store.add([{ minute: T0, sessions: 2 }], T0)
  t.same(await store.pending(T0 + 121_000), { sessions: 0, expired: 2 })
})

test('malformed fields are dropped as empty; a key of the wrong type fails the call', async (t) => {
  const store = new RedisSessionStore({ client, namespace: 'odd' })
  await client.hset('{odd}:buckets', { [T0]: '3', soon: '1', [T0 + M]: 'many', [T0 + 2 * M]: '-1', 1000: '2' })
  await client.set('{odd}:expired', 'lots')
  t.same(await store.take(T0 + 2 * M), { buckets: [{ minute: T0, sessions: 3 }], expired: 0 })
  t.equal(await client.exists('{odd}:buckets'), 0)

  await client.set('{odd}:buckets', 'a string')
  await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { message: /WRONGTYPE/ })
  await client.del('{odd}:buckets')
})

test('the client an app passes in stays open; a connection the store opened is closed with it', async (t) => {
  const borrowed = new RedisSessionStore({ client })
  await borrowed.add([], T0)
  await borrowed.close()
  t.equal(client.status, 'ready')

  const owned = new RedisSessionStore({ connection: server.url, namespace: 'url' })
  await owned.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await client.hgetall('{url}:buckets'), { [T0]: '1' })
  await owned.close()
  await owned.close()
  await t.rejects(owned.add([], T0), { message: 'fastify-easy-bugsnag: the Redis session store is closed' })
})

test('Redis down: every call fails at once, and works again when Redis is back', async (t) => {
  const owned = new RedisSessionStore({ connection: quickly(), namespace: 'down' })
  const app = new Redis(quickly()).on('error', () => {})
  const borrowed = new RedisSessionStore({ client: app, namespace: 'down' })
  t.teardown(async () => {
    await owned.close()
    app.disconnect()
  })
  await owned.add([{ minute: T0, sessions: 1 }], T0)
  await borrowed.add([{ minute: T0, sessions: 1 }], T0)

  await server.stop()
  await until(() => app.status !== 'ready' && owned.keys !== null)
  // Right after the socket closes ioredis may still say 'ready' for a moment; it then refuses
  // the command itself, as at once, with its own message.
  const down = /Redis is not connected|Stream isn't writeable and enableOfflineQueue options is false/
  for (const store of [owned, borrowed]) {
    const started = performance.now()
    await t.rejects(store.add([{ minute: T0, sessions: 1 }], T0), { message: down })
    await t.rejects(store.take(T0), { message: down })
    await t.rejects(store.claimDelivery(T0, 1000), { message: down })
    t.ok(performance.now() - started < 100, 'at once')
  }

  await server.start()
  await until(async () => {
    try {
      await owned.add([{ minute: T0, sessions: 1 }], T0)
      return true
    } catch {
      return false
    }
  })
  await until(() => app.status === 'ready')
  await borrowed.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await owned.take(T0), { buckets: [{ minute: T0, sessions: 2 }], expired: 0 }, 'the server came back empty; nothing was queued twice')
  await until(() => client.status === 'ready', 10_000)
})

test('Redis that hangs: a call fails after commandTimeout', async (t) => {
  const store = new RedisSessionStore({ client, namespace: 'hang', commandTimeout: 0.2 })
  await store.add([], T0)
  server.process.kill('SIGSTOP')
  t.teardown(() => { server.process.kill('SIGCONT') })

  const started = performance.now()
  await t.rejects(store.pending(T0), { message: /Redis did not answer within 200 ms/ })
  const waited = performance.now() - started
  t.ok(waited >= 190 && waited < 1000, `failed after ${Math.round(waited)} ms`)
  server.process.kill('SIGCONT')
  t.same(await store.pending(T0), { sessions: 0, expired: 0 })
})

test('the first connection is waited for, within commandTimeout; a client that never connects fails in time', async (t) => {
  const store = new RedisSessionStore({ connection: { host: '127.0.0.1', port: server.port }, namespace: 'first' })
  await store.add([{ minute: T0, sessions: 1 }], T0)
  t.same(await store.pending(T0), { sessions: 1, expired: 0 })
  await store.close()

  const app = new Redis({ host: '127.0.0.1', port: server.port }).on('error', () => {})
  server.process.kill('SIGSTOP')
  t.teardown(() => {
    server.process.kill('SIGCONT')
    app.disconnect()
  })
  const stalled = new RedisSessionStore({ client: app, namespace: 'first', commandTimeout: 0.1 })
  await t.rejects(stalled.add([], T0), { message: /did not answer within 100 ms/ })
  const lazy = new RedisSessionStore({ client: new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true }), commandTimeout: 0.1 })
  await t.rejects(lazy.add([], T0), { message: /not connected \(client status "wait"\)/ })
})

test('a store that cannot reach Redis at close still closes its connection', async (t) => {
  const store = new RedisSessionStore({ connection: quickly(), namespace: 'close' })
  await store.add([], T0)
  server.process.kill('SIGSTOP')
  t.teardown(() => { server.process.kill('SIGCONT') })
  const started = performance.now()
  await store.close()
  t.ok(performance.now() - started < 2000)
})

test('with the plugin: Redis down keeps counts in memory, logged once; delivered when Redis is back', async (t) => {
  const logger = recordingLogger()
  const store = new RedisSessionStore({ connection: quickly() })
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { cache: store, cacheNamespace: 'plugin', deliveryInterval: 60 } },
    fastify: { logger: { level: 'info', stream: logger.stream } }
  })
  for (let i = 0; i < 3; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()
  t.equal(collector.sessionsStarted, 3)

  await server.stop()
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject('/ok')).statusCode)
  await app.bugsnagSessions.flush()
  await app.bugsnagSessions.flush()
  t.same(statuses, [200, 200, 200, 200])
  t.equal((await app.bugsnagSessions.stats()).pending, 4, 'kept in memory')

  await server.start()
  await until(async () => {
    await app.bugsnagSessions.flush()
    return collector.sessionsStarted === 7
  })
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 7)
  t.equal(stats.pending, 0)
  t.same(logger.lines.filter((line) => /session store/.test(line.msg as string)).map((line) => line.msg), [
    'fastify-easy-bugsnag: session store failing; counts kept in memory',
    'fastify-easy-bugsnag: session store recovered'
  ])
})
