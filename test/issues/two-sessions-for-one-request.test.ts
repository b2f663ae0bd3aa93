// Case C2: two sessions for one request (seen in bugsnag-js PR #1327).
import Fastify from 'fastify'
import { test } from 'tap'
import easyBugsnag, { ALREADY_REGISTERED } from '../../index.js'
import { Collector } from '../../lib/collector.js'
import { createClient } from '../helpers.js'

test('a second registration in a child fails; a session started by hand adds none', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const client = createClient(collector)

  const doubled = Fastify()
  await doubled.register(easyBugsnag, { client, sessionTracking: { enabled: true } })
  doubled.register(async (child) => { await child.register(easyBugsnag, { client }) })
  await t.rejects(async () => { await doubled.ready() }, { code: ALREADY_REGISTERED })
  await doubled.close()

  const app = Fastify()
  await app.register(easyBugsnag, { client, sessionTracking: { enabled: true } })
  app.get('/by-hand', async (request) => {
    request.bugsnag.startSession()
    return 'ok'
  })
  for (let i = 0; i < 10; i++) await app.inject('/by-hand')
  await app.bugsnagSessions.flush()

  t.equal((await app.bugsnagSessions.stats()).started, 10)
  t.equal(collector.sessionsStarted, 10)
  await app.close()
})
