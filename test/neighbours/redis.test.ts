// @fastify/redis: its client reused by RedisSessionStore, against a redis-server of the test's
// own. Whatever the registration order, the last counts reach Redis (or the collector) before
// @fastify/redis quits the client.
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { test, type Test } from 'tap'
import easyBugsnag, { RedisSessionStore } from '../../index.js'
import { Collector } from '../../lib/collector.js'
import { createClient, recordingLogger, until } from '../helpers.js'
import { startRedis, type RedisServer } from '../redis-server.js'

const NAMESPACE = 'neighbours'
const KEYS = { buckets: `{${NAMESPACE}}:buckets`, claim: `{${NAMESPACE}}:delivery` }

interface Run {
  app: FastifyInstance
  collector: Collector
  /** A client of the test's own, to read what reached Redis. */
  reader: Redis
  /** What the app logged at warn level and above. */
  warnings: () => string[]
}

type Order = 'redis first' | 'redis after the plugin'

/**
 * `redis first` is the order the README shows (the store gets `app.redis`). `@fastify/redis`
 * cannot be registered after the plugin and still decorate the client the store needs, unless
 * the app opens the client itself and hands it to both, with `closeClient: true`: then
 * @fastify/redis's onClose hook is added after the plugin's.
 */
async function start (t: Test, redis: RedisServer, order: Order): Promise<Run> {
  const collector = await Collector.start()
  const reader = new Redis(redis.port, '127.0.0.1')
  const logger = recordingLogger()
  const app = Fastify({ logger: { level: 'warn', stream: logger.stream } })
  t.teardown(async () => {
    await app.close()
    await collector.close()
    reader.disconnect()
  })

  const sessionTracking = { enabled: true, cacheNamespace: NAMESPACE, deliveryInterval: 3600 }
  const client = createClient(collector)
  if (order === 'redis first') {
    await app.register(fastifyRedis, { url: redis.url })
    const cache = new RedisSessionStore({ client: app.redis })
    await app.register(easyBugsnag, { client, sessionTracking: { ...sessionTracking, cache } })
  } else {
    const shared = new Redis(redis.port, '127.0.0.1')
    const cache = new RedisSessionStore({ client: shared })
    await app.register(easyBugsnag, { client, sessionTracking: { ...sessionTracking, cache } })
    await app.register(fastifyRedis, { client: shared, closeClient: true })
  }
  app.get('/orders', async () => [])
  await app.ready()
  const warnings = () => logger.lines.map((line) => String(line.msg))
  return { app, collector, reader, warnings }
}

async function storedSessions (reader: Redis): Promise<number> {
  const buckets = await reader.hgetall(KEYS.buckets)
  return Object.values(buckets).reduce((sum, sessions) => sum + Number(sessions), 0)
}

test('@fastify/redis first: close delivers the last counts when this interval is unclaimed', async (t) => {
  const redis = await startRedis(t)
  const { app, collector, reader, warnings } = await start(t, redis, 'redis first')

  for (let i = 0; i < 3; i++) await app.inject('/orders')
  await app.close()

  await until(() => app.redis.status === 'end')
  t.equal(collector.sessionsStarted, 3)
  t.equal(await storedSessions(reader), 0)
  t.same(warnings(), [])
})

test('@fastify/redis first: close pushes the last counts to Redis when another replica claimed the interval', async (t) => {
  const redis = await startRedis(t)
  const { app, collector, reader, warnings } = await start(t, redis, 'redis first')
  await reader.set(KEYS.claim, String(Date.now()), 'PX', 3_600_000)

  for (let i = 0; i < 4; i++) await app.inject('/orders')
  await app.close()

  await until(() => app.redis.status === 'end')
  t.equal(collector.sessionsStarted, 0, 'the replica that claimed the interval delivers it')
  t.equal(await storedSessions(reader), 4, 'the counts wait in Redis for it')
  t.same(warnings(), [])
})

// Fastify runs onClose hooks in reverse order of registration: here @fastify/redis quits the
// client before the plugin closes. The store then refuses the counts, and close() delivers them
// itself rather than lose them, whatever the claim: nothing lost, nothing doubled, one warning
// (pushing them in a preClose hook would get them into Redis instead).
test('@fastify/redis after the plugin: the client quits first, and close delivers the counts itself', async (t) => {
  for (const claimed of [false, true]) {
    await t.test(claimed ? 'interval claimed by another replica' : 'interval unclaimed', async (t) => {
      const redis = await startRedis(t)
      const { app, collector, reader, warnings } = await start(t, redis, 'redis after the plugin')
      if (claimed) await reader.set(KEYS.claim, String(Date.now()), 'PX', 3_600_000)

      for (let i = 0; i < 4; i++) await app.inject('/orders')
      await app.close()

      t.equal(app.redis.status, 'end', '@fastify/redis quit the client before the plugin closed')
      t.equal(collector.sessionsStarted, 4, 'delivered at close')
      t.equal(await storedSessions(reader), 0, 'nothing reached Redis')
      t.same(warnings(), ['fastify-easy-bugsnag: session store failing; counts kept in memory'], 'one warning')
    })
  }
})

test('@fastify/redis: counts already in Redis from other replicas are delivered with this one\'s', async (t) => {
  const redis = await startRedis(t)
  const { app, collector, reader } = await start(t, redis, 'redis first')
  const minute = Math.floor(Date.now() / 60_000) * 60_000
  await reader.hset(KEYS.buckets, String(minute), '5')

  await app.inject('/orders')
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionsStarted, 6)
  t.equal(await storedSessions(reader), 0)
  t.equal((await app.bugsnagSessions.stats()).started, 1, 'this process started one')
})
