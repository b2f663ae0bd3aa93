/**
 * The request path alone, in process: what the plugin's onRequest hook does
 * (exclusion check, then a session counted or an exclusion counted, and with
 * `asyncContext` the context entered), in nanoseconds per request.
 *
 * It drives the real plugin: each case registers it on a Fastify app, keeps
 * the onRequest hook the plugin adds, and calls that hook on real request
 * objects that Fastify built for a request to the route (`/hello`, matched by
 * no pattern) and to `/health` (matched by the first pattern).
 *
 * Each configuration runs in a process of its own: in one process, the
 * plugin instances of earlier cases would leave V8's type feedback for the
 * plugin's functions (shared by all instances) more varied than any real app
 * makes it, and later cases would measure slower code.
 *
 * Run: npm run bench -- --micro   (or: npx tsx bench/micro.ts [--json])
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction } from 'fastify'
import { Collector } from '../lib/collector.js'
import { EXCLUDED_PATH, exclusionPatterns, ROUTE } from './patterns.js'
import { PLACEHOLDER_API_KEY } from './rows.js'
import { median, table } from './results.js'

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

interface Case {
  label: string
  patterns: number | null
  asyncContext: boolean | null
  path: string
  hook: Hook
  request: FastifyRequest
  reply: FastifyReply
  /** Sessions and exclusions the plugin counted, read after the measurement. */
  counts: () => Promise<{ started: number, excluded: number }>
  calls: number
  samples: number[]
}

export interface MicroResult {
  label: string
  patterns: number | null
  asyncContext: boolean | null
  path: string
  nsPerRequest: number
  /** Minus the cost of calling a hook that only calls `done`. */
  nsOverEmptyHook: number
  /** What the plugin counted: sessions started for the route, exclusions for /health. */
  check: string
}

const ITERATIONS = Number(process.env.BENCH_MICRO_ITERATIONS ?? 300_000)
const REPEATS = Number(process.env.BENCH_MICRO_REPEATS ?? 5)

function done (): void {}

async function requestsOf (app: FastifyInstance): Promise<Map<string, { request: FastifyRequest, reply: FastifyReply }>> {
  const seen = new Map<string, { request: FastifyRequest, reply: FastifyReply }>()
  for (const path of [ROUTE, EXCLUDED_PATH]) {
    const response = await app.inject({ method: 'GET', url: path })
    if (response.statusCode !== 200) throw new Error(`bench: ${path} answered ${response.statusCode}`)
  }
  for (const [path, entry] of captured) seen.set(path, entry)
  captured.clear()
  return seen
}

const captured = new Map<string, { request: FastifyRequest, reply: FastifyReply }>()

function routes (app: FastifyInstance): void {
  for (const path of [ROUTE, EXCLUDED_PATH]) {
    app.get(path, async (request, reply) => {
      captured.set(path, { request, reply })
      return { hello: 'world' }
    })
  }
}

type App = FastifyInstance
const apps: App[] = []

async function pluginCases (collector: Collector, patterns: number, asyncContext: boolean): Promise<Case[]> {
  const { default: easyBugsnag } = await import('../index.js')
  const app = Fastify({ logger: false })
  apps.push(app)
  const hooks: Hook[] = []
  const addHook = app.addHook
  // The plugin is registered without encapsulation, so it adds its hooks through this instance.
  app.addHook = function recordHook (this: App, name: string, hook: Hook) {
    if (name === 'onRequest') hooks.push(hook)
    return (addHook as unknown as (name: string, hook: Hook) => App).call(this, name, hook)
  } as unknown as App['addHook']
  await app.register(easyBugsnag, {
    apiKey: PLACEHOLDER_API_KEY,
    endpoints: collector.endpoints,
    asyncContext,
    sessionTracking: { enabled: true, excludeUrls: exclusionPatterns(patterns) }
  })
  routes(app)
  await app.ready()
  app.addHook = addHook
  const hook = hooks[0]
  if (hooks.length !== 1 || hook === undefined) throw new Error(`bench: expected one onRequest hook from the plugin, saw ${hooks.length}`)
  const requests = await requestsOf(app)
  const before = await app.bugsnagSessions.stats()
  const counts = async () => {
    const stats = await app.bugsnagSessions.stats()
    return { started: stats.started - before.started, excluded: stats.excluded - before.excluded }
  }
  const paths = patterns === 0 ? [ROUTE] : [ROUTE, EXCLUDED_PATH]
  return paths.map((path) => {
    const { request, reply } = requests.get(path) as { request: FastifyRequest, reply: FastifyReply }
    const what = path === ROUTE ? 'route (no pattern matches)' : `${path} (first pattern matches)`
    return {
      label: `plugin, ${patterns} patterns, asyncContext:${asyncContext}, ${what}`,
      patterns,
      asyncContext,
      path,
      hook,
      request,
      reply,
      counts,
      calls: 0,
      samples: []
    }
  })
}

async function referenceCases (): Promise<Case[]> {
  const app = Fastify({ logger: false })
  apps.push(app)
  routes(app)
  await app.ready()
  const { request, reply } = (await requestsOf(app)).get(ROUTE) as { request: FastifyRequest, reply: FastifyReply }
  const context = new AsyncLocalStorage<unknown>()
  const none = async () => ({ started: 0, excluded: 0 })
  const reference = (label: string, hook: Hook): Case =>
    ({ label, patterns: null, asyncContext: null, path: ROUTE, hook, request, reply, counts: none, calls: 0, samples: [] })
  return [
    reference('empty hook (only calls done)', function emptyHook (_request, _reply, next) { next() }),
    reference('context-only hook (AsyncLocalStorage run)', function contextOnly (request, _reply, next) { context.run(request, next) })
  ]
}

function measure (entry: Case): number {
  const { hook, request, reply } = entry
  const start = process.hrtime.bigint()
  for (let index = 0; index < ITERATIONS; index++) hook(request, reply, done)
  const elapsed = Number(process.hrtime.bigint() - start)
  entry.calls += ITERATIONS
  return elapsed / ITERATIONS
}

/** What one process measures: the reference hooks, or the plugin in one configuration. */
type Config = { kind: 'reference' } | { kind: 'plugin', patterns: number, asyncContext: boolean }

const CONFIGS: Config[] = [
  { kind: 'reference' },
  ...[false, true].flatMap((asyncContext) => [0, 1, 10, 100].map((patterns): Config => ({ kind: 'plugin', patterns, asyncContext })))
]

/** Measures one configuration's cases, in this process. */
async function measureConfig (config: Config): Promise<Array<Omit<MicroResult, 'nsOverEmptyHook'>>> {
  const collector = await Collector.start()
  try {
    const cases = config.kind === 'reference'
      ? await referenceCases()
      : await pluginCases(collector, config.patterns, config.asyncContext)

    // Warm every case up, then measure them in turns so that drift spreads over all of them.
    for (const entry of cases) measure(entry)
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const entry of cases) entry.samples.push(measure(entry))
    }

    const results: Array<Omit<MicroResult, 'nsOverEmptyHook'>> = []
    for (const entry of cases) {
      const counted = await entry.counts()
      const excluding = entry.path !== ROUTE
      const expected = excluding ? counted.excluded : counted.started
      results.push({
        label: entry.label,
        patterns: entry.patterns,
        asyncContext: entry.asyncContext,
        path: entry.path,
        nsPerRequest: median(entry.samples),
        check: entry.patterns === null
          ? '-'
          : `${excluding ? 'excluded' : 'sessions started'} +${expected} of ${entry.calls} calls${expected === entry.calls ? '' : ' (MISMATCH)'}`
      })
    }
    return results
  } finally {
    // Closing delivers the counted sessions to the collector, which closes last.
    for (const app of apps.splice(0)) await app.close()
    await collector.close()
  }
}

const run = promisify(execFile)

/** Every configuration, each in a process of its own, one after the other. */
export async function runMicro (): Promise<MicroResult[]> {
  const measured: Array<Omit<MicroResult, 'nsOverEmptyHook'>> = []
  for (const config of CONFIGS) {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--config', JSON.stringify(config)], {
      cwd: fileURLToPath(new URL('..', import.meta.url))
    })
    measured.push(...JSON.parse(stdout) as Array<Omit<MicroResult, 'nsOverEmptyHook'>>)
  }
  const empty = measured[0]?.nsPerRequest ?? 0
  return measured.map((result) => ({ ...result, nsOverEmptyHook: result.nsPerRequest - empty }))
}

export function microMarkdown (results: MicroResult[]): string {
  return table(
    ['onRequest hook, called directly', 'ns/request', 'ns over the empty hook', 'counted by the plugin'],
    results.map((result) => [
      result.label,
      result.nsPerRequest.toFixed(1),
      result.patterns === null && result.label.startsWith('empty') ? '-' : result.nsOverEmptyHook.toFixed(1),
      result.check
    ])
  )
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const configAt = process.argv.indexOf('--config')
  if (configAt !== -1) {
    process.stdout.write(`${JSON.stringify(await measureConfig(JSON.parse(process.argv[configAt + 1] as string) as Config))}\n`)
  } else {
    const results = await runMicro()
    if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results)}\n`)
    else console.log(microMarkdown(results))
  }
}
