import type { InternalClient } from './bugsnag.js'
import { cloneClient } from './bugsnag.js'
import type { RequestClients } from './request-client.js'
import { RequestSession } from './session.js'
import type { SessionTracker } from './tracker.js'

export interface WrapJobOptions {
  /**
   * The job's name, for handlers whose first argument is not a queue job
   * (a timer or cron task). A BullMQ job's own name is used otherwise.
   */
  name?: string
}

/** What a BullMQ `Job` (and most queue jobs) tells about itself. */
interface QueueJobLike {
  name?: unknown
  id?: unknown
  attemptsMade?: unknown
  queueName?: unknown
}

export interface JobSettings {
  /** Whether each run of a job starts a session (`sessionTracking.jobCountForSessions`). */
  countSessions: boolean
  /** Job names that never start a session (`sessionTracking.excludeJobs`). */
  excluded: ReadonlySet<string>
}

/**
 * Background jobs as sessions, as EasyBugsnag counted queue jobs and
 * Messenger messages: each run of a wrapped handler gets a client of its
 * own, in an async context of its own (so `Bugsnag.notify()` inside the job
 * lands on it), with a session when jobs are counted. What the handler
 * throws is reported as unhandled and thrown again, so that the queue's
 * retry rules stay in charge.
 */
export class Jobs {
  #clients: RequestClients
  #tracker: SessionTracker
  #settings: JobSettings

  constructor (clients: RequestClients, tracker: SessionTracker, settings: JobSettings) {
    this.#clients = clients
    this.#tracker = tracker
    this.#settings = settings
  }

  wrap<Args extends unknown[], Result> (
    handler: (...args: Args) => Result | Promise<Result>,
    options: WrapJobOptions = {}
  ): (...args: Args) => Promise<Result> {
    if (typeof handler !== 'function') {
      throw new TypeError(`fastify-easy-bugsnag: wrapJob() takes the job's handler, a function; got ${typeof handler}`)
    }
    const jobs = this
    return async function easyBugsnagJob (this: unknown, ...args: Args): Promise<Result> {
      const job = describeJob(args[0], options.name)
      const client = jobs.#clientFor(job)
      return jobs.#clients.context.run(client, async () => {
        try {
          return await handler.apply(this, args)
        } catch (error) {
          jobs.#report(client, error)
          throw error
        }
      })
    }
  }

  #clientFor (job: Record<string, unknown>): InternalClient {
    const client = cloneClient(this.#clients.base)
    client.addMetadata('job', job)
    const name = typeof job.name === 'string' ? job.name : undefined
    if (this.#settings.countSessions && this.#tracker.enabled && (name === undefined || !this.#settings.excluded.has(name))) {
      const now = Date.now()
      this.#tracker.startJob(now)
      client._session = new RequestSession(now, this.#tracker)
    }
    return client
  }

  #report (client: InternalClient, error: unknown): void {
    const event = client.Event.create(error, true, {
      severity: 'error',
      unhandled: true,
      severityReason: { type: 'unhandledException' }
    }, 'job handler', 1)
    this.#clients.send(client, event)
  }
}

/** The job's name, id and attempt where the queue provides them (BullMQ's `Job`). */
function describeJob (first: unknown, name: string | undefined): Record<string, unknown> {
  const job: Record<string, unknown> = {}
  if (typeof first === 'object' && first !== null) {
    const { name: jobName, id, attemptsMade, queueName } = first as QueueJobLike
    if (typeof jobName === 'string') job.name = jobName
    if (id !== undefined) job.id = id
    if (typeof attemptsMade === 'number') job.attempt = attemptsMade + 1
    if (typeof queueName === 'string') job.queue = queueName
  }
  if (name !== undefined) job.name = name
  return job
}
