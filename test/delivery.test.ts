import FakeTimers from '@sinonjs/fake-timers'
import Fastify from 'fastify'
import { test } from 'tap'
import easyBugsnag from '../index.js'
import { Collector } from '../lib/collector.js'
import { parseRetryAfter } from '../lib/delivery.js'
import { API_KEY, createClient, eventsOf, recordingLogger, sessionCountsOf, setup, until } from './helpers.js'

const MINUTE_START = Date.UTC(2026, 11, 4, 15, 14, 0)

test('sessions are counted in the bucket of the UTC minute they started in', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START + 59_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app, collector } = await setup(t, { plugin: { sessionTracking: { deliveryInterval: 600 } } })

  await app.inject('/ok')
  await app.inject('/ok')
  clock.tick(2_000)
  await app.inject('/ok')
  clock.tick(60_000)
  await app.inject('/ok')
  await app.bugsnagSessions.flush()

  t.same(sessionCountsOf(collector), [
    { startedAt: '2026-12-04T15:14:00.000Z', sessionsStarted: 2 },
    { startedAt: '2026-12-04T15:15:00.000Z', sessionsStarted: 1 },
    { startedAt: '2026-12-04T15:16:00.000Z', sessionsStarted: 1 }
  ])
})

test('a request counts in the minute the minute timer moved to, which is its session\'s startedAt', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START + 59_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { deliveryInterval: 600 } },
    routes: (app) => {
      app.get('/notify', async (request) => {
        await request.bugsnag.notify(new Error('counted'))
        return 'ok'
      })
    }
  })

  // The wall clock steps back a second: the timer fires at 15:15:00 as planned, reads
  // 15:14:59, keeps the minute and waits out the second that is left.
  clock.setSystemTime(MINUTE_START + 58_000)
  await app.inject('/ok')
  clock.tick(1_000)
  await app.inject('/ok')
  clock.tick(1_000)
  await app.inject('/notify')
  await until(() => eventsOf(collector).length === 1)
  await app.bugsnagSessions.flush()

  t.same(sessionCountsOf(collector), [
    { startedAt: '2026-12-04T15:14:00.000Z', sessionsStarted: 2 },
    { startedAt: '2026-12-04T15:15:00.000Z', sessionsStarted: 1 }
  ])
  t.equal(eventsOf(collector)[0]?.session?.startedAt, '2026-12-04T15:15:00.000Z', 'as the original: the session starts at its minute')
})

test('a wall clock stepped forward is seen within a second: sessions go to the new minute, none expire', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START + 10_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app, collector } = await setup(t, { plugin: { sessionTracking: { deliveryInterval: 600 } } })

  await app.inject('/ok')
  // Two hours later by the wall clock, no time at all by the timers' clock: longer than the TTL.
  clock.setSystemTime(MINUTE_START + 2 * 3_600_000 + 5_000)
  clock.tick(1_000)
  await app.inject('/ok')
  await app.bugsnagSessions.flush()

  t.same(sessionCountsOf(collector), [{ startedAt: '2026-12-04T17:14:00.000Z', sessionsStarted: 1 }])
  const stats = await app.bugsnagSessions.stats()
  t.same([stats.started, stats.delivered, stats.dropped, stats.pending], [2, 1, 1, 0], 'the session before the step expired with its minute')
})

test('the timer delivers once per interval and never on a request', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app, collector } = await setup(t, { plugin: { sessionTracking: { deliveryInterval: 60 } } })

  await app.inject('/ok')
  t.equal(collector.received.length, 0, 'nothing sent on the request path')
  await clock.tickAsync(59_000)
  t.equal(collector.received.length, 0, 'nothing before the interval')
  await clock.tickAsync(2_000)
  await until(async () => (await app.bugsnagSessions.stats()).delivered === 1)
  t.equal(collector.sessionsStarted, 1)

  // An interval with nothing pending sends nothing.
  await clock.tickAsync(60_000)
  await app.bugsnagSessions.flush()
  t.equal(collector.sessionPayloads.length, 1)
})

test('close() delivers what is pending and leaves no timer behind', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const app = Fastify()
  await app.register(easyBugsnag, {
    client: createClient(collector),
    sessionTracking: { enabled: true, deliveryInterval: 60 }
  })
  app.get('/ok', async () => 'ok')

  await app.inject('/ok')
  await clock.tickAsync(61_000)
  await until(async () => (await app.bugsnagSessions.stats()).delivered === 1)
  for (let i = 0; i < 5; i++) await app.inject('/ok')
  await app.close()

  t.same(sessionCountsOf(collector).map((count) => count.sessionsStarted), [1, 5])
  t.equal(collector.sessionsStarted, 6)
  t.equal(clock.countTimers(), 0)
})

test('close() with the endpoint down resolves and logs one warning', async (t) => {
  const collector = await Collector.start()
  const client = createClient(collector)
  await collector.close()
  const logger = recordingLogger()
  const app = Fastify({ logger: { level: 'warn', stream: logger.stream } })
  await app.register(easyBugsnag, { client, sessionTracking: { enabled: true } })
  app.get('/ok', async () => 'ok')

  for (let i = 0; i < 3; i++) await app.inject('/ok')
  await app.close()

  const warnings = logger.lines.filter((line) => line.level === 40)
  t.equal(warnings.length, 1)
  t.equal(warnings[0]?.msg, 'fastify-easy-bugsnag: sessions not delivered at close')
  t.equal(warnings[0]?.pending, 3)
  t.equal(warnings[0]?.reason, 'ECONNREFUSED')
})

test('close() with a hung endpoint ends within closeTimeout', async (t) => {
  const { app, collector } = await setup(t, {
    answer: () => ({ hang: true }),
    plugin: { sessionTracking: { closeTimeout: 0.2 } }
  })

  await app.inject('/ok')
  const started = Date.now()
  await app.close()
  const took = Date.now() - started

  t.ok(took >= 150 && took < 2000, `close took ${took} ms`)
  t.equal(collector.received.length, 1)
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.pending, 1)
  t.equal(stats.delivered, 0)
  t.equal(stats.lastFailure, 'abandoned at close')
})

test('a failed delivery gives its counts back and the retry delivers them once', async (t) => {
  let failures = 2
  const { app, collector } = await setup(t, {
    answer: () => failures-- > 0 ? { status: 503 } : { status: 202 }
  })

  for (let i = 0; i < 4; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()
  let stats = await app.bugsnagSessions.stats()
  t.equal(stats.pending, 4)
  t.equal(stats.deliveryFailures, 1)
  t.equal(stats.lastFailure, 'HTTP 503')

  await app.inject('/ok')
  await app.bugsnagSessions.flush()
  await app.bugsnagSessions.flush()
  stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 5)
  t.equal(stats.pending, 0)
  t.equal(stats.deliveryFailures, 2)
  t.equal(collector.sessionsStarted, 5)
  t.equal(collector.received.length, 3)
})

test('a permanent refusal drops the sessions with one warning naming the status', async (t) => {
  const logger = recordingLogger()
  const { app, collector } = await setup(t, {
    answer: () => ({ status: 401 }),
    fastify: { logger: { level: 'warn', stream: logger.stream } }
  })

  for (let i = 0; i < 3; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.dropped, 3)
  t.equal(stats.pending, 0)
  t.equal(stats.started, stats.pending + stats.delivered + stats.dropped)
  t.equal(collector.received.length, 1)
  const warnings = logger.lines.filter((line) => line.level === 40)
  t.equal(warnings.length, 1)
  t.equal(warnings[0]?.status, 401)
  t.notMatch(JSON.stringify(logger.lines), API_KEY)
})

test('a payload too large is split in halves', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app, collector } = await setup(t, {
    answer: (request) => {
      const counts = (request.body as { sessionCounts: unknown[] }).sessionCounts
      return counts.length > 1 ? { status: 413 } : { status: 202 }
    },
    plugin: { sessionTracking: { deliveryInterval: 600 } }
  })

  for (let minute = 0; minute < 3; minute++) {
    await app.inject('/ok')
    clock.tick(60_000)
  }
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionPayloads.length, 3)
  t.equal(collector.received.length, 5)
  t.equal((await app.bugsnagSessions.stats()).delivered, 3)
})

test('one delivery in flight at most; flush() waits for it and sends what came after', async (t) => {
  const { app, collector } = await setup(t, { answer: () => ({ delay: 300 }) })

  for (let i = 0; i < 20; i++) await app.inject('/ok')
  const first = app.bugsnagSessions.flush()
  await new Promise((resolve) => setImmediate(resolve))
  await app.inject('/ok')
  const second = app.bugsnagSessions.flush()
  await collector.waitFor(() => collector.received.length === 1)
  t.equal(collector.received.length, 1, 'the second flush waits for the first')
  await Promise.all([first, second])

  t.same(sessionCountsOf(collector).map((count) => count.sessionsStarted), [20, 1])
})

test('Retry-After and backoff space the retries', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const answers = [{ status: 429, headers: { 'retry-after': '120' } }, { status: 500 }, { status: 202 }]
  const { app, collector } = await setup(t, {
    answer: () => answers.shift() ?? { status: 202 },
    plugin: { sessionTracking: { deliveryInterval: 10 } }
  })

  await app.inject('/ok')
  const failures = (count: number) => until(async () => (await app.bugsnagSessions.stats()).deliveryFailures === count)
  await clock.tickAsync(10_000)
  await failures(1)
  // Retry-After 120 s outweighs the 1 s backoff.
  await clock.tickAsync(119_000)
  t.equal(collector.received.length, 1)
  await clock.tickAsync(1_000)
  await failures(2)
  // Then 2 s of backoff after the second failure.
  await clock.tickAsync(1_900)
  t.equal(collector.received.length, 2, JSON.stringify(collector.received.map((r) => r.receivedAt - MINUTE_START)))
  await clock.tickAsync(100)
  await until(async () => (await app.bugsnagSessions.stats()).delivered === 1)
  t.equal(collector.sessionsStarted, 1)
})

test('a delivery that gets no answer within deliveryTimeout is retried', async (t) => {
  let hang = true
  const { app, collector } = await setup(t, {
    answer: () => hang ? { hang: true } : { status: 202 },
    plugin: { sessionTracking: { deliveryTimeout: 0.1 } }
  })

  await app.inject('/ok')
  await app.bugsnagSessions.flush()
  t.equal((await app.bugsnagSessions.stats()).lastFailure, 'no answer within 100 ms')
  hang = false
  await app.bugsnagSessions.flush()

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 1)
  t.equal(stats.pending, 0)
  t.equal(collector.received.length, 2)
})

test('a connection reset mid-delivery keeps the counts for the retry', async (t) => {
  let reset = true
  const { app, collector } = await setup(t, { answer: () => reset ? { reset: true } : { status: 200 } })

  await app.inject('/ok')
  await app.bugsnagSessions.flush()
  t.equal((await app.bugsnagSessions.stats()).lastFailure, 'ECONNRESET')
  reset = false
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionsStarted, 1)
  t.equal((await app.bugsnagSessions.stats()).delivered, 1)
})

for (const endpoint of ['not a url', 'ftp://127.0.0.1:1/sessions']) {
  test(`a client whose sessions endpoint is ${endpoint} drops the sessions, and delivery goes on`, async (t) => {
    const { app, collector } = await setup(t, {
      bugsnag: { endpoints: { notify: endpoint, sessions: endpoint } },
      plugin: { sessionTracking: { deliveryInterval: 0.05, cacheExpiresAfter: 60 } }
    })

    await app.inject('/ok')
    await until(async () => (await app.bugsnagSessions.stats()).dropped === 1)
    await app.inject('/ok')
    await until(async () => (await app.bugsnagSessions.stats()).dropped === 2)

    const stats = await app.bugsnagSessions.stats()
    t.equal(stats.lastFailure, 'the sessions endpoint is not an http or https URL')
    t.equal(stats.pending, 0)
    t.equal(collector.received.length, 0)
  })
}

test('a Retry-After longer than the buckets live is not waited for', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const answers = [{ status: 429, headers: { 'retry-after': String(30 * 86400) } }]
  const { app, collector } = await setup(t, {
    answer: () => answers.shift() ?? { status: 202 },
    plugin: { sessionTracking: { deliveryInterval: 10, cacheExpiresAfter: 120 } }
  })

  await app.inject('/ok')
  await clock.tickAsync(10_000)
  await until(async () => (await app.bugsnagSessions.stats()).deliveryFailures === 1)
  await clock.tickAsync(119_000)
  t.equal(collector.received.length, 1, 'nothing sooner than asked, within the TTL')
  // The next attempt comes when the TTL has run out (not in 30 days, nor at once),
  // and finds the bucket expired.
  await clock.tickAsync(1_000)
  await until(async () => (await app.bugsnagSessions.stats()).dropped === 1)
  t.equal(collector.received.length, 1)
})

test('an https endpoint that does not speak TLS is a failure to retry', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const https = collector.url.replace('http:', 'https:')
  const { app } = await setup(t, { bugsnag: { endpoints: { notify: `${https}/notify`, sessions: `${https}/sessions` } } })

  await app.inject('/ok')
  await app.bugsnagSessions.flush()

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.pending, 1)
  t.equal(stats.deliveryFailures, 1)
  t.equal(stats.delivered, 0)
})

test('an answer cut off mid-body is a failure to retry', async (t) => {
  let truncate = true
  const { app, collector } = await setup(t, { answer: () => truncate ? { truncate: true } : {} })

  await app.inject('/ok')
  await app.bugsnagSessions.flush()
  let stats = await app.bugsnagSessions.stats()
  t.equal(stats.pending, 1)
  t.match(stats.lastFailure, /^connection lost while reading the 202 answer|^ECONNRESET$/)

  truncate = false
  await app.bugsnagSessions.flush()
  stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 1)
  t.equal(collector.sessionsStarted, 1)
})

test('Retry-After is read as seconds or as an HTTP date', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['Date'] })
  t.teardown(() => clock.uninstall())

  t.equal(parseRetryAfter(undefined), null)
  t.equal(parseRetryAfter(''), null)
  t.equal(parseRetryAfter(' 30 '), 30_000)
  t.equal(parseRetryAfter(new Date(MINUTE_START + 90_000).toUTCString()), 90_000)
  t.equal(parseRetryAfter(new Date(MINUTE_START - 90_000).toUTCString()), 0)
  t.equal(parseRetryAfter('soon'), null)
})

test('a client without a sessions endpoint counts nothing, and the stats say why', async (t) => {
  const { app } = await setup(t, { bugsnag: { endpoints: { notify: 'http://127.0.0.1:9/notify' } } })

  await app.inject('/ok')

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.enabled, false)
  t.equal(stats.disabledReason, 'the Bugsnag client has no sessions endpoint (set both endpoints.notify and endpoints.sessions)')
  t.equal(stats.started, 0)
})

test('close() during a timed delivery waits for it and arms no new timer', async (t) => {
  const { app, collector } = await setup(t, {
    answer: () => ({ delay: 200 }),
    plugin: { sessionTracking: { deliveryInterval: 0.05, cacheExpiresAfter: 60 } }
  })

  await app.inject('/ok')
  await until(() => collector.received.length === 1)
  await app.close()

  t.equal(collector.sessionsStarted, 1)
  t.equal((await app.bugsnagSessions.stats()).delivered, 1)
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(collector.received.length, 1, 'no delivery after close')
})
