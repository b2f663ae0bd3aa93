/**
 * A small Fastify service with fastify-easy-bugsnag, run by `npm start`.
 *
 * Without BUGSNAG_API_KEY, a local Bugsnag-compatible collector on
 * 127.0.0.1 receives the payloads and prints them, so that nothing leaves
 * the machine. With BUGSNAG_API_KEY, sessions and events go to Bugsnag.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import easyBugsnag, { type EasyBugsnagOptions } from '../index.js'
import { Collector, type CollectedRequest } from '../lib/collector.js'
import { closeOnSignals } from './shutdown.js'

const HOST = '127.0.0.1'
const PORT = Number(process.env.PORT ?? 3000)
const COLLECTOR_PORT = Number(process.env.COLLECTOR_PORT ?? 9339)
// 32 hex characters, the shape Bugsnag expects; it only ever reaches the local collector.
const PLACEHOLDER_API_KEY = '0123456789abcdef0123456789abcdef'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
const apiKey = process.env.BUGSNAG_API_KEY

const collector = apiKey === undefined
  ? await Collector.start({ port: COLLECTOR_PORT, onRequest: printPayload })
  : null

const app = Fastify({ logger: true })

const options: EasyBugsnagOptions = {
  apiKey: apiKey ?? PLACEHOLDER_API_KEY,
  releaseStage: process.env.NODE_ENV ?? 'development',
  appVersion: pkg.version,
  sessionTracking: {
    enabled: true,
    excludeUrls: ['^/ping$', '^/health$'],
    deliveryInterval: 5
  }
}
if (collector !== null) options.endpoints = collector.endpoints

await app.register(easyBugsnag, options)

app.get('/', async () => ({ hello: 'world' }))

app.get('/ping', async () => 'pong')

app.get('/health', async () => ({ status: 'ok' }))

app.get('/handled', async (request) => {
  request.bugsnag.notify(new Error('Payment provider answered slowly'))
  return { reported: 'a handled error, on this request\'s session' }
})

app.get('/boom', async () => {
  throw new Error('Something broke in /boom')
})

interface Order {
  item: string
  quantity: number
}

app.post<{ Body: Order }>('/orders', {
  schema: {
    body: {
      type: 'object',
      required: ['item', 'quantity'],
      properties: {
        item: { type: 'string', minLength: 1 },
        quantity: { type: 'integer', minimum: 1 }
      }
    }
  }
}, async (request, reply) => {
  const { item, quantity } = request.body
  return reply.code(201).send({ ordered: { item, quantity } })
})

app.get('/bugsnag/sessions', async () => app.bugsnagSessions.stats())

await app.listen({ host: HOST, port: PORT })
printTryIt()

closeOnSignals(app, collector)

function printTryIt (): void {
  const base = `http://${HOST}:${PORT}`
  const destination = collector === null
    ? 'Bugsnag (BUGSNAG_API_KEY is set)'
    : `the local collector at ${collector.url} (set BUGSNAG_API_KEY to send to Bugsnag)`
  console.log([
    '',
    `Example service on ${base}; sessions and events go to ${destination}.`,
    'Sessions are delivered every 5 seconds, and once more when the service stops (Ctrl-C).',
    '',
    'Try:',
    `  curl ${base}/                      # a session`,
    `  curl ${base}/ping                  # excluded: no session`,
    `  curl ${base}/health                # excluded: no session`,
    `  curl ${base}/handled               # a session and a handled error`,
    `  curl ${base}/boom                  # a session and an unhandled error (500)`,
    `  curl -X POST -H 'content-type: application/json' -d '{"item":"tea","quantity":2}' ${base}/orders`,
    `  curl ${base}/bugsnag/sessions      # the stats`,
    ''
  ].join('\n'))
}

function printPayload (request: CollectedRequest): void {
  const headers: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (name !== 'content-type' && !name.startsWith('bugsnag-')) continue
    headers[name] = name === 'bugsnag-api-key' ? '<redacted>' : value
  }
  const title = `[collector] ${request.method} ${request.path} at ${new Date(request.receivedAt).toISOString()}`
  const body = request.path === '/sessions' ? request.body : summariseEvents(request.body)
  console.log(`${title}\n${JSON.stringify({ headers, body }, null, 2)}\n`)
}

interface EventPayload {
  events?: Array<{
    exceptions?: Array<{ errorClass?: string, message?: string }>
    unhandled?: boolean
    severity?: string
    context?: string
    session?: { id?: string, events?: { handled?: number, unhandled?: number } }
  }>
}

/** Event payloads are long (stack traces, request data); these are the parts worth seeing here. */
function summariseEvents (body: unknown): unknown {
  return ((body as EventPayload | null)?.events ?? []).map((event) => ({
    errorClass: event.exceptions?.[0]?.errorClass,
    message: event.exceptions?.[0]?.message,
    unhandled: event.unhandled,
    severity: event.severity,
    context: event.context,
    session: event.session === undefined
      ? null
      : { id: event.session.id, events: event.session.events }
  }))
}
