import BugsnagModule from '@bugsnag/js'
import type { Client, Event, Logger } from '@bugsnag/js'
import type { FastifyBaseLogger } from 'fastify'

/**
 * The parts of a Bugsnag Node client that are not in its public types but
 * that every official server plugin relies on (Express, Koa, Restify, Hono).
 * They are named here once, so that the rest of the plugin reads typed.
 */
export interface BugsnagInternals {
  _config: {
    apiKey: string
    autoDetectErrors?: boolean
    releaseStage?: string
    appVersion?: string
    appType?: string
    /** Bugsnag's Node configuration defaults it to the machine's hostname. */
    hostname: string
    enabledReleaseStages: string[] | null
    endpoints: { notify: string, sessions: string } | null
    agent?: import('node:http').Agent
    onUncaughtException: (error: unknown, event: Event, logger: Logger) => void
  }
  _notifier: { name: string, version: string, url: string }
  _logger: Logger
  _cbs: { e: unknown[], s: Array<(session: unknown) => unknown>, sp: unknown[], b: unknown[] }
  _session: SessionLike | null
  _pausedSession?: SessionLike | null
  _sessionDelegate: SessionDelegate
  _clientContext: ClientContext
  _breadcrumbs: unknown[]
  _metadata: Record<string, unknown>
  _features: unknown[]
  _featuresIndex: Record<string, unknown>
  _user: Record<string, unknown>
  _context: string | undefined
  _delivery: unknown
  _notify (event: Event, onError?: unknown, postReportCallback?: (error: unknown) => void): void
  Client: new (opts: object, schema: object, plugins: unknown[], notifier: unknown) => InternalClient
  Event: {
    create (error: unknown, tolerateNonErrors: boolean, handledState: object, component: string, errorFramesToSkip: number): Event
  }
}

export type InternalClient = Client & BugsnagInternals

/** What Bugsnag's core needs of a session: counting and serialising. */
export interface SessionLike {
  _track (event: Event): void
  toJSON (): unknown
}

export interface SessionDelegate {
  startSession (client: InternalClient, session: SessionLike): InternalClient
  pauseSession (client: InternalClient): void
  resumeSession (client: InternalClient): InternalClient
}

/** The async-local store Bugsnag reads its request-scoped client from. */
export interface ClientContext {
  getStore (): unknown
  run<R> (store: unknown, fn: () => R): R
}

// The package is CommonJS whose types describe an ES default export; `.default` is the
// notifier both at run time and in the types.
const Bugsnag = BugsnagModule.default

export function internals (client: Client): InternalClient {
  return client as InternalClient
}

/** Bugsnag's logger on top of the Fastify one, so that its lines land in the app's log. */
export function bugsnagLogger (log: FastifyBaseLogger): Logger {
  return {
    debug: (...args: unknown[]) => log.debug(args.map(String).join(' ')),
    info: (...args: unknown[]) => log.info(args.map(String).join(' ')),
    warn: (...args: unknown[]) => log.warn(args.map(String).join(' ')),
    error: (...args: unknown[]) => log.error(args.map(String).join(' '))
  }
}

/**
 * Starts the process-wide client when there is none, so that
 * `Bugsnag.notify()` works anywhere; otherwise creates one of the plugin's
 * own and says once that static calls reach the first.
 */
export function startClient (config: Record<string, unknown>, log: FastifyBaseLogger): InternalClient {
  // resolveSettings made sure apiKey is there.
  const settings = { logger: bugsnagLogger(log), ...config } as unknown as { apiKey: string }
  if (!Bugsnag.isStarted()) return internals(Bugsnag.start(settings))
  log.warn('fastify-easy-bugsnag: Bugsnag was already started elsewhere; this plugin uses a client of its own, and static Bugsnag.* calls reach the first one')
  return internals(Bugsnag.createClient(settings))
}

/**
 * A request-scoped copy of the base client, as Bugsnag's own server plugins
 * make: configuration, logger and delivery shared; breadcrumbs, metadata,
 * user and callbacks copied so that the request changes only its own.
 */
export function cloneClient (base: InternalClient): InternalClient {
  const clone = new base.Client({}, {}, [], base._notifier)
  clone._config = base._config
  clone._breadcrumbs = base._breadcrumbs.slice()
  clone._metadata = { ...base._metadata }
  clone._features = base._features.slice()
  clone._featuresIndex = { ...base._featuresIndex }
  clone._user = { ...base._user }
  clone._context = base._context
  clone._cbs = { e: base._cbs.e.slice(), s: base._cbs.s.slice(), sp: base._cbs.sp.slice(), b: base._cbs.b.slice() }
  clone._logger = base._logger
  clone._delivery = base._delivery
  clone._sessionDelegate = base._sessionDelegate
  return clone
}
