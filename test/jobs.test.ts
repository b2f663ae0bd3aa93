import { setTimeout as sleep } from 'node:timers/promises'
import { Queue, Worker, type Job } from 'bullmq'
import Fastify from 'fastify'
import { test } from 'tap'
import easyBugsnag from '../index.js'
import { Collector } from '../lib/collector.js'
import { createClient, eventsOf, setup, until } from './helpers.js'
import { startRedis } from './redis-server.js'

const jobsOn = { plugin: { sessionTracking: { jobCountForSessions: true } } }

test('each run of a wrapped job is a session; what it throws is reported and thrown again', async (t) => {
  const { app, collector } = await setup(t, jobsOn)
  let runs = 0
  const nightly = app.bugsnagSessions.wrapJob(async (day: string) => {
    runs++
    app.bugsnag.notify(new Error(`checked ${day}`))
    await sleep(2)
    if (day === 'sunday') throw new Error('no reports on sundays')
    return `report for ${day}`
  }, { name: 'nightly-report' })

  t.equal(await nightly('monday'), 'report for monday')
  await t.rejects(nightly('sunday'), { message: 'no reports on sundays' })
  await collector.waitFor(() => collector.eventPayloads.length === 3)

  t.equal(runs, 2)
  const stats = await app.bugsnagSessions.stats()
  t.same({ started: stats.started, jobSessions: stats.jobSessions, unhandledErrors: stats.unhandledErrors, handledErrors: stats.handledErrors },
    { started: 2, jobSessions: 2, unhandledErrors: 1, handledErrors: 2 })
  const events = eventsOf(collector)
  const crash = events.find((event) => event.unhandled)
  t.equal(crash?.exceptions[0]?.errorMessage, 'no reports on sundays')
  t.same(crash?.metaData?.job, { name: 'nightly-report' })
  t.same(crash?.session?.events, { handled: 1, unhandled: 1 })
  t.equal(events.find((event) => event.exceptions[0]?.errorMessage === 'checked sunday')?.session?.id, crash?.session?.id)
  t.not(events.find((event) => event.exceptions[0]?.errorMessage === 'checked monday')?.session?.id, crash?.session?.id)
})

test('with jobCountForSessions off, jobs report errors without sessions', async (t) => {
  const { app, collector } = await setup(t)
  const job = app.bugsnagSessions.wrapJob(() => { throw new Error('sync failure') })

  await t.rejects(job(), { message: 'sync failure' })
  await collector.waitFor(() => collector.eventPayloads.length === 1)

  t.equal(eventsOf(collector)[0]?.session, undefined)
  t.equal((await app.bugsnagSessions.stats()).started, 0)
})

test('excludeJobs names jobs that never start a session', async (t) => {
  const { app } = await setup(t, { plugin: { sessionTracking: { jobCountForSessions: true, excludeJobs: ['heartbeat'] } } })
  const heartbeat = app.bugsnagSessions.wrapJob(() => 'beat', { name: 'heartbeat' })
  const other = app.bugsnagSessions.wrapJob((job: { name: string, id: string, attemptsMade: number }) => job.id)

  t.equal(await heartbeat(), 'beat')
  t.equal(await other({ name: 'email', id: '7', attemptsMade: 0 }), '7')

  t.same(await app.bugsnagSessions.stats().then((stats) => [stats.started, stats.jobSessions]), [1, 1])
})

test('a job started inside a request gets its own session; the request keeps one', async (t) => {
  const { app, collector } = await setup(t, {
    ...jobsOn,
    routes: (app) => {
      const sendEmail = app.bugsnagSessions.wrapJob(async () => { app.bugsnag.notify(new Error('in the job')) }, { name: 'email' })
      app.get('/signup', async () => {
        app.bugsnag.notify(new Error('in the request'))
        await sendEmail()
        app.bugsnag.notify(new Error('in the request again'))
        return 'ok'
      })
    }
  })

  for (let i = 0; i < 10; i++) await app.inject('/signup')
  await collector.waitFor(() => collector.eventPayloads.length === 30)

  const stats = await app.bugsnagSessions.stats()
  t.same([stats.started, stats.jobSessions], [20, 10])
  const events = eventsOf(collector)
  const jobSessions = new Set(events.filter((event) => event.exceptions[0]?.errorMessage === 'in the job').map((event) => event.session?.id))
  const requestSessions = new Set(events.filter((event) => event.exceptions[0]?.errorMessage !== 'in the job').map((event) => event.session?.id))
  t.equal(jobSessions.size, 10)
  t.equal(requestSessions.size, 10)
  t.equal([...jobSessions].filter((id) => requestSessions.has(id)).length, 0)
})

test('wrapJob refuses what is not a function', async (t) => {
  const { app } = await setup(t)
  t.throws(() => app.bugsnagSessions.wrapJob('send' as never), {
    message: "fastify-easy-bugsnag: wrapJob() takes the job's handler, a function; got string"
  })
})

test('a worker-only instance that never listens delivers its job sessions at close', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const worker = Fastify()
  await worker.register(easyBugsnag, { client: createClient(collector), sessionTracking: { enabled: true, jobCountForSessions: true } })
  await worker.ready()

  const task = worker.bugsnagSessions.wrapJob(() => 'done', { name: 'cleanup' })
  for (let i = 0; i < 7; i++) await task()
  await worker.close()

  t.equal(collector.sessionsStarted, 7)
})

test('BullMQ: 50 jobs, 5 failing once, give 55 sessions and 5 unhandled events on their own sessions', async (t) => {
  const redis = await startRedis(t)
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }
  const { app, collector } = await setup(t, jobsOn)
  const queue = new Queue('emails', { connection })
  t.teardown(() => queue.close())

  const failedOnce = new Set<string>()
  const worker = new Worker('emails', app.bugsnagSessions.wrapJob(async (job: Job<{ n: number }>) => {
    if (job.data.n % 10 === 0 && !failedOnce.has(String(job.id))) {
      failedOnce.add(String(job.id))
      throw new Error(`smtp down for ${job.data.n}`)
    }
    return job.data.n
  }), { connection, concurrency: 5 })
  t.teardown(() => worker.close())
  let completed = 0
  worker.on('completed', () => { completed++ })

  await queue.addBulk(Array.from({ length: 50 }, (_, n) => ({
    name: 'welcome', data: { n }, opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } }
  })))
  await until(() => completed === 50, 20_000)
  await app.bugsnagSessions.flush()
  await collector.waitFor(() => collector.eventPayloads.length === 5)

  t.equal(collector.sessionsStarted, 55)
  const stats = await app.bugsnagSessions.stats()
  t.same([stats.started, stats.jobSessions, stats.unhandledErrors], [55, 55, 5])
  const events = eventsOf(collector)
  t.equal(events.length, 5)
  t.equal(new Set(events.map((event) => event.session?.id)).size, 5, 'each on its own session')
  for (const event of events) {
    t.same(event.session?.events, { handled: 0, unhandled: 1 })
    t.match(event.metaData?.job, { name: 'welcome', attempt: 1, queue: 'emails' })
  }
})
