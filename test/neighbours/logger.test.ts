// The app's logger: the plugin logs through a child with its name, says once at start what it
// tracks and where it delivers (never the API key), and says nothing at info per request.
import Fastify from 'fastify'
import { test } from 'tap'
import easyBugsnag from '../../index.js'
import { Collector } from '../../lib/collector.js'
import { API_KEY, createClient, recordingLogger } from '../helpers.js'

const INFO = 30

test('one info line at start, none per request, no API key, all through a child named after the plugin', async (t) => {
  const collector = await Collector.start()
  const logger = recordingLogger()
  const app = Fastify({ logger: { level: 'debug', stream: logger.stream } })
  t.teardown(async () => {
    await app.close()
    await collector.close()
  })
  // The plugin starts the client: Bugsnag's own logger is the Fastify logger too.
  await app.register(easyBugsnag, {
    apiKey: API_KEY,
    endpoints: collector.endpoints,
    releaseStage: 'production',
    clientOptions: { enabledErrorTypes: { unhandledExceptions: false, unhandledRejections: false } },
    sessionTracking: { enabled: true, excludeUrls: ['^/health$', '^/ping$'] }
  })
  app.get('/ok', async () => 'ok')
  app.get('/health', async () => 'ok')
  app.get('/handled', async (request) => {
    request.bugsnag.notify(new Error('handled'))
    return 'ok'
  })
  app.get('/boom', async () => { throw new Error('boom') })
  await app.ready()
  const atStart = logger.lines.length

  const ready = logger.lines.filter((line) => line.msg === 'fastify-easy-bugsnag ready')
  t.equal(ready.length, 1)
  t.match(ready[0], {
    level: INFO,
    plugin: 'fastify-easy-bugsnag',
    sessions: 'tracked',
    exclusions: 2,
    endpoint: `${collector.url}/sessions`
  })
  t.same(logger.lines.filter((line) => (line.level as number) >= INFO), ready, 'the only info line at start')

  const urls = ['/ok', '/health', '/handled', '/boom', '/nowhere']
  for (let i = 0; i < 100; i++) await app.inject(urls[i % urls.length] as string)
  await collector.waitFor(() => collector.eventPayloads.length === 40)
  await app.bugsnagSessions.flush()
  await app.close()

  const later = logger.lines.slice(atStart)
  t.same(later.filter((line) => (line.level as number) >= INFO && line.plugin === 'fastify-easy-bugsnag'), [],
    'nothing at info or above from the plugin, for 100 requests, 40 events, a delivery and close')
  const fastifyOwn = new Set(['incoming request', 'request completed', 'boom', 'Route GET:/nowhere not found'])
  t.same(later.filter((line) => (line.level as number) >= INFO && !fastifyOwn.has(line.msg as string)), [],
    'at info and above, only Fastify\'s own request lines')
  t.ok(later.filter((line) => line.plugin === 'fastify-easy-bugsnag').length > 0, 'the plugin logs at debug level')
  t.notOk(logger.lines.some((line) => JSON.stringify(line).includes(API_KEY)), 'the API key is in no line, at any level')
  t.equal(collector.sessionsStarted, 60, '/ok, /handled and /boom')
})

test('with tracking off, the start-up line says so and why', async (t) => {
  const collector = await Collector.start()
  const logger = recordingLogger()
  const app = Fastify({ logger: { level: 'info', stream: logger.stream } })
  t.teardown(async () => {
    await app.close()
    await collector.close()
  })

  await app.register(easyBugsnag, { client: createClient(collector) })
  await app.ready()

  const ready = logger.lines.filter((line) => line.plugin === 'fastify-easy-bugsnag')
  t.match(ready, [{
    msg: 'fastify-easy-bugsnag ready',
    sessions: 'not tracked',
    reason: 'sessionTracking.enabled is false'
  }])
  t.notOk(logger.lines.some((line) => JSON.stringify(line).includes(API_KEY)))
})
