// Case C8: counts changing after the event was queued (bugsnag-python PR #201).
import { test } from 'tap'
import { eventsOf, setup } from '../helpers.js'

test('each event carries the counts as they were when it was sent', async (t) => {
  const { app, collector } = await setup(t, {
    answer: (request) => request.path === '/notify' ? { delay: 100 } : {},
    routes: (app) => {
      app.get('/twice', async (request) => {
        request.bugsnag.notify(new Error('first'))
        request.bugsnag.notify(new Error('second'))
        return 'ok'
      })
    }
  })

  await app.inject('/twice')
  await collector.waitFor(() => collector.eventPayloads.length === 2)

  const events = new Map(eventsOf(collector).map((event) => [event.exceptions[0]?.errorMessage, event]))
  t.same(events.get('first')?.session?.events, { handled: 1, unhandled: 0 })
  t.same(events.get('second')?.session?.events, { handled: 2, unhandled: 0 })
  t.equal(events.get('first')?.session?.id, events.get('second')?.session?.id)
})
