import Fastify from 'fastify'
import { test } from 'tap'
import easyBugsnag from '../index.js'
import { Collector } from '../lib/collector.js'
import { createClient, eventsOf, setup } from './helpers.js'

const boom = Object.assign(new Error('boom'), { statusCode: 500 })

test('an error of status 500 or more is reported as unhandled on the request session', async (t) => {
  const { app, collector } = await setup(t, {
    routes: (app) => {
      app.post('/orders/:id', async () => { throw boom })
    }
  })

  const response = await app.inject({
    method: 'POST',
    url: '/orders/42?verbose=1',
    headers: { authorization: 'Bearer secret', cookie: 'sid=1', 'x-trace': 'abc', referer: 'https://shop.test/' },
    payload: { marker: 'B' }
  })
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  t.equal(response.statusCode, 500)
  const [event] = eventsOf(collector)
  t.equal(event?.unhandled, true)
  t.equal(event?.severity, 'error')
  t.equal(event?.context, 'POST /orders/:id')
  t.equal(event?.exceptions[0]?.errorMessage, 'boom')
  t.same(event?.session?.events, { handled: 0, unhandled: 1 })
  t.equal(event?.request?.httpMethod, 'POST')
  t.equal(event?.request?.url, 'http://localhost:80/orders/42?verbose=1')
  t.equal(event?.request?.clientIp, '127.0.0.1')
  t.same(event?.request?.body, { marker: 'B' })
  t.equal(event?.request?.headers.authorization, '[REDACTED]')
  t.equal(event?.request?.headers.cookie, '[REDACTED]')
  t.equal(event?.request?.headers['x-trace'], 'abc')
  t.same(event?.metaData?.request?.params, { id: '42' })
  t.same(event?.metaData?.request?.query, { verbose: '1' })
  t.equal(event?.metaData?.request?.routePattern, '/orders/:id')
  t.match(event?.metaData?.request?.id, /^req-/)

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.unhandledErrors, 1)
  t.equal(stats.handledErrors, 0)
})

test('errors below 500 are not reported by default; the app may decide otherwise', async (t) => {
  const notFoundError = Object.assign(new Error('no such order'), { statusCode: 404 })
  const byDefault = await setup(t, {
    routes: (app) => { app.get('/missing', async () => { throw notFoundError }) }
  })
  await byDefault.app.inject('/missing')
  await byDefault.app.inject({ method: 'GET', url: '/ok', headers: { 'content-type': 'application/json' } })

  const custom = await setup(t, {
    plugin: { shouldReportError: (error) => error.statusCode === 404 },
    routes: (app) => {
      app.get('/missing', async () => { throw notFoundError })
      app.get('/fails', async () => { throw boom })
    }
  })
  await custom.app.inject('/missing')
  await custom.app.inject('/fails')
  await custom.collector.waitFor(() => custom.collector.eventPayloads.length === 1)

  t.equal(byDefault.collector.eventPayloads.length, 0)
  t.same(eventsOf(custom.collector).map((event) => event.exceptions[0]?.errorMessage), ['no such order'])
})

test('an error thrown by shouldReportError is logged and the response is untouched', async (t) => {
  const { app, collector } = await setup(t, {
    plugin: { shouldReportError: () => { throw new Error('rule broke') } },
    routes: (app) => { app.get('/fails', async () => { throw boom }) }
  })

  const response = await app.inject('/fails')

  t.equal(response.statusCode, 500)
  t.equal(response.json().message, 'boom')
  t.equal(collector.eventPayloads.length, 0)
})

test("the app's own error handler stays in place", async (t) => {
  const { app, collector } = await setup(t, {
    routes: (app) => {
      app.setErrorHandler(async (error, _request, reply) => reply.code(503).send({ handledBy: 'app', message: (error as Error).message }))
      app.get('/fails', async () => { throw new Error('db down') })
    }
  })

  const response = await app.inject('/fails')
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  t.equal(response.statusCode, 503)
  t.same(response.json(), { handledBy: 'app', message: 'db down' })
  t.equal(eventsOf(collector)[0]?.unhandled, true)
})

test('with autoDetectErrors off nothing is reported by itself', async (t) => {
  const { app, collector } = await setup(t, {
    bugsnag: { autoDetectErrors: false },
    routes: (app) => { app.get('/fails', async () => { throw boom }) }
  })

  await app.inject('/fails')
  await app.inject('/ok')

  t.equal(collector.eventPayloads.length, 0)
  t.equal((await app.bugsnagSessions.stats()).unhandledErrors, 0)
})

test('the events of excluded requests carry request data and no session', async (t) => {
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: ['^/internal'] } },
    routes: (app) => { app.get('/internal/fail', async () => { throw boom }) }
  })

  await app.inject('/internal/fail')
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  const [event] = eventsOf(collector)
  t.equal(event?.session, undefined)
  t.equal(event?.request?.url, 'http://localhost:80/internal/fail')
  t.equal((await app.bugsnagSessions.stats()).unhandledErrors, 0)
})

test('names the app adds to redactedHeaders are redacted too, in any case', async (t) => {
  const { app, collector } = await setup(t, {
    plugin: { redactedHeaders: ['X-Session-Token'] },
    routes: (app) => { app.get('/fails', async () => { throw boom }) }
  })

  await app.inject({ url: '/fails', headers: { 'x-session-token': 't0k3n', 'x-api-key': 'k', 'bugsnag-api-key': 'b' } })
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  const headers = eventsOf(collector)[0]?.request?.headers
  t.equal(headers?.['x-session-token'], '[REDACTED]')
  t.equal(headers?.['x-api-key'], '[REDACTED]')
  t.equal(headers?.['bugsnag-api-key'], '[REDACTED]')
})

test('a context set on the client wins over the route', async (t) => {
  const { app, collector } = await setup(t, {
    routes: (app) => {
      app.get('/fails', async (request) => {
        request.bugsnag.setContext('checkout')
        throw boom
      })
    }
  })

  await app.inject('/fails')
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  t.equal(eventsOf(collector)[0]?.context, 'checkout')
})

test('close() waits for the errors the plugin reported to reach Bugsnag, within closeTimeout', async (t) => {
  const collector = await Collector.start({ answer: (request) => request.path === '/notify' ? { status: 202, delay: 200 } : { status: 202 } })
  t.teardown(() => collector.close())
  const app = Fastify()
  await app.register(easyBugsnag, { client: createClient(collector), sessionTracking: { enabled: true } })
  app.get('/boom', async () => { throw new Error('boom') })

  t.equal((await app.inject('/boom')).statusCode, 500)
  await app.close()
  t.equal(eventsOf(collector).length, 1, 'delivered before close() resolved')
  t.equal(collector.sessionsStarted, 1)

  // An endpoint that never answers holds close() for closeTimeout at most.
  const hung = await Collector.start({ answer: () => ({ hang: true }) })
  t.teardown(() => hung.close())
  const second = Fastify()
  await second.register(easyBugsnag, { client: createClient(hung), sessionTracking: { enabled: true, closeTimeout: 0.3 } })
  second.get('/boom', async () => { throw new Error('boom') })
  await second.inject('/boom')
  await second.close()
  t.pass('closed')
})
