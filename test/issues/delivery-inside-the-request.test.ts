// Case C6: delivery inside the request (bugsnag-php #666, bugsnag-laravel #438).
import { test } from 'tap'
import { setup, until } from '../helpers.js'

test('requests never wait for a slow endpoint, and one delivery is in flight at most', async (t) => {
  const { app, collector } = await setup(t, {
    answer: () => ({ delay: 2000 }),
    plugin: { sessionTracking: { deliveryInterval: 0.05, cacheExpiresAfter: 60 } }
  })

  await app.inject('/ok')
  await until(() => collector.received.length === 1)
  // The first delivery now hangs for 2 s; requests go on meanwhile, and the timer does not
  // start a second delivery.
  const started = performance.now()
  const responses = await Promise.all(Array.from({ length: 20 }, () => app.inject('/ok')))
  const took = performance.now() - started
  await new Promise((resolve) => setTimeout(resolve, 300))

  t.same(new Set(responses.map((response) => response.statusCode)), new Set([200]))
  t.ok(took < 1000, `20 requests took ${Math.round(took)} ms while a delivery was waiting`)
  t.equal(collector.received.length, 1, 'no second delivery while one is in flight')

  await until(() => collector.sessionPayloads.length === 2, 10_000)
  t.same(collector.sessionPayloads.map((request) =>
    (request.body as { sessionCounts: Array<{ sessionsStarted: number }> }).sessionCounts
      .reduce((sum, count) => sum + count.sessionsStarted, 0)), [1, 20])
})
