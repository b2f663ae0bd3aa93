import { AsyncLocalStorage } from 'node:async_hooks'
import type { Event } from '@bugsnag/js'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { cloneClient, type ClientContext, type InternalClient, type SessionDelegate, type SessionLike } from './bugsnag.js'
import { RequestSession } from './session.js'
import { within } from './time-limit.js'
import type { SessionTracker } from './tracker.js'

export const kSessionStart = Symbol('easyBugsnag.sessionStart')

/**
 * Per-request state. Every request gets one number, in a slot decorated on
 * all requests so that their shape never changes; the objects a few
 * requests need (the session, the request's client) live in a WeakMap.
 */
export interface RequestState {
  /** When the request's session started (ms since the epoch, or the minute it is counted in), or 0: no session. */
  [kSessionStart]: number
}

interface RequestObjects {
  session: RequestSession | null
  client: InternalClient | null
}

type TrackedRequest = FastifyRequest & RequestState

/** What the async context holds: the request, or a client a job or `contextualize` runs in. */
type ContextStore = TrackedRequest | InternalClient

const REDACTED = '[REDACTED]'

/**
 * Builds each request's Bugsnag client when first needed, and makes the base
 * client's request-aware paths (static `Bugsnag.*` calls, breadcrumbs, the
 * uncaught exception handler) find it through the request's async context.
 */
export class RequestClients {
  readonly context = new AsyncLocalStorage<ContextStore>()
  readonly base: InternalClient
  #objects = new WeakMap<FastifyRequest, RequestObjects>()
  #tracker: SessionTracker
  #redactedHeaders: Set<string>
  #log: FastifyBaseLogger
  #restore: Array<() => void> = []
  // Events the plugin reported that Bugsnag's delivery has not finished with: close() waits for them.
  #reporting = new Set<Promise<void>>()

  constructor (base: InternalClient, tracker: SessionTracker, redactedHeaders: string[], log: FastifyBaseLogger) {
    this.base = base
    this.#tracker = tracker
    this.#redactedHeaders = new Set(redactedHeaders)
    this.#log = log
  }

  /**
   * Points the base client's async context at ours and, when sessions are
   * counted, takes over how sessions start, so that Bugsnag's own tracker
   * never counts or sends a request's session a second time.
   */
  install (): void {
    const base = this.base
    const originalContext = base._clientContext
    const context: ClientContext = {
      getStore: () => {
        const store = this.context.getStore()
        if (store === undefined) return originalContext?.getStore()
        return isClient(store) ? store : this.of(store)
      },
      run: (store, fn) => this.context.run(store as ContextStore, fn)
    }
    base._clientContext = context
    this.#restore.push(() => { base._clientContext = originalContext })

    if (!this.#tracker.enabled) return
    const originalDelegate = base._sessionDelegate
    base._sessionDelegate = this.#sessionDelegate()
    this.#restore.push(() => { base._sessionDelegate = originalDelegate })
  }

  /** Gives the base client back what `install` changed. */
  uninstall (): void {
    for (const restore of this.#restore.splice(0).reverse()) restore()
  }

  /**
   * Starts the request's session: counted at once with two increments, its
   * objects built only when something needs them. Its `startedAt` is the
   * minute it is counted in, as with the original. The client's onSession
   * callbacks, when there are any, run first and may refuse it.
   */
  startSession (request: TrackedRequest): void {
    if (this.base._cbs.s.length === 0) {
      request[kSessionStart] = this.#tracker.countRequest()
      return
    }
    const now = Date.now()
    const session = this.#admit(now)
    if (session === null) return
    this.#objects.set(request, { session, client: null })
    request[kSessionStart] = now
  }

  /** The request's own client, built on first use. */
  of (request: TrackedRequest): InternalClient {
    const objects = this.#objectsOf(request)
    if (objects.client !== null) return objects.client

    const client = cloneClient(this.base)
    client._session = objects.session
    // In front, so that the app's own callbacks see (and may change) the request data.
    ;(client.addOnError as (fn: (event: Event) => void, front: boolean) => void)(
      (event: Event) => this.#describeRequest(event, request), true)
    objects.client = client
    return client
  }

  /** The request's objects, its session built from its start time when it has one. */
  #objectsOf (request: TrackedRequest): RequestObjects {
    let objects = this.#objects.get(request)
    if (objects === undefined) {
      const start = request[kSessionStart]
      objects = { session: start === 0 ? null : new RequestSession(start, this.#tracker), client: null }
      this.#objects.set(request, objects)
    }
    return objects
  }

  /**
   * Sends an event the plugin built (an error it reports by itself), and
   * keeps track of it until Bugsnag's delivery is done with it.
   */
  send (client: InternalClient, event: Event): void {
    const reported = new Promise<void>((resolve) => { client._notify(event, undefined, () => resolve()) })
    this.#reporting.add(reported)
    reported.then(() => this.#reporting.delete(reported))
  }

  /** Resolves once every event sent so far is delivered (or given up by Bugsnag), or after `ms`. */
  async settle (ms: number): Promise<void> {
    if (this.#reporting.size === 0) return
    await within(Promise.all(this.#reporting).then(() => true), ms, false)
  }

  /** Reports an error that reached Fastify's error path as unhandled, on the request's session. */
  reportUnhandled (request: TrackedRequest, error: unknown): void {
    const client = this.of(request)
    const event = client.Event.create(error, true, {
      severity: 'error',
      unhandled: true,
      severityReason: { type: 'unhandledErrorMiddleware', attributes: { framework: 'Fastify' } }
    }, 'fastify onError hook', 1)
    this.send(client, event)
  }

  /** Runs onSession callbacks, newest first, as Bugsnag does; null when one refused. */
  #admit (now: number): RequestSession | null {
    const session = new RequestSession(now, null)
    const callbacks = this.base._cbs.s
    for (let index = callbacks.length - 1; index >= 0; index--) {
      try {
        if ((callbacks[index] as (session: unknown) => unknown)(session) === false) return null
      } catch (error) {
        this.#log.error({ err: error }, 'fastify-easy-bugsnag: an onSession callback threw; the session starts anyway')
      }
    }
    this.#tracker.start(now)
    session.countIn(this.#tracker)
    return session
  }

  #sessionDelegate (): SessionDelegate {
    const delegate: SessionDelegate = {
      startSession: (client) => {
        // One session per request: a request or job that has one keeps it.
        if (client._session !== null && client._session !== undefined) return client
        const now = Date.now()
        this.#tracker.start(now)
        client._session = new RequestSession(now, this.#tracker)
        client._pausedSession = null
        return client
      },
      pauseSession: (client) => {
        client._pausedSession = client._session
        client._session = null
      },
      resumeSession: (client) => {
        if (client._session !== null && client._session !== undefined) return client
        if (client._pausedSession !== null && client._pausedSession !== undefined) {
          client._session = client._pausedSession as SessionLike
          client._pausedSession = null
          return client
        }
        return delegate.startSession(client, null as never)
      }
    }
    return delegate
  }

  #describeRequest (event: Event, request: TrackedRequest): void {
    const headers: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(request.headers)) {
      headers[name] = this.#redactedHeaders.has(name) ? REDACTED : value
    }
    const url = `${request.protocol}://${request.host}${request.originalUrl}`
    const routePattern = request.routeOptions.url ?? null

    event.request = {
      httpMethod: request.method,
      url,
      headers,
      clientIp: request.ip,
      referer: request.headers.referer,
      ...(request.body === undefined ? {} : { body: request.body })
    } as Event['request']
    if (!event.context) {
      event.context = `${request.method} ${routePattern ?? request.originalUrl}`
    }
    event.addMetadata('request', {
      id: request.id,
      method: request.method,
      url,
      routePattern,
      params: request.params,
      query: request.query
    })
  }
}

function isClient (store: ContextStore): store is InternalClient {
  return typeof (store as InternalClient)._notify === 'function'
}
