/**
 * One benchmarked server, in a child process of its own so that its CPU time
 * and heap are its own. It is built from the row in BENCH_ROW, listens on
 * 127.0.0.1 on a free port, and answers the parent over IPC (bench/child.ts):
 * CPU time between `begin` and `end`, heap after forced GC, `stop`.
 *
 * Run by bench/run.ts and bench/memory.ts: node --expose-gc --import tsx bench/server.ts
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import BugsnagModule from '@bugsnag/js'
import BugsnagPluginExpressModule from '@bugsnag/plugin-express'
import express from 'express'
import Fastify, { type FastifyInstance, type FastifyPluginCallback } from 'fastify'
import fp from 'fastify-plugin'
import { exclusionPatterns, ROUTE } from './patterns.js'
import { PLACEHOLDER_API_KEY, type PluginSetup, type Row } from './rows.js'
import type { ChildMessage, ParentMessage } from './child.js'

const Bugsnag = BugsnagModule.default
const BugsnagPluginExpress = BugsnagPluginExpressModule.default ?? BugsnagPluginExpressModule
const require = createRequire(import.meta.url)

const row = JSON.parse(requiredEnv('BENCH_ROW')) as Row
const collector = requiredEnv('BENCH_COLLECTOR')
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(collector)) throw new Error(`bench: the collector must be on 127.0.0.1, got ${collector}`)
const endpoints = { notify: `${collector}/notify`, sessions: `${collector}/sessions` }
// The memory check's route throws on every n-th request (0: never).
const throwEvery = Number(process.env.BENCH_THROW_EVERY ?? 0)

function requiredEnv (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`bench/server.ts: ${name} is not set`)
  return value
}

let served = 0
function hello (): { hello: string } {
  served++
  if (throwEvery > 0 && served % throwEvery === 0) throw new Error(`bench: failure of request ${served}`)
  return { hello: 'world' }
}

async function fastifyServer (): Promise<{ server: Server, close: () => Promise<void> }> {
  const app = Fastify({ logger: false })
  const { setup } = row
  if (setup.kind === 'context-hook') {
    const context = new AsyncLocalStorage<unknown>()
    app.addHook('onRequest', function contextOnly (request, _reply, done) {
      context.run(request, done)
    })
  } else if (setup.kind === 'plugin') {
    await registerPlugin(app, setup.plugin)
  } else if (setup.kind === 'fastify-bugsnag') {
    await app.register(fastifyBugsnagBypassingVersionCheck(), {
      apiKey: PLACEHOLDER_API_KEY,
      endpoints,
      logger: null
    })
  }
  app.get(ROUTE, async () => hello())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { server: app.server, close: () => app.close() }
}

async function registerPlugin (app: FastifyInstance, setup: PluginSetup): Promise<void> {
  const { default: easyBugsnag, ...exported } = await import('../index.js') as Record<string, unknown> & { default: FastifyPluginCallback<Record<string, unknown>> }
  const sessionTracking: Record<string, unknown> = {
    enabled: setup.enabled,
    excludeUrls: exclusionPatterns(setup.patterns),
    // Servers that share one Redis keep their counts apart.
    cacheNamespace: `easy_bugsnag_bench_${row.id.replace(/\W/g, '_')}`
  }
  if (setup.store === 'file') {
    sessionTracking.cache = 'file'
    sessionTracking.cacheDirectory = requiredEnv('BENCH_FILE_DIR')
  } else if (setup.store === 'redis') {
    const Store = exported.RedisSessionStore as new (options: { client: unknown }) => unknown
    const { Redis } = require('ioredis') as { Redis: new (options: object) => { quit (): Promise<unknown> } }
    const client = new Redis({ host: '127.0.0.1', port: Number(requiredEnv('BENCH_REDIS_PORT')) })
    app.addHook('onClose', async () => { await client.quit() })
    sessionTracking.cache = new Store({ client })
  }
  await app.register(easyBugsnag, {
    apiKey: PLACEHOLDER_API_KEY,
    endpoints,
    releaseStage: 'production',
    asyncContext: setup.asyncContext,
    sessionTracking
  })
}

/**
 * fastify-bugsnag 1.1.0 declares Fastify ^4 in its plugin metadata, so
 * Fastify 5 refuses it. Its plugin function is called from a wrapper of our
 * own that declares no version; the plugin itself runs unchanged.
 */
function fastifyBugsnagBypassingVersionCheck (): FastifyPluginCallback<Record<string, unknown>> {
  // Loaded untyped: its declarations augment `fastify` with another @bugsnag/js version's types.
  const loaded = require('fastify-bugsnag') as { default: FastifyPluginCallback<Record<string, unknown>> }
  const original = loaded.default
  return fp(function fastifyBugsnagWithoutVersionCheck (instance, options, done) {
    original(instance, options, done)
  }, { name: 'fastify-bugsnag-bench-wrapper' })
}

async function expressServer (): Promise<{ server: Server, close: () => Promise<void> }> {
  const app = express()
  app.disable('x-powered-by')
  let errorHandler: express.ErrorRequestHandler | null = null
  if (row.setup.kind === 'plugin-express') {
    Bugsnag.start({
      apiKey: PLACEHOLDER_API_KEY,
      endpoints,
      autoTrackSessions: true,
      logger: null,
      plugins: [BugsnagPluginExpress]
    })
    const middleware = Bugsnag.getPlugin('express')
    if (middleware === undefined) throw new Error('bench: @bugsnag/plugin-express did not load')
    app.use(middleware.requestHandler)
    errorHandler = middleware.errorHandler
  }
  app.get(ROUTE, (_request, response) => { response.json(hello()) })
  if (errorHandler !== null) app.use(errorHandler)
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, '127.0.0.1', (error?: Error) => error === undefined ? resolve(listening) : reject(error))
  })
  return {
    server,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

function send (message: ChildMessage): void {
  process.send?.(message)
}

/** The clock of V8's CPU profiles (µs), so that a profile can be cut to a measured round. */
function monotonicMicros (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

function heapAfterGc (): number {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error('bench/server.ts needs --expose-gc')
  // Several passes: the first ones may only promote what the last one frees.
  for (let pass = 0; pass < 4; pass++) gc()
  return process.memoryUsage().heapUsed
}

const { server, close } = row.framework === 'express' ? await expressServer() : await fastifyServer()
let cpuAtBegin = process.cpuUsage()
let servedAtBegin = 0

// A server whose parent is gone has nobody to serve: it never outlives the bench.
process.on('disconnect', () => process.exit(0))

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'begin':
      servedAtBegin = served
      cpuAtBegin = process.cpuUsage()
      send({ type: 'begun', at: monotonicMicros() })
      break
    case 'end': {
      const cpu = process.cpuUsage(cpuAtBegin)
      send({ type: 'cpu', user: cpu.user, system: cpu.system, served: served - servedAtBegin, at: monotonicMicros() })
      break
    }
    case 'heap':
      send({ type: 'heap', heapUsed: heapAfterGc(), served })
      break
    case 'stop':
      close().then(() => {
        // Exiting (rather than waiting for every handle to close) also writes a --cpu-prof profile.
        process.send?.({ type: 'stopped' } satisfies ChildMessage, () => process.exit(0))
      }, (error: unknown) => {
        console.error(error)
        process.exit(1)
      })
      break
  }
})

send({ type: 'ready', port: (server.address() as AddressInfo).port, pid: process.pid })
