import { test } from 'tap'
import type { CollectorAnswer } from '../lib/collector.js'
import { API_KEY, recordingLogger, setup } from './helpers.js'

// Each way an answer can go wrong, and its one outcome: the first attempt meets the fault,
// the second a healthy endpoint.
const faults: Array<[string, CollectorAnswer, 'kept' | 'dropped']> = [
  ['500', { status: 500 }, 'kept'],
  ['503', { status: 503 }, 'kept'],
  ['503 with Retry-After', { status: 503, headers: { 'retry-after': '1' } }, 'kept'],
  ['429 with Retry-After', { status: 429, headers: { 'retry-after': '1' } }, 'kept'],
  ['408', { status: 408 }, 'kept'],
  ['400', { status: 400 }, 'dropped'],
  ['401', { status: 401 }, 'dropped'],
  ['403', { status: 403 }, 'dropped'],
  ['413 for a single minute', { status: 413 }, 'dropped'],
  ['a reset connection', { reset: true }, 'kept'],
  ['an answer cut off', { truncate: true }, 'kept'],
  ['no answer at all', { hang: true }, 'kept']
]

for (const [name, fault, outcome] of faults) {
  test(`${name}: the sessions are ${outcome}`, async (t) => {
    let attempts = 0
    const logger = recordingLogger()
    const { app, collector } = await setup(t, {
      answer: () => attempts++ === 0 ? fault : { status: 202 },
      fastify: { logger: { level: 'info', stream: logger.stream } },
      plugin: { sessionTracking: { deliveryTimeout: 0.2 } }
    })

    for (let i = 0; i < 3; i++) await app.inject('/ok')
    await app.bugsnagSessions.flush()
    await app.bugsnagSessions.flush()

    const stats = await app.bugsnagSessions.stats()
    t.equal(stats.deliveryFailures, 1)
    t.equal(stats.delivered, outcome === 'kept' ? 3 : 0)
    t.equal(stats.dropped, outcome === 'kept' ? 0 : 3)
    t.equal(stats.pending, 0)
    t.equal(collector.sessionsStarted, stats.delivered, 'exactly what Bugsnag acknowledged')
    t.equal(collector.received.length, outcome === 'kept' ? 2 : 1)

    const lines = logger.lines.filter((line) => /deliver|refused/.test(line.msg as string))
    t.same(lines.map((line) => [line.level, line.msg]), outcome === 'kept'
      ? [[40, 'fastify-easy-bugsnag: session delivery failing; will retry'], [30, 'fastify-easy-bugsnag: session delivery recovered']]
      : [[40, 'fastify-easy-bugsnag: sessions refused by the endpoint and dropped']])
    t.notMatch(JSON.stringify(logger.lines) + JSON.stringify(stats), API_KEY, 'the API key is nowhere')
  })
}

test('a refusal that repeats is logged once, until it changes', async (t) => {
  const statuses = [401, 401, 403, 202, 401]
  const logger = recordingLogger()
  const { app } = await setup(t, {
    answer: () => ({ status: statuses.shift() ?? 202 }),
    fastify: { logger: { level: 'warn', stream: logger.stream } }
  })

  for (let i = 0; i < 5; i++) {
    await app.inject('/ok')
    await app.bugsnagSessions.flush()
  }

  t.same(logger.lines.map((line) => line.status), [401, 403, 401])
  const stats = await app.bugsnagSessions.stats()
  t.same({ delivered: stats.delivered, dropped: stats.dropped }, { delivered: 1, dropped: 4 })
})
