// Case C4: a store that answers oddly (bugsnag-laravel PRs #376/#378).
import { test } from 'tap'
import type { SessionBucket, SessionStore } from '../../index.js'
import { recordingLogger, setup } from '../helpers.js'

function oddStore (answer: () => unknown): SessionStore & { added: number } {
  return {
    added: 0,
    add (buckets: SessionBucket[]) { this.added += buckets.reduce((sum, bucket) => sum + bucket.sessions, 0) },
    take: () => answer() as never,
    giveBack: () => answer() as never,
    pending: () => answer() as never
  }
}

const answers: Array<[string, () => unknown]> = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['malformed data', () => ({ buckets: [{ minute: 'soon', sessions: -1 }, 'x'], sessions: '12', expired: 'many' })],
  ['a string', () => '{"buckets":[]}']
]

for (const [name, answer] of answers) {
  test(`a store that answers ${name}: requests unaffected, bad data read as empty`, async (t) => {
    const store = oddStore(answer)
    const { app, collector } = await setup(t, { plugin: { sessionTracking: { cache: store } } })

    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await app.inject('/ok')).statusCode)
    await app.bugsnagSessions.flush()

    t.same(statuses, [200, 200, 200])
    t.equal(store.added, 3)
    t.equal(collector.received.length, 0)
    const stats = await app.bugsnagSessions.stats()
    t.equal(stats.started, 3)
    t.equal(stats.pending, 0)
    t.equal(stats.dropped, 0)
  })
}

test('a store that rejects: counts stay in memory, logged once, delivered when it recovers', async (t) => {
  let broken = true
  const kept: SessionBucket[] = []
  const store: SessionStore = {
    add: async (buckets) => {
      if (broken) throw new Error('store down')
      kept.push(...buckets)
    },
    take: async () => {
      if (broken) throw new Error('store down')
      return { buckets: kept.splice(0), expired: 0 }
    },
    giveBack: async () => 0,
    pending: async () => {
      if (broken) throw new Error('store down')
      return { sessions: kept.reduce((sum, bucket) => sum + bucket.sessions, 0), expired: 0 }
    }
  }
  const logger = recordingLogger()
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { cache: store } },
    fastify: { logger: { level: 'info', stream: logger.stream } }
  })

  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await app.inject('/ok')).statusCode)
  await app.bugsnagSessions.flush()
  await app.bugsnagSessions.flush()
  t.same(statuses, [200, 200, 200])
  t.equal((await app.bugsnagSessions.stats()).pending, 3, 'kept in memory')

  broken = false
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionsStarted, 3)
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 3)
  t.equal(stats.pending, 0)
  t.same(logger.lines.filter((line) => /session store/.test(line.msg as string)).map((line) => line.msg), [
    'fastify-easy-bugsnag: session store failing; counts kept in memory',
    'fastify-easy-bugsnag: session store recovered'
  ])
})
