import type { Client } from '@bugsnag/js'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { internals, startClient, type InternalClient } from './lib/bugsnag.js'
import type { DeliveryTarget, PayloadSource } from './lib/delivery.js'
import { deliverBeforeCrash } from './lib/crash.js'
import { ALREADY_REGISTERED, EasyBugsnagError, invalidOption } from './lib/errors.js'
import { compileExclusions } from './lib/exclusions.js'
import { Jobs } from './lib/jobs.js'
import { requestHooks, type EasyBugsnagRouteConfig } from './lib/hooks.js'
import { resolveSettings, type EasyBugsnagOptions, type Settings } from './lib/options.js'
import { RequestClients, kSessionStart } from './lib/request-client.js'
import type { SessionStore } from './lib/store.js'
import { FileSessionStore } from './lib/stores/file.js'
import { MemorySessionStore } from './lib/stores/memory.js'
import { SessionTracker, type BugsnagSessions } from './lib/tracker.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The base Bugsnag client. */
    bugsnag: Client
    /** Session stats, flush and exclusion checks. */
    bugsnagSessions: BugsnagSessions
  }
  interface FastifyRequest {
    /** The request's own Bugsnag client, carrying its session when it has one. */
    readonly bugsnag: Client
  }
  interface FastifyContextConfig extends EasyBugsnagRouteConfig {}
}

async function easyBugsnag (fastify: FastifyInstance, options: EasyBugsnagOptions): Promise<void> {
  const settings = resolveSettings(options)
  if (fastify.hasDecorator('bugsnagSessions')) {
    throw new EasyBugsnagError(
      ALREADY_REGISTERED,
      'fastify-easy-bugsnag is already registered on this instance or a parent of it; register it once, at the root'
    )
  }
  const log = fastify.log.child({ plugin: 'fastify-easy-bugsnag' })
  const client = settings.client === undefined ? startClient(settings.clientConfig, log) : internals(settings.client)

  const { sessions } = settings
  const exclusions = compileExclusions({
    patterns: sessions.excludeUrls,
    delimiter: sessions.excludeUrlsDelimiter,
    match: sessions.excludeUrlsMatch,
    allowUnsafePatterns: sessions.allowUnsafePatterns
  })
  for (const warning of exclusions.warnings) log.warn(`fastify-easy-bugsnag: ${warning}`)
  const disabledReason = sessionsDisabledReason(settings, client)
  const tracker = new SessionTracker({
    settings: sessions,
    store: openStore(settings),
    exclusions,
    disabledReason,
    target: deliveryTarget(client, settings),
    payload: payloadSource(client, fastify.version),
    log
  })
  const clients = new RequestClients(client, tracker, settings.redactedHeaders, log)
  clients.install()
  const undoCrashDelivery = deliverBeforeCrash(client, tracker)

  fastify.decorate('bugsnag', client as Client)
  const jobs = new Jobs(clients, tracker, {
    countSessions: sessions.jobCountForSessions,
    excluded: new Set(sessions.excludeJobs)
  })
  const bugsnagSessions: BugsnagSessions = Object.freeze({
    stats: () => tracker.stats(),
    flush: () => tracker.flush(),
    isExcluded: (url: string) => tracker.isExcluded(url),
    wrapJob: jobs.wrap.bind(jobs) as BugsnagSessions['wrapJob']
  })
  fastify.decorate('bugsnagSessions', bugsnagSessions)
  fastify.decorateRequest(kSessionStart, 0)
  fastify.decorateRequest('bugsnag', {
    getter () { return clients.of(this as never) as Client }
  })

  const hooks = requestHooks({ settings, tracker, exclusions, clients })
  fastify.addHook('onRoute', hooks.onRoute)
  fastify.addHook('onRequest', hooks.onRequest)
  fastify.addHook('onError', hooks.onError)
  fastify.addHook('onClose', async function easyBugsnagOnClose () {
    // The errors the plugin reported are sent while the sessions are delivered, both within closeTimeout.
    await Promise.all([clients.settle(settings.sessions.closeTimeout), tracker.close()])
    clients.uninstall()
    undoCrashDelivery()
  })

  log.info({
    sessions: tracker.enabled ? 'tracked' : 'not tracked',
    reason: disabledReason ?? undefined,
    exclusions: exclusions.size,
    endpoint: client._config.endpoints?.sessions ?? null
  }, 'fastify-easy-bugsnag ready')
}

function openStore (settings: Settings): SessionStore {
  const { sessions } = settings
  const store = sessions.cache === 'memory'
    ? new MemorySessionStore({ maxBuckets: sessions.maxBuckets })
    : sessions.cache === 'file' ? new FileSessionStore({ directory: sessions.cacheDirectory }) : sessions.cache
  try {
    store.configure?.({ cacheExpiresAfter: sessions.cacheExpiresAfter / 1000, namespace: sessions.cacheNamespace })
  } catch (error) {
    throw invalidOption('sessionTracking.cache', `a store that accepts the plugin's settings (its configure() threw: ${(error as Error).message})`, sessions.cache)
  }
  return store
}

/** Null when sessions are counted; otherwise the reason, for the stats and the start-up line. */
function sessionsDisabledReason (settings: Settings, client: InternalClient): string | null {
  const config = client._config
  if (!settings.sessions.enabled) return 'sessionTracking.enabled is false'
  if (Array.isArray(config.enabledReleaseStages) && !config.enabledReleaseStages.includes(config.releaseStage as string)) {
    return `releaseStage "${config.releaseStage}" is not in enabledReleaseStages`
  }
  if (config.endpoints === null || typeof config.endpoints?.sessions !== 'string') {
    return 'the Bugsnag client has no sessions endpoint (set both endpoints.notify and endpoints.sessions)'
  }
  return null
}

function deliveryTarget (client: InternalClient, settings: Settings): DeliveryTarget {
  return {
    url: client._config.endpoints?.sessions ?? '',
    apiKey: client._config.apiKey,
    agent: client._config.agent,
    timeout: settings.sessions.deliveryTimeout
  }
}

function payloadSource (client: InternalClient, fastifyVersion: string): PayloadSource {
  const config = client._config
  return {
    notifier: client._notifier,
    hostname: config.hostname,
    releaseStage: config.releaseStage,
    appVersion: config.appVersion,
    appType: config.appType,
    fastifyVersion
  }
}

const plugin = fp(easyBugsnag, { fastify: '5.x', name: 'fastify-easy-bugsnag' })

export default plugin
export { plugin as easyBugsnag }
export { EasyBugsnagError, INVALID_OPTION, INVALID_EXCLUSION, ALREADY_REGISTERED, NO_CLIENT } from './lib/errors.js'
export { MemorySessionStore, type MemorySessionStoreOptions } from './lib/stores/memory.js'
export { FileSessionStore, type FileSessionStoreOptions } from './lib/stores/file.js'
export { RedisSessionStore, type RedisSessionStoreOptions, type RedisClient, type RedisConnectionOptions } from './lib/stores/redis.js'
export type { EasyBugsnagOptions, SessionTrackingOptions } from './lib/options.js'
export type { SessionBucket, SessionStore, StoreSettings, TakenBuckets, PendingSessions } from './lib/store.js'
export type { BugsnagSessions, SessionStats } from './lib/tracker.js'
export type { ExclusionVerdict } from './lib/exclusions.js'
export type { EasyBugsnagRouteConfig } from './lib/hooks.js'
export type { WrapJobOptions } from './lib/jobs.js'
