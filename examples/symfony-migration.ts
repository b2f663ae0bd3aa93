/**
 * A Symfony service's EasyBugsnag session tracking, moved to Fastify with the
 * same decisions: `npx tsx examples/symfony-migration.ts`.
 *
 * The Symfony configuration it replaces (config/packages/easy_bugsnag.yaml):
 *
 *   easy_bugsnag:
 *     api_key: '%env(BUGSNAG_API_KEY)%'
 *     release_stage: '%env(APP_ENV)%'
 *     session_tracking:
 *       enabled: true
 *       exclude_urls:
 *         - '/ping'
 *         - '(health|status)check'
 *         - 'probe=1'
 *       exclude_urls_delimiter: '#'
 *       cache_expires_after: 3600
 *       cache_directory: '%kernel.cache_dir%'
 *       cache_namespace: 'easy_bugsnag_sessions'
 *       messenger_message_count_for_sessions: true
 *
 * Key by key (the options object below):
 *
 *   api_key                                  apiKey (BUGSNAG_API_KEY; unset: a local collector)
 *   release_stage                            releaseStage (APP_ENV, default 'dev')
 *   session_tracking.enabled                 sessionTracking.enabled
 *   session_tracking.exclude_urls            sessionTracking.excludeUrls, the same strings
 *   session_tracking.exclude_urls_delimiter  sessionTracking.excludeUrlsDelimiter
 *   (the original tests the full URL)        sessionTracking.excludeUrlsMatch: 'url'
 *   session_tracking.cache_expires_after     sessionTracking.cacheExpiresAfter (seconds in both)
 *   (the original caches in files)           sessionTracking.cache: 'file'
 *   session_tracking.cache_directory         sessionTracking.cacheDirectory (CACHE_DIR)
 *   session_tracking.cache_namespace         sessionTracking.cacheNamespace
 *   messenger_message_count_for_sessions     sessionTracking.jobCountForSessions, with each
 *                                            message handler wrapped by wrapJob()
 *
 * With `excludeUrlsMatch: 'url'` the patterns see what they saw in Symfony:
 * `http://127.0.0.1:3000/search?probe=1&q=x`, unanchored, so `probe=1`
 * excludes by query string and `/ping` any URL that contains it. Sessions
 * are delivered every 30 seconds, as the original did, off the request path,
 * and once more when the service stops (Ctrl-C).
 *
 * Environment: PORT (default 3000), COLLECTOR_PORT (default 9339), APP_ENV,
 * CACHE_DIR (default: a folder in the OS temp dir), BUGSNAG_API_KEY.
 */
import os from 'node:os'
import path from 'node:path'
import Fastify from 'fastify'
import easyBugsnag, { type EasyBugsnagOptions } from '../index.js'
import { Collector, type CollectedRequest } from '../lib/collector.js'
import { closeOnSignals } from './shutdown.js'

const HOST = '127.0.0.1'
const PORT = Number(process.env.PORT ?? 3000)
const COLLECTOR_PORT = Number(process.env.COLLECTOR_PORT ?? 9339)
// 32 hex characters, the shape Bugsnag expects; it only ever reaches the local collector.
const PLACEHOLDER_API_KEY = '0123456789abcdef0123456789abcdef'

const apiKey = process.env.BUGSNAG_API_KEY
const appEnv = process.env.APP_ENV ?? 'dev'
// %kernel.cache_dir% is var/cache/<env> in a Symfony project.
const cacheDirectory = process.env.CACHE_DIR ?? path.join(os.tmpdir(), 'easy-bugsnag-symfony-example', appEnv)

const collector = apiKey === undefined
  ? await Collector.start({ port: COLLECTOR_PORT, onRequest: printSessions })
  : null

const app = Fastify({ logger: true })

const options: EasyBugsnagOptions = {
  apiKey: apiKey ?? PLACEHOLDER_API_KEY,
  releaseStage: appEnv,
  sessionTracking: {
    enabled: true,
    excludeUrls: ['/ping', '(health|status)check', 'probe=1'],
    excludeUrlsDelimiter: '#',
    excludeUrlsMatch: 'url',
    cacheExpiresAfter: 3600,
    cache: 'file',
    cacheDirectory,
    cacheNamespace: 'easy_bugsnag_sessions',
    jobCountForSessions: true
  }
}
if (collector !== null) options.endpoints = collector.endpoints

await app.register(easyBugsnag, options)

// What a Messenger handler was: each message handled is a session of its own.
const sendWelcomeEmail = app.bugsnagSessions.wrapJob(async (message: { email: string }) => {
  app.log.info({ email: message.email }, 'welcome email sent')
}, { name: 'SendWelcomeEmail' })

app.get('/', async () => ({ hello: 'world' }))
app.get('/ping', async () => 'pong')
app.get('/healthcheck', async () => ({ status: 'ok' }))
app.get('/search', async (request) => ({ query: request.query }))

app.post<{ Body: { email?: string } }>('/users', async (request, reply) => {
  const email = request.body?.email ?? 'new.user@example.test'
  // Dispatched after the answer, as an async Messenger transport would.
  setImmediate(() => { sendWelcomeEmail({ email }).catch(() => {}) })
  return reply.code(202).send({ dispatched: 'SendWelcomeEmail' })
})

// A route of this service only: it opts out through its config rather than a pattern.
app.get('/bugsnag/sessions', { config: { bugsnagSessions: false } }, async () => app.bugsnagSessions.stats())

await app.listen({ host: HOST, port: PORT })
printTryIt()

closeOnSignals(app, collector)

function printTryIt (): void {
  const base = `http://${HOST}:${PORT}`
  const destination = collector === null ? 'Bugsnag' : `the local collector at ${collector.url}`
  console.log([
    '',
    `Symfony migration example on ${base}; sessions go to ${destination}.`,
    `Counts wait in ${path.join(cacheDirectory, 'easy_bugsnag_sessions')}, as they did in %kernel.cache_dir%.`,
    '',
    'Try:',
    `  curl ${base}/                         # a session`,
    `  curl ${base}/ping                     # excluded ('/ping')`,
    `  curl ${base}/healthcheck              # excluded ('(health|status)check')`,
    `  curl '${base}/search?q=x&probe=1'     # excluded ('probe=1', in the query string)`,
    `  curl -X POST ${base}/users            # a session, and one more for the message`,
    `  curl ${base}/bugsnag/sessions         # the stats (no session: the route opts out)`,
    ''
  ].join('\n'))
}

function printSessions (request: CollectedRequest): void {
  if (request.path !== '/sessions') return
  const body = request.body as { sessionCounts?: unknown }
  console.log(`[collector] sessions received: ${JSON.stringify(body.sessionCounts)}`)
}
