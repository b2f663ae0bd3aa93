import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import type { FastifyErrorLike, Settings } from './options.js'
import { pathOf, type Exclusions } from './exclusions.js'
import { absoluteUrlOf } from './request-url.js'
import type { RequestClients, RequestState } from './request-client.js'
import type { SessionTracker } from './tracker.js'

type TrackedRequest = FastifyRequest & RequestState

export interface HookParts {
  settings: Settings
  tracker: SessionTracker
  exclusions: Exclusions
  clients: RequestClients
}

/** Route config that keeps a route's requests from starting sessions. */
export interface EasyBugsnagRouteConfig {
  /** `false`: requests to this route start no session. */
  bugsnagSessions?: boolean
}

/**
 * The request path. Everything here runs on every request, so it does the
 * least it can: one exclusion test, two increments (no clock read), and
 * (with `asyncContext`) one async context entered.
 */
export function requestHooks ({ settings, tracker, exclusions, clients }: HookParts) {
  const counting = tracker.enabled
  const testsExclusions = exclusions.size > 0
  const targetOf = settings.sessions.excludeUrlsMatch === 'url'
    ? (request: FastifyRequest) => absoluteUrlOf(request.protocol, request.host, sentUrl(request))
    : (request: FastifyRequest) => pathOf(sentUrl(request))
  // Route config is only read once some route has opted out, since reading it allocates.
  let routesOptOut = false
  let exclusionFailureLogged = false

  /** Whether an exclusion matches; a request whose URL cannot be tested is counted, never failed. */
  function excluded (request: FastifyRequest): boolean {
    try {
      return exclusions.isExcluded(targetOf(request))
    } catch (error) {
      if (!exclusionFailureLogged) {
        exclusionFailureLogged = true
        request.log.error({ err: error }, 'fastify-easy-bugsnag: could not test a request\'s URL against the exclusions; it starts a session (logged once)')
      }
      return false
    }
  }

  /** Decides once, before anything can rewrite the URL, whether the request starts a session. */
  function decideSession (request: TrackedRequest): void {
    // Requests that match no route are not sessions, as with the original (which starts
    // sessions once a route matched).
    if (!counting || request.is404) return
    if ((testsExclusions && excluded(request)) ||
      (routesOptOut && (request.routeOptions.config as EasyBugsnagRouteConfig).bugsnagSessions === false)) {
      tracker.exclude()
      return
    }
    clients.startSession(request)
  }

  // Everything after `done` (body parsing included: Fastify 5 reads the body within
  // the context the hook entered) runs in the request's context.
  function easyBugsnagOnRequest (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    decideSession(request as TrackedRequest)
    clients.context.run(request as TrackedRequest, done)
  }

  function easyBugsnagOnRequestWithoutContext (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    decideSession(request as TrackedRequest)
    done()
  }

  // Bugsnag's own server plugins report nothing by themselves when autoDetectErrors is off.
  const detectsErrors = clients.base._config.autoDetectErrors !== false

  function easyBugsnagOnError (request: FastifyRequest, _reply: FastifyReply, error: FastifyErrorLike, done: HookHandlerDoneFunction): void {
    if (!detectsErrors) return done()
    try {
      if (settings.shouldReportError(error, request)) clients.reportUnhandled(request as TrackedRequest, error)
    } catch (failure) {
      request.log.error({ err: failure }, 'fastify-easy-bugsnag: could not report an error')
    }
    done()
  }

  function easyBugsnagOnRoute (route: RouteOptions): void {
    if ((route.config as EasyBugsnagRouteConfig | undefined)?.bugsnagSessions === false) routesOptOut = true
  }

  return {
    onRequest: settings.asyncContext ? easyBugsnagOnRequest : easyBugsnagOnRequestWithoutContext,
    onError: easyBugsnagOnError,
    onRoute: easyBugsnagOnRoute
  }
}

/**
 * The request target as the client sent it. `rewriteUrl` keeps it as
 * `originalUrl` on the raw request; Fastify's own `request.originalUrl`
 * getter would add a property to every request it is read on.
 */
function sentUrl (request: FastifyRequest): string {
  const raw = request.raw as typeof request.raw & { originalUrl?: string }
  return raw.originalUrl ?? raw.url as string
}
