import FakeTimers from '@sinonjs/fake-timers'
import { test } from 'tap'
import { setup } from './helpers.js'

const MINUTE_START = Date.UTC(2026, 11, 4, 15, 14, 0)
const boom = Object.assign(new Error('boom'), { statusCode: 500 })

test('stability: the share of sessions without an unhandled error, overall and for the last complete minute', async (t) => {
  const clock = FakeTimers.install({ now: MINUTE_START, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => clock.uninstall())
  const { app } = await setup(t, {
    plugin: { sessionTracking: { deliveryInterval: 600 } },
    routes: (app) => {
      app.get('/fails', async (request) => {
        request.bugsnag.notify(new Error('handled first'))
        throw boom
      })
      app.get('/fails-twice', async (request) => {
        request.bugsnag.notify(Object.assign(new Error('unhandled by hand'), {}), (event) => { event.unhandled = true })
        throw boom
      })
    }
  })

  let stats = await app.bugsnagSessions.stats()
  t.same([stats.stability, stats.lastMinuteStability], [null, null])

  for (let i = 0; i < 2; i++) await app.inject('/ok')
  await app.inject('/fails')
  await app.inject('/fails-twice')
  stats = await app.bugsnagSessions.stats()
  t.same([stats.stability, stats.lastMinuteStability], [0.5, null], 'no complete minute yet')

  clock.tick(60_000)
  for (let i = 0; i < 4; i++) await app.inject('/ok')
  stats = await app.bugsnagSessions.stats()
  t.same([stats.stability, stats.lastMinuteStability], [0.75, 0.5])
  t.same([stats.handledErrors, stats.unhandledErrors], [1, 3])

  clock.tick(60_000)
  stats = await app.bugsnagSessions.stats()
  t.same([stats.stability, stats.lastMinuteStability], [0.75, 1])

  clock.tick(60_000)
  stats = await app.bugsnagSessions.stats()
  t.same([stats.stability, stats.lastMinuteStability], [0.75, null])
})

test('started === pending + delivered + dropped through deliveries, failures and refusals', async (t) => {
  const answers = [{ status: 500 }, { status: 202 }, { status: 400 }, { status: 202 }]
  const { app } = await setup(t, { answer: () => answers.shift() ?? { status: 202 } })
  const invariant = async () => {
    const stats = await app.bugsnagSessions.stats()
    return stats.started === stats.pending + stats.delivered + stats.dropped
  }

  for (let round = 0; round < 4; round++) {
    for (let i = 0; i <= round; i++) await app.inject('/ok')
    await app.bugsnagSessions.flush()
    t.ok(await invariant(), `round ${round}`)
  }

  const stats = await app.bugsnagSessions.stats()
  t.same(
    { started: stats.started, delivered: stats.delivered, dropped: stats.dropped, pending: stats.pending, deliveryFailures: stats.deliveryFailures },
    { started: 10, delivered: 7, dropped: 3, pending: 0, deliveryFailures: 2 }
  )
})

test('onSession callbacks see a session whose user can be set and read', async (t) => {
  const users: unknown[] = []
  const { app } = await setup(t, {
    bugsnag: {
      onSession: (session: { setUser (id: string, email?: string, name?: string): void, getUser (): unknown }) => {
        session.setUser('u-1', 'u1@shop.test', 'Una')
        users.push(session.getUser())
      }
    }
  })

  await app.inject('/ok')

  t.same(users, [{ id: 'u-1', email: 'u1@shop.test', name: 'Una' }])
})

test("an error from the app's not-found handler is reported with the URL as context", async (t) => {
  const { app, collector } = await setup(t, {
    routes: (app) => {
      app.setNotFoundHandler(async () => { throw boom })
    }
  })

  const response = await app.inject('/missing/page')
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  t.equal(response.statusCode, 500)
  const body = collector.eventPayloads[0]?.body as { events: Array<{ context: string, session?: unknown }> }
  t.equal(body.events[0]?.context, 'GET /missing/page')
  t.equal(body.events[0]?.session, undefined, 'a request that matched no route has no session')
})
