import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { test, type Test } from 'tap'
import easyBugsnag, { ALREADY_REGISTERED } from '../index.js'
import { bugsnagLogger } from '../lib/bugsnag.js'
import { Collector } from '../lib/collector.js'
import { API_KEY, Bugsnag, eventsOf, recordingLogger } from './helpers.js'

// This file owns the process-wide client: the plugin starts it from apiKey.
async function appWithOwnClient (t: Test, collector: Collector, extra: Record<string, unknown> = {}) {
  const logger = recordingLogger()
  const app = Fastify({ logger: { level: 'info', stream: logger.stream } })
  await app.register(easyBugsnag, {
    apiKey: API_KEY,
    endpoints: collector.endpoints,
    clientOptions: { enabledErrorTypes: { unhandledExceptions: false, unhandledRejections: false } },
    sessionTracking: { enabled: true },
    ...extra
  })
  t.teardown(() => app.close())
  return { app, logger }
}

test('Bugsnag.notify() anywhere in a request lands on its session, after the body and timers too', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const { app, logger } = await appWithOwnClient(t, collector)
  app.post('/upload', async (request) => {
    Bugsnag.notify(new Error(`first ${(request.body as { n: number }).n}`))
    await sleep(5)
    setTimeout(() => Bugsnag.notify(new Error('from a timer')), 1)
    await sleep(10)
    return 'ok'
  })

  t.equal(Bugsnag.isStarted(), true, 'the plugin started the process-wide client')
  t.equal(app.bugsnag, (Bugsnag as unknown as { _client: unknown })._client)
  await app.inject({ method: 'POST', url: '/upload', payload: { n: 1 } })
  await app.inject({ method: 'POST', url: '/upload', payload: { n: 2 } })
  await collector.waitFor(() => collector.eventPayloads.length === 4)

  const events = eventsOf(collector)
  const byMessage = new Map(events.map((event) => [event.exceptions[0]?.errorMessage, event]))
  t.equal(byMessage.get('first 1')?.session?.id, events.find((event) => event.request?.body !== undefined &&
    (event.request.body as { n: number }).n === 1 && event.exceptions[0]?.errorMessage === 'from a timer')?.session?.id)
  t.equal(new Set(events.map((event) => event.session?.id)).size, 2)
  t.same(events.map((event) => event.session?.events.handled).sort(), [1, 1, 2, 2])
  t.ok(logger.lines.some((line) => line.msg === 'fastify-easy-bugsnag ready' && line.plugin === 'fastify-easy-bugsnag'))
})

test('a second app with apiKey gets a client of its own, and says so once', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const { app, logger } = await appWithOwnClient(t, collector, { asyncContext: false })

  t.not(app.bugsnag, (Bugsnag as unknown as { _client: unknown })._client)
  const warnings = logger.lines.filter((line) => line.level === 40)
  t.equal(warnings.length, 1)
  t.match(warnings[0]?.msg, /static Bugsnag\.\* calls reach the first one/)
})

test('with asyncContext false only request.bugsnag attributes to the session', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const { app } = await appWithOwnClient(t, collector, { asyncContext: false })
  app.get('/report', async (request) => {
    app.bugsnag.notify(new Error('base'))
    request.bugsnag.notify(new Error('request'))
    return 'ok'
  })

  await app.inject('/report')
  await collector.waitFor(() => collector.eventPayloads.length === 2)

  const events = new Map(eventsOf(collector).map((event) => [event.exceptions[0]?.errorMessage, event]))
  t.equal(events.get('base')?.session, undefined)
  t.same(events.get('request')?.session?.events, { handled: 1, unhandled: 0 })
})

test('request.bugsnag is built once per request and only when read', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const { app } = await appWithOwnClient(t, collector)
  const clients: unknown[] = []
  app.get('/twice', async (request) => {
    clients.push(request.bugsnag, request.bugsnag)
    return 'ok'
  })

  await app.inject('/twice')
  await app.inject('/twice')

  t.equal(clients.length, 4)
  t.equal(clients[0], clients[1])
  t.not(clients[0], clients[2])
  t.not(clients[0], app.bugsnag)
})

test('contextualize() still runs its callback in a context of its own', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const { app } = await appWithOwnClient(t, collector)
  const contextualize = app.bugsnag.getPlugin('contextualize') as (fn: () => void, onError: (event: unknown) => void) => void

  await new Promise<void>((resolve) => {
    contextualize(() => {
      app.bugsnag.notify(new Error('contextualized'))
      resolve()
    }, (event) => { (event as { addMetadata: (section: string, values: object) => void }).addMetadata('job', { name: 'nightly' }) })
  })
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  t.same(eventsOf(collector)[0]?.metaData?.job, { name: 'nightly' })
})

test('registering twice fails with a clear error, at the root or in a child', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const client = Bugsnag.createClient({ apiKey: API_KEY, endpoints: collector.endpoints, logger: null } as never)

  const twice = Fastify()
  await twice.register(easyBugsnag, { client })
  twice.register(easyBugsnag, { client })
  await t.rejects(async () => { await twice.ready() }, { code: ALREADY_REGISTERED })

  const nested = Fastify()
  await nested.register(easyBugsnag, { client })
  nested.register(async (child) => { await child.register(easyBugsnag, { client }) })
  await t.rejects(async () => { await nested.ready() }, { code: ALREADY_REGISTERED, message: /register it once, at the root/ })
})

test('close() gives a client passed in back what the plugin changed', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const client = Bugsnag.createClient({ apiKey: API_KEY, endpoints: collector.endpoints, logger: null } as never) as never as Record<string, unknown>
  const context = client._clientContext
  const delegate = client._sessionDelegate

  const app = Fastify()
  await app.register(easyBugsnag, { client: client as never, sessionTracking: { enabled: true } })
  await app.ready()
  t.not(client._clientContext, context)
  t.not(client._sessionDelegate, delegate)
  await app.close()

  t.equal(client._clientContext, context)
  t.equal(client._sessionDelegate, delegate)
})

test('over real HTTP, Bugsnag.notify() after the body arrived lands on the request session', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const { app } = await appWithOwnClient(t, collector)
  app.post('/upload', async (request) => {
    app.bugsnag.notify(new Error(`got ${(request.body as { n: number }).n}`))
    return 'ok'
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })

  // The body comes in a second write, so that it is parsed in the socket's context.
  const { request: send } = await import('node:http')
  await new Promise<void>((resolve, reject) => {
    const outgoing = send(`${address}/upload`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume()
      response.on('end', resolve)
    })
    outgoing.on('error', reject)
    outgoing.write('{"n":')
    setTimeout(() => outgoing.end('7}'), 20)
  })
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  const [event] = eventsOf(collector)
  t.equal(event?.exceptions[0]?.errorMessage, 'got 7')
  t.same(event?.session?.events, { handled: 1, unhandled: 0 })
})

test("Bugsnag's own log lines go to the Fastify logger", async (t) => {
  const logger = recordingLogger()
  const app = Fastify({ logger: { level: 'debug', stream: logger.stream } })
  const log = bugsnagLogger(app.log)

  log.debug('one', 2)
  log.info('three')
  log.warn('four')
  log.error('five')

  t.same(logger.lines.map((line) => [line.level, line.msg]), [[20, 'one 2'], [30, 'three'], [40, 'four'], [50, 'five']])
})
