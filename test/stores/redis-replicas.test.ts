// Evidence for the Redis store: replicas sharing one Redis report each session exactly once.
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t0, { test } from 'tap'
import easyBugsnag, { RedisSessionStore } from '../../index.js'
import { Collector } from '../../lib/collector.js'
import { kSessionStart } from '../../lib/request-client.js'
import { createClient } from '../helpers.js'
import { startRedis } from '../redis-server.js'
import { perMinute } from '../workers.js'

const server = await startRedis(t0)

/** One replica: its own Fastify app, plugin and store, on the shared Redis. */
async function replica (collector: Collector, store: RedisSessionStore, label: string, minutes: Record<string, number>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(easyBugsnag, {
    client: createClient(collector, { appVersion: label }),
    sessionTracking: { enabled: true, cache: store, deliveryInterval: 0.5 }
  })
  app.addHook('onResponse', async function countMinute (request) {
    const start = (request as unknown as Record<symbol, number>)[kSessionStart] as number
    const minute = String(start - (start % 60_000))
    minutes[minute] = (minutes[minute] ?? 0) + 1
  })
  app.get('/ok', async () => 'ok')
  await app.ready()
  return app
}

test('3 Fastify instances x 5,000 requests on one Redis: the collector receives exactly 15,000, each minute once', async (t) => {
  const collector = await Collector.start()
  const shared = new Redis({ host: '127.0.0.1', port: server.port })
  t.teardown(async () => {
    await collector.close()
    await shared.quit()
  })
  const minutes: Record<string, number> = {}
  // Two replicas on an app's client (as @fastify/redis gives it), one with a connection of its own.
  const apps = [
    await replica(collector, new RedisSessionStore({ client: shared }), 'replica-1', minutes),
    await replica(collector, new RedisSessionStore({ client: shared }), 'replica-2', minutes),
    await replica(collector, new RedisSessionStore({ connection: server.url }), 'replica-3', minutes)
  ]

  const started = performance.now()
  await Promise.all(apps.map(async (app) => {
    for (let i = 0; i < 5000; i++) {
      await app.inject('/ok')
      // Timers run between requests, as they do between a server's socket reads.
      if (i % 10 === 9) await new Promise(setImmediate)
    }
  }))
  for (const app of apps) await app.close()
  // What the closing replicas left for the next interval, delivered by the next replica to run.
  const next = await replica(collector, new RedisSessionStore({ client: shared }), 'next', {})
  await next.bugsnagSessions.flush()
  await next.close()

  t.equal(collector.sessionsStarted, 15_000)
  t.same(perMinute(collector), minutes, 'each minute\'s count delivered once')
  const senders = collector.sessionPayloads.map((request) => (request.body as { app: { version: string } }).app.version)
  t.ok(new Set(senders).size >= 2, 'deliveries came from several replicas')
  t.comment(`15,000 sessions in ${senders.length} deliveries (${[...new Set(senders)].sort().join(', ')}) in ${Math.round(performance.now() - started)} ms`)
})
