// Case C11: release stage and app data on sessions (bugsnag-node #149, bugsnag-python PR #202).
import { test } from 'tap'
import { API_KEY, setup } from '../helpers.js'

test('the delivered payload carries the counts, app, device and Bugsnag headers', async (t) => {
  const { app, collector } = await setup(t, {
    bugsnag: { releaseStage: 'staging', appVersion: '1.2.3', hostname: 'web-1' }
  })

  for (let i = 0; i < 5; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()

  t.equal(collector.sessionPayloads.length, 1)
  const [request] = collector.sessionPayloads
  t.equal(request?.method, 'POST')
  t.equal(request?.headers['bugsnag-api-key'], API_KEY)
  t.equal(request?.headers['bugsnag-payload-version'], '1')
  t.equal(request?.headers['content-type'], 'application/json')
  t.match(request?.headers['bugsnag-sent-at'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const body = request?.body as Record<string, any>
  t.same(body.app, { releaseStage: 'staging', version: '1.2.3', type: 'node' })
  t.same(body.device, { hostname: 'web-1', runtimeVersions: { node: process.versions.node, fastify: app.version } })
  t.equal(body.notifier.name, 'Bugsnag Node')
  t.equal(body.sessionCounts.length, 1)
  t.equal(body.sessionCounts[0].sessionsStarted, 5)
  t.match(body.sessionCounts[0].startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/)

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.delivered, 5)
  t.equal(stats.pending, 0)
  t.equal(stats.lastDeliveryAt, new Date(request?.receivedAt as number).toISOString().slice(0, 17) + stats.lastDeliveryAt?.slice(17))
})

test('outside enabledReleaseStages nothing is counted or sent, and the stats say why', async (t) => {
  const { app, collector } = await setup(t, {
    bugsnag: { releaseStage: 'staging', enabledReleaseStages: ['production'] }
  })

  for (let i = 0; i < 5; i++) await app.inject('/ok')
  await app.bugsnagSessions.flush()

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.enabled, false)
  t.equal(stats.disabledReason, 'releaseStage "staging" is not in enabledReleaseStages')
  t.equal(stats.started, 0)
  t.equal(stats.pending, 0)
  t.equal(collector.received.length, 0)
})
