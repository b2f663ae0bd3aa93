import { test } from 'tap'
import { setup } from './helpers.js'

test('each request that matches a route starts one session', async (t) => {
  const { app } = await setup(t, {
    routes: (app) => { app.post('/items', async (request) => request.body) }
  })

  for (let i = 0; i < 4; i++) await app.inject('/ok')
  await app.inject({ method: 'HEAD', url: '/ok' })
  await app.inject({ method: 'POST', url: '/items', payload: { a: 1 } })

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 6)
  t.equal(stats.pending, 6)
  t.equal(stats.excluded, 0)
  t.equal(stats.delivered, 0)
})

test('requests that match no route start no session and leave no state', async (t) => {
  const { app } = await setup(t)

  const notFound = await app.inject('/nope')
  const wrongMethod = await app.inject({ method: 'DELETE', url: '/ok' })

  t.equal(notFound.statusCode, 404)
  t.equal(wrongMethod.statusCode, 404)
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 0)
  t.equal(stats.excluded, 0)
  t.equal(stats.pending, 0)
})

test('excluded requests start no session and are counted as excluded', async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: ['^/ping$', /^\/health\/?$/] } },
    routes: (app) => {
      app.get('/ping', async () => 'pong')
      app.get('/health', async () => 'up')
      app.get('/health/', async () => 'up')
    }
  })

  await app.inject('/ping')
  await app.inject('/ping?probe=1')
  await app.inject('/health')
  await app.inject('/ok')

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 1)
  t.equal(stats.excluded, 3)
  t.equal(app.bugsnagSessions.isExcluded('/ping'), true)
  t.equal(app.bugsnagSessions.isExcluded('/pinger'), false)
})

test('exclusions test the path the client sent, before rewriteUrl', async (t) => {
  const { app } = await setup(t, {
    fastify: { rewriteUrl: (request) => request.url === '/old-ping' ? '/ping' : request.url as string },
    plugin: { sessionTracking: { excludeUrls: '^/old-ping$' } },
    routes: (app) => { app.get('/ping', async () => 'pong') }
  })

  await app.inject('/old-ping')
  await app.inject('/ping')

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.excluded, 1)
  t.equal(stats.started, 1)
})

test('a route can opt out of sessions through its config', async (t) => {
  const { app } = await setup(t, {
    routes: (app) => {
      app.get('/ready', { config: { bugsnagSessions: false } }, async () => 'ready')
      app.get('/counted', { config: { bugsnagSessions: true } }, async () => 'yes')
    }
  })

  await app.inject('/ready')
  await app.inject('/counted')
  await app.inject('/ok')

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 2)
  t.equal(stats.excluded, 1)
})

test('onSession callbacks run first; returning false means no session', async (t) => {
  const seen: string[] = []
  const { app } = await setup(t, {
    bugsnag: {
      onSession: [
        () => { seen.push('first') },
        (session: { startedAt: Date }) => {
          seen.push('second')
          t.type(session.startedAt, Date)
          return seen.length <= 2
        }
      ]
    }
  })

  await app.inject('/ok')
  await app.inject('/ok')

  // Newest first, as Bugsnag runs them; the second request was refused before the first callback ran.
  t.same(seen, ['second', 'first', 'second'])
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 1)
  t.equal(stats.pending, 1)
})

test('an onSession callback that throws is logged and the session starts', async (t) => {
  const { app } = await setup(t, {
    bugsnag: { onSession: () => { throw new Error('callback broke') } }
  })

  const response = await app.inject('/ok')

  t.equal(response.statusCode, 200)
  t.equal((await app.bugsnagSessions.stats()).started, 1)
})

test('with tracking disabled nothing is counted and the stats say why', async (t) => {
  const { app, collector } = await setup(t, { plugin: { sessionTracking: { enabled: false } } })

  await app.inject('/ok')
  await app.bugsnagSessions.flush()

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.enabled, false)
  t.equal(stats.disabledReason, 'sessionTracking.enabled is false')
  t.equal(stats.started, 0)
  t.equal(collector.received.length, 0)
})

test('a session started by hand inside a request does not add a second one', async (t) => {
  const { app } = await setup(t, {
    routes: (app) => {
      app.get('/manual', async (request) => {
        request.bugsnag.startSession()
        app.bugsnag.startSession()
        return 'ok'
      })
    }
  })

  for (let i = 0; i < 10; i++) await app.inject('/manual')

  t.equal((await app.bugsnagSessions.stats()).started, 10)
})

test('sessions started by hand outside requests are counted, and pause and resume keep one', async (t) => {
  const { app, client } = await setup(t)

  client.startSession()
  client.pauseSession()
  client.resumeSession()
  client.resumeSession()
  client.pauseSession()
  client.pauseSession()
  client.resumeSession()

  // Started, then resumed twice (no new one), then paused with nothing to resume: a new one.
  t.equal((await app.bugsnagSessions.stats()).started, 2)
})
