// Case C7: handled counts stuck at 1 (bugsnag-php PR #583).
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { eventsOf, setup } from '../helpers.js'

const boom = Object.assign(new Error('boom'), { statusCode: 500 })

test('handled errors count against the session; each event carries the counts as sent', async (t) => {
  const { app, collector } = await setup(t, {
    routes: (app) => {
      app.get('/three-then-throw', async (request) => {
        request.bugsnag.notify(new Error('h1'))
        app.bugsnag.notify(new Error('h2'))
        await sleep(5)
        request.bugsnag.notify(new Error('h3'))
        throw boom
      })
      app.get('/one-more', async (request) => {
        request.bugsnag.notify(new Error('next request'))
        return 'ok'
      })
    }
  })

  await app.inject('/three-then-throw')
  await app.inject('/one-more')
  await collector.waitFor(() => collector.eventPayloads.length === 5)

  const events = eventsOf(collector)
  const first = events.slice(0, 4)
  t.equal(new Set(first.map((event) => event.session?.id)).size, 1)
  t.same(first.map((event) => event.session?.events), [
    { handled: 1, unhandled: 0 },
    { handled: 2, unhandled: 0 },
    { handled: 3, unhandled: 0 },
    { handled: 3, unhandled: 1 }
  ])
  t.not(events[4]?.session?.id, events[0]?.session?.id)
  t.same(events[4]?.session?.events, { handled: 1, unhandled: 0 }, 'the next session starts from 0/0')
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.handledErrors, 4)
  t.equal(stats.unhandledErrors, 1)
  t.equal(stats.started, 2)
})
