// A BullMQ worker whose jobs count as Bugsnag sessions, as EasyBugsnag's
// queue_job_count_for_sessions did for Laravel queues.
//
//   redis-server --port 6390 --bind 127.0.0.1 --save '' &
//   REDIS_PORT=6390 npx tsx examples/bullmq-worker.ts
//
// Without BUGSNAG_API_KEY it delivers to a local collector on 127.0.0.1 and
// prints the session payloads; it enqueues 20 jobs, 2 of which fail on their
// first attempt, then closes after the queue drains.
import { Queue, Worker, type Job } from 'bullmq'
import Fastify from 'fastify'
import easyBugsnag from '../index.js'
import { Collector } from '../lib/collector.js'

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), maxRetriesPerRequest: null }
const apiKey = process.env.BUGSNAG_API_KEY
const collector = apiKey === undefined
  ? await Collector.start({
    onRequest: (request) => {
      if (request.path === '/sessions') console.log('[collector] sessions', JSON.stringify((request.body as { sessionCounts: unknown }).sessionCounts))
      else console.log('[collector] event', JSON.stringify((request.body as { events: Array<{ exceptions: unknown[], metaData: unknown }> }).events[0]?.metaData))
    }
  })
  : null

// A Fastify instance that never listens: it is here for its plugins.
const app = Fastify({ logger: { level: 'warn' } })
await app.register(easyBugsnag, {
  apiKey: apiKey ?? '0123456789abcdef0123456789abcdef',
  ...(collector === null ? {} : { endpoints: collector.endpoints }),
  sessionTracking: { enabled: true, jobCountForSessions: true, deliveryInterval: 5 }
})

const failedOnce = new Set<string>()
const worker = new Worker('emails', app.bugsnagSessions.wrapJob(async (job: Job<{ to: string }>) => {
  // Inside a job, notify() on the base client (or the static Bugsnag.notify() when the
  // plugin started the process-wide client) lands on the job's session.
  if (job.data.to.endsWith('@bounce.test') && !failedOnce.has(String(job.id))) {
    failedOnce.add(String(job.id))
    app.bugsnag.notify(new Error(`soft bounce for ${job.data.to}`))
    throw new Error(`mail server refused ${job.data.to}`)
  }
  return 'sent'
}), { connection, concurrency: 4 })

const queue = new Queue('emails', { connection })
await queue.addBulk(Array.from({ length: 20 }, (_, n) => ({
  name: 'welcome',
  data: { to: n % 10 === 0 ? `user${n}@bounce.test` : `user${n}@shop.test` },
  opts: { attempts: 2, backoff: { type: 'fixed', delay: 100 } }
})))

let completed = 0
await new Promise<void>((resolve) => worker.on('completed', () => { if (++completed === 20) resolve() }))
await worker.close()
await queue.close()
await app.close()
console.log('stats', await app.bugsnagSessions.stats())
await collector?.close()
