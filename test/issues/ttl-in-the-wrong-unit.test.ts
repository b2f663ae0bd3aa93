// Case C5: TTL in the wrong unit (EasyBugsnag PR #641).
import FakeTimers from '@sinonjs/fake-timers'
import { test } from 'tap'
import type { SessionStore, StoreSettings } from '../../index.js'
import { MemorySessionStore } from '../../index.js'
import { setup, until } from '../helpers.js'

const T0 = Date.UTC(2026, 11, 4, 15, 0, 0)

test('cacheExpiresAfter is seconds: a bucket exists at 3,599 s and is dropped at 3,601 s', async (t) => {
  const clock = FakeTimers.install({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  // An endpoint that keeps failing, so that nothing is delivered.
  const { app } = await setup(t, {
    answer: () => ({ status: 503 }),
    plugin: { sessionTracking: { cacheExpiresAfter: 3600, deliveryInterval: 3600 } }
  })

  await app.inject('/ok')
  clock.tick(3_599_000)
  let stats = await app.bugsnagSessions.stats()
  t.equal(stats.pending, 1)
  t.equal(stats.dropped, 0)

  // The timer's delivery at 3,600 s may be the one that finds the bucket expired.
  clock.tick(2_000)
  await until(async () => (await app.bugsnagSessions.stats()).dropped === 1)
  stats = await app.bugsnagSessions.stats()
  t.equal(stats.pending, 0)
  t.equal(stats.dropped, 1)
  t.equal(stats.started, stats.pending + stats.delivered + stats.dropped)
})

test('a custom store receives the TTL in seconds, as its interface documents', async (t) => {
  const received: StoreSettings[] = []
  const memory = new MemorySessionStore()
  const store: SessionStore = {
    configure: (settings) => { received.push(settings); memory.configure(settings) },
    add: (buckets, now) => memory.add(buckets, now),
    take: (now) => memory.take(now),
    giveBack: (buckets, now) => memory.giveBack(buckets, now),
    pending: (now) => memory.pending(now)
  }
  await setup(t, { plugin: { sessionTracking: { cache: store, cacheExpiresAfter: 900, cacheNamespace: 'shop' } } })

  t.same(received, [{ cacheExpiresAfter: 900, namespace: 'shop' }])
})

test('a TTL shorter than the delivery interval fails registration', async (t) => {
  await t.rejects(setup(t, { plugin: { sessionTracking: { cacheExpiresAfter: 20, deliveryInterval: 30 } } }), {
    code: 'FST_EASY_BUGSNAG_INVALID_OPTION',
    message: /sessionTracking.cacheExpiresAfter" must be at least sessionTracking.deliveryInterval \(30 s\)/
  })
})
