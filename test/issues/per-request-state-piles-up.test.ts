// Case C1: per-request state that piles up across requests (seen in bugsnag-js #1875).
import { test } from 'tap'
import type { InternalClient } from '../../lib/bugsnag.js'
import { eventsOf, setup } from '../helpers.js'

test('after 1,000 requests an error carries its own request, and nothing grew', async (t) => {
  const { app, collector, client } = await setup(t, {
    routes: (app) => {
      app.post('/boom', async () => { throw new Error('boom') })
      app.get('/touch', async (request) => {
        request.bugsnag.addMetadata('touched', { yes: true })
        request.bugsnag.leaveBreadcrumb('touched')
        return 'ok'
      })
    }
  })
  const base = client as unknown as InternalClient
  const before = {
    onError: base._cbs.e.length,
    onSession: base._cbs.s.length,
    breadcrumbs: base._breadcrumbs.length,
    metadata: Object.keys(base._metadata).length
  }

  for (let i = 0; i < 1000; i++) await app.inject(i % 2 === 0 ? '/ok' : '/touch')
  await app.inject({ method: 'POST', url: '/boom', payload: { marker: 'B' } })
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  const [event] = eventsOf(collector)
  t.equal(event?.request?.url, 'http://localhost:80/boom')
  t.same(event?.request?.body, { marker: 'B' })
  t.equal(event?.metaData?.touched, undefined)
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 1001)
  t.equal(stats.unhandledErrors, 1)
  t.same({
    onError: base._cbs.e.length,
    onSession: base._cbs.s.length,
    breadcrumbs: base._breadcrumbs.length,
    metadata: Object.keys(base._metadata).length
  }, before)
})
