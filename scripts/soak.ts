// Soak test: sustained load while the endpoint flips between healthy, failing and hung.
// Loopback only, bounded in requests and time. Run with `npm run soak`; options:
//   SOAK_REQUESTS (default 200000), SOAK_CONNECTIONS (50), SOAK_FLIP_MS (2000).
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import easyBugsnag from '../index.js'
import { Collector, type CollectorAnswer } from '../lib/collector.js'
import BugsnagModule from '@bugsnag/js'

const requests = Number(process.env.SOAK_REQUESTS ?? 200_000)
const connections = Number(process.env.SOAK_CONNECTIONS ?? 50)
const flipEvery = Number(process.env.SOAK_FLIP_MS ?? 2000)
const gc = (globalThis as { gc?: () => void }).gc

const modes: Array<[string, CollectorAnswer]> = [['healthy', { status: 202 }], ['500', { status: 500 }], ['hung', { hang: true }]]
let mode = 0
const collector = await Collector.start({ answer: () => (modes[mode] as [string, CollectorAnswer])[1] })
const flips = setInterval(() => { mode = (mode + 1) % modes.length }, flipEvery)

const app = Fastify()
await app.register(easyBugsnag, {
  client: BugsnagModule.default.createClient({
    apiKey: '0123456789abcdef0123456789abcdef',
    endpoints: collector.endpoints,
    logger: null,
    enabledErrorTypes: { unhandledExceptions: false, unhandledRejections: false }
  } as never),
  sessionTracking: { enabled: true, deliveryInterval: 1, deliveryTimeout: 1, excludeUrls: ['^/health$'] }
})
app.get('/', async () => ({ hello: 'world' }))
const url = await app.listen({ port: 0, host: '127.0.0.1' })

gc?.()
const heapBefore = process.memoryUsage().heapUsed
const started = performance.now()
const result = await autocannon({ url, connections, amount: requests, timeout: 10 })
const loadSeconds = (performance.now() - started) / 1000
clearInterval(flips)

// Healthy again: let the backoff run out, then deliver what is left.
mode = 0
for (let attempt = 0; attempt < 60 && (await app.bugsnagSessions.stats()).pending > 0; attempt++) {
  await app.bugsnagSessions.flush()
  await sleep(250)
}
const stats = await app.bugsnagSessions.stats()
gc?.()
const heapAfter = process.memoryUsage().heapUsed
await app.close()
await collector.close()

const acknowledged = collector.sessionsStarted
const ok = acknowledged === stats.delivered && stats.delivered + stats.dropped === stats.started && stats.pending === 0
console.log(JSON.stringify({
  requests: result.requests.total,
  non2xx: result.non2xx,
  errors: result.errors,
  loadSeconds: Math.round(loadSeconds * 10) / 10,
  requestsPerSecond: Math.round(result.requests.average),
  started: stats.started,
  delivered: stats.delivered,
  dropped: stats.dropped,
  pending: stats.pending,
  acknowledgedByCollector: acknowledged,
  deliveryAttempts: collector.received.length,
  deliveryFailures: stats.deliveryFailures,
  heapGrowthMiB: gc === undefined ? 'run with --expose-gc' : Math.round((heapAfter - heapBefore) / 1048576 * 100) / 100,
  verdict: ok ? 'acknowledged === delivered, delivered + dropped === started' : 'MISMATCH'
}, null, 2))
process.exitCode = ok ? 0 : 1
