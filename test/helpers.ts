import BugsnagModule from '@bugsnag/js'
import type { Client } from '@bugsnag/js'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import easyBugsnag, { type EasyBugsnagOptions } from '../index.js'
import { Collector, type CollectorAnswer, type CollectedRequest } from '../lib/collector.js'

export const Bugsnag: typeof BugsnagModule.default = BugsnagModule.default
export const API_KEY = '0123456789abcdef0123456789abcdef'

export interface Setup {
  app: FastifyInstance
  collector: Collector
  client: Client
}

export interface SetupOptions {
  plugin?: Partial<EasyBugsnagOptions>
  /** Extra Bugsnag settings for the client the test creates. */
  bugsnag?: Record<string, unknown>
  fastify?: FastifyServerOptions
  answer?: (request: CollectedRequest) => CollectorAnswer
  /** Plugins registered before this one. */
  before?: (app: FastifyInstance) => void | Promise<void>
  /** Routes and plugins added before `ready()`. */
  routes?: (app: FastifyInstance) => void | Promise<void>
}

/**
 * A Fastify app with the plugin, a real Bugsnag client and a real collector
 * on 127.0.0.1, closed when the test ends.
 */
export async function setup (t: Test, options: SetupOptions = {}): Promise<Setup> {
  const collector = await Collector.start({ answer: options.answer })
  const client = createClient(collector, options.bugsnag)
  const app = Fastify(options.fastify)
  t.teardown(async () => {
    await app.close()
    await collector.close()
  })
  await options.before?.(app)
  await app.register(easyBugsnag, {
    client,
    ...options.plugin,
    sessionTracking: { enabled: true, ...options.plugin?.sessionTracking }
  } as EasyBugsnagOptions)
  app.get('/ok', async () => ({ ok: true }))
  await options.routes?.(app)
  await app.ready()
  return { app, collector, client }
}

/** A client of its own (never the process-wide one) that delivers to the collector. */
export function createClient (collector: Collector, settings: Record<string, unknown> = {}): Client {
  return Bugsnag.createClient({
    apiKey: API_KEY,
    endpoints: collector.endpoints,
    logger: null,
    // Each client would add process-wide handlers; tests create many clients.
    enabledErrorTypes: { unhandledExceptions: false, unhandledRejections: false },
    sendCode: false,
    ...settings
  } as never)
}

/** A Fastify logger that keeps its lines for assertions. */
export function recordingLogger (): { lines: Array<Record<string, unknown>>, stream: { write (line: string): void } } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } }
}

export interface EventBody {
  events: Array<{
    unhandled: boolean
    severity: string
    context?: string
    exceptions: Array<{ errorClass: string, errorMessage: string }>
    session?: { id: string, startedAt: string, events: { handled: number, unhandled: number } }
    request?: { httpMethod: string, url: string, headers: Record<string, string>, clientIp?: string, body?: unknown }
    metaData?: Record<string, Record<string, unknown>>
  }>
}

export function eventsOf (collector: Collector): EventBody['events'] {
  return collector.eventPayloads.flatMap((request) => (request.body as EventBody).events)
}

export function sessionCountsOf (collector: Collector): Array<{ startedAt: string, sessionsStarted: number }> {
  return collector.sessionPayloads.flatMap((request) =>
    (request.body as { sessionCounts: Array<{ startedAt: string, sessionsStarted: number }> }).sessionCounts)
}

/** Waits, on real timers, until `condition` holds; fails after `timeout` ms. */
export async function until (condition: () => boolean | Promise<boolean>, timeout = 5000): Promise<void> {
  const deadline = performance.now() + timeout
  while (!await condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeout} ms`)
    await sleep(5)
  }
}
