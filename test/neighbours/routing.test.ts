// The app's own routing around the plugin: prefixes and encapsulated plugins, rewriteUrl,
// fastify.inject next to real HTTP, setErrorHandler and setNotFoundHandler.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { eventsOf, setup } from '../helpers.js'

test('prefixed and encapsulated plugins: one session per request, route opt-out inside a child', async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: '^/v1/health$' } },
    routes: async (app) => {
      await app.register(async function api (v1: FastifyInstance) {
        // A child's own hooks and decorators do not make a second session.
        v1.addHook('onRequest', async (request) => { request.log.debug('v1 request') })
        v1.get('/orders', async () => [])
        v1.get('/health', async () => 'ok')
        await v1.register(async function internal (child: FastifyInstance) {
          child.get('/metrics', { config: { bugsnagSessions: false } }, async () => 'metrics')
          child.get('/jobs', async () => [])
        }, { prefix: '/internal' })
      }, { prefix: '/v1' })
    }
  })

  const urls = ['/v1/orders', '/v1/orders', '/v1/health', '/v1/internal/metrics', '/v1/internal/jobs', '/orders']
  const statuses = []
  for (const url of urls) statuses.push((await app.inject(url)).statusCode)

  t.same(statuses, [200, 200, 200, 200, 200, 404])
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 3, '/v1/orders twice and /v1/internal/jobs')
  t.equal(stats.excluded, 2, 'the pattern on the prefixed path, and the opted-out route in the child')
  t.equal(app.bugsnagSessions.isExcluded('/v1/health'), true, 'patterns see the full path, prefix included')
  t.equal(app.bugsnagSessions.isExcluded('/health'), false)
})

test('an encapsulated plugin sees the decorators registered at the root', async (t) => {
  let seen: unknown[] = []
  const { app } = await setup(t, {
    routes: async (app) => {
      await app.register(async function child (child: FastifyInstance) {
        child.get('/whoami', async (request) => {
          seen = [
            child.bugsnag === app.bugsnag,
            child.bugsnagSessions === app.bugsnagSessions,
            request.bugsnag !== app.bugsnag
          ]
          return 'ok'
        })
      }, { prefix: '/child' })
    }
  })

  await app.inject('/child/whoami')

  t.same(seen, [true, true, true])
})

test('rewriteUrl: exclusions decide on the URL the client sent; route config on the route matched', async (t) => {
  const { app } = await setup(t, {
    fastify: {
      rewriteUrl: (request) => {
        const url = request.url as string
        return url.startsWith('/legacy/') ? url.slice('/legacy'.length) : url
      }
    },
    plugin: { sessionTracking: { excludeUrls: ['^/ping$'] } },
    routes: (app) => {
      app.get('/ping', async () => 'pong')
      app.get('/quiet', { config: { bugsnagSessions: false } }, async () => 'quiet')
    }
  })

  const statuses = []
  for (const url of ['/ping', '/legacy/ping', '/legacy/ok', '/legacy/quiet']) {
    statuses.push((await app.inject(url)).statusCode)
  }

  t.same(statuses, [200, 200, 200, 200])
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 2, '/legacy/ping (the client sent no /ping) and /legacy/ok')
  t.equal(stats.excluded, 2, '/ping, and /legacy/quiet through the config of the route it reached')
})

test('fastify.inject and real HTTP count the same way', async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: '^/health$' } },
    routes: (app) => { app.get('/health', async () => 'ok') }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo

  await app.inject('/ok')
  await app.inject('/health')
  await fetch(`http://127.0.0.1:${port}/ok`).then((response) => response.text())
  await fetch(`http://127.0.0.1:${port}/health`).then((response) => response.text())

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 2)
  t.equal(stats.excluded, 2)
})

test("the app's error handler: its answer is sent, the error is reported once, on the request's session", async (t) => {
  const { app, collector } = await setup(t, {
    routes: async (app) => {
      app.setErrorHandler(async (error, _request, reply) =>
        reply.code(503).send({ retry: true, message: (error as Error).message }))
      await app.register(async function child (child: FastifyInstance) {
        // An encapsulated error handler that gives up passes the error on to the root's.
        child.setErrorHandler(async (error) => { throw error })
        child.get('/fails', async () => { throw new Error('db down') })
      }, { prefix: '/child' })
      app.get('/refused', async () => { throw Object.assign(new Error('nope'), { statusCode: 400 }) })
    }
  })

  const failed = await app.inject('/child/fails')
  const refused = await app.inject('/refused')
  await collector.waitFor(() => collector.eventPayloads.length >= 1)
  await app.bugsnagSessions.flush()

  t.equal(failed.statusCode, 503)
  t.same(failed.json(), { retry: true, message: 'db down' })
  t.equal(refused.statusCode, 503, 'the app\'s handler answers the 400 error too')
  const events = eventsOf(collector)
  t.equal(events.length, 1, 'only the 500-class error; the error passed between handlers is reported once')
  t.equal(events[0]?.context, 'GET /child/fails')
  t.same(events[0]?.session?.events, { handled: 0, unhandled: 1 })
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 2)
  t.equal(stats.unhandledErrors, 1)
  t.equal(stats.stability, 0.5)
})

test("the app's not-found handler: requests to no route start no session, even with hooks of its own", async (t) => {
  const { app, collector } = await setup(t, {
    routes: (app) => {
      app.setNotFoundHandler({ preHandler: async (request: FastifyRequest) => { request.log.debug('not found') } },
        async (request, reply) => reply.code(404).send({ missing: request.url }))
    }
  })

  const responses = [await app.inject('/nowhere'), await app.inject({ method: 'POST', url: '/ok' }), await app.inject('/ok')]
  await app.bugsnagSessions.flush()

  t.same(responses.map((response) => response.statusCode), [404, 404, 200])
  t.same(responses[0]?.json(), { missing: '/nowhere' })
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 1, 'the GET /ok only')
  t.equal(stats.excluded, 0, 'a 404 is not an exclusion either')
  t.equal(collector.sessionsStarted, 1)
})
