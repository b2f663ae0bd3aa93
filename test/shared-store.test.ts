import FakeTimers from '@sinonjs/fake-timers'
import { test } from 'tap'
import { MemorySessionStore, type SessionStore } from '../index.js'
import { recordingLogger, setup, until } from './helpers.js'

const MINUTE_START = Date.UTC(2026, 11, 4, 15, 14, 0)

/** A store other processes would see: memory underneath, with the shared store's claim. */
function sharedStore (overrides: Partial<SessionStore> = {}): SessionStore & { claims: number[] } {
  const memory = new MemorySessionStore()
  let lastClaim: number | null = null
  const claims: number[] = []
  return {
    shared: true,
    claims,
    configure: (settings) => memory.configure(settings),
    add: (buckets, now) => memory.add(buckets, now),
    take: (now) => memory.take(now),
    giveBack: (buckets, now) => memory.giveBack(buckets, now),
    pending: (now) => memory.pending(now),
    claimDelivery: (now, interval) => {
      claims.push(now)
      if (lastClaim !== null && now - lastClaim < interval) return false
      lastClaim = now
      return true
    },
    ...overrides
  }
}

test('counts reach a shared store within a second, off the request path', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const store = sharedStore()
  const { app } = await setup(t, { plugin: { sessionTracking: { cache: store, deliveryInterval: 60 } } })

  for (let i = 0; i < 3; i++) await app.inject('/ok')
  t.same(await store.pending(Date.now()), { sessions: 0, expired: 0 }, 'not yet')
  await clock.tickAsync(1_000)

  t.same(await store.pending(Date.now()), { sessions: 3, expired: 0 })
  t.equal((await app.bugsnagSessions.stats()).pending, 3)
})

test('a process delivers only when no process sharing the store delivered in this interval', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const store = sharedStore()
  // Another process delivered 30 s in.
  await store.claimDelivery?.(MINUTE_START + 30_000, 60_000)
  const { app, collector } = await setup(t, { plugin: { sessionTracking: { cache: store, deliveryInterval: 60 } } })

  await app.inject('/ok')
  await clock.tickAsync(60_000)
  await until(() => store.claims.length === 2)
  t.equal(collector.received.length, 0, 'the claim was refused: 30 s since the other process delivered')

  await clock.tickAsync(60_000)
  await until(async () => (await app.bugsnagSessions.stats()).delivered === 1)
  t.equal(collector.sessionsStarted, 1)
})

test('flush() delivers whatever the interval; close() leaves the counts to the next process', async (t) => {
  const store = sharedStore()
  const logger = recordingLogger()
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { cache: store } },
    fastify: { logger: { level: 'warn', stream: logger.stream } }
  })

  await app.inject('/ok')
  await app.bugsnagSessions.flush()
  t.equal(collector.sessionsStarted, 1)

  await store.claimDelivery?.(Date.now(), 30_000)
  await app.inject('/ok')
  await app.inject('/ok')
  await app.close()

  t.equal(collector.sessionsStarted, 1, 'close() did not deliver: the interval was claimed')
  t.same(await store.pending(Date.now()), { sessions: 2, expired: 0 }, 'the store keeps them for the next process')
  t.equal(logger.lines.length, 0, 'nothing was lost, so nothing to warn about')
})

test('a shared store that fails to claim, take or give back keeps every count', async (t) => {
  let failing: 'claim' | 'take' | 'giveBack' | null = 'claim'
  const base = sharedStore()
  const store = sharedStore({
    claimDelivery: (now, interval) => {
      if (failing === 'claim') throw new Error('claim failed')
      return base.claimDelivery?.(now, interval) as boolean
    },
    take: (now) => {
      if (failing === 'take') return Promise.reject(new Error('take failed'))
      return base.take(now)
    },
    add: (buckets, now) => base.add(buckets, now),
    pending: (now) => base.pending(now),
    giveBack: (buckets, now) => {
      if (failing === 'giveBack') throw new Error('give back failed')
      return base.giveBack(buckets, now)
    }
  })
  let refuse = true
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app, collector } = await setup(t, {
    answer: () => refuse ? { status: 503 } : { status: 202 },
    plugin: { sessionTracking: { cache: store, deliveryInterval: 10 } }
  })
  const stats = () => app.bugsnagSessions.stats()

  await app.inject('/ok')
  await clock.tickAsync(10_000)
  t.equal(collector.received.length, 0, 'no claim, no delivery')

  failing = 'take'
  await app.bugsnagSessions.flush()
  t.equal(collector.received.length, 0, 'nothing taken, nothing sent')
  t.equal((await stats()).pending, 1)

  failing = 'giveBack'
  await app.bugsnagSessions.flush()
  t.equal(collector.received.length, 1, 'sent and refused')
  t.equal((await stats()).pending, 1, 'kept in memory when the store would not take it back')

  failing = null
  refuse = false
  await app.bugsnagSessions.flush()
  const final = await stats()
  t.same({ delivered: final.delivered, pending: final.pending, dropped: final.dropped }, { delivered: 1, pending: 0, dropped: 0 })
})

test('a store whose close() throws is logged, and close() resolves', async (t) => {
  const logger = recordingLogger()
  const { app } = await setup(t, {
    plugin: { sessionTracking: { cache: sharedStore({ close: () => { throw new Error('close failed') } }) } },
    fastify: { logger: { level: 'error', stream: logger.stream } }
  })

  await app.close()

  t.same(logger.lines.map((line) => line.msg), ['fastify-easy-bugsnag: the session store failed to close'])
})

test('at close, counts a shared store refuses are delivered directly', async (t) => {
  const store = sharedStore({ add: () => { throw new Error('store down') } })
  const logger = recordingLogger()
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { cache: store } },
    fastify: { logger: { level: 'warn', stream: logger.stream } }
  })

  for (let i = 0; i < 4; i++) await app.inject('/ok')
  await app.close()

  t.equal(collector.sessionsStarted, 4)
  t.equal(logger.lines.filter((line) => line.level === 40).length, 0, 'nothing lost, nothing to warn about')
})

const never = () => new Promise<never>(() => {})

test('a store that never answers: requests pass, stats() and close() stay bounded, nothing goes uncounted', async (t) => {
  const memory = new MemorySessionStore()
  const store: SessionStore = {
    add: never,
    take: (now) => memory.take(now),
    giveBack: (buckets, now) => memory.giveBack(buckets, now),
    pending: never,
    close: never
  }
  const logger = recordingLogger()
  const { app } = await setup(t, {
    plugin: { sessionTracking: { cache: store, closeTimeout: 0.2 } },
    fastify: { logger: { level: 'warn', stream: logger.stream } }
  })

  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push((await app.inject('/ok')).statusCode)
  app.bugsnagSessions.flush().catch(() => {})
  const stats = await app.bugsnagSessions.stats()
  const started = performance.now()
  await app.close()
  const took = performance.now() - started

  t.same(statuses, [200, 200, 200, 200, 200])
  t.same({ started: stats.started, pending: stats.pending }, { started: 5, pending: 5 }, 'counts on their way to the store are pending')
  t.ok(took < 3000, `close() took ${Math.round(took)} ms`)
  t.same(logger.lines.map((line) => line.msg), [
    'fastify-easy-bugsnag: sessions not delivered at close',
    'fastify-easy-bugsnag: the session store did not close in time'
  ])
})

test('take() answers that are not objects, or hold no list, are read as empty', async (t) => {
  const answers: unknown[] = [null, 'buckets', 42, { buckets: 'none', expired: 0 }]
  const memory = new MemorySessionStore()
  const store: SessionStore = {
    add: (buckets, now) => memory.add(buckets, now),
    take: () => answers.shift() as never,
    giveBack: (buckets, now) => memory.giveBack(buckets, now),
    pending: (now) => memory.pending(now)
  }
  const { app, collector } = await setup(t, { plugin: { sessionTracking: { cache: store } } })

  await app.inject('/ok')
  for (let i = 0; i < 4; i++) await app.bugsnagSessions.flush()

  t.equal(collector.received.length, 0)
  t.equal(answers.length, 0)
})
