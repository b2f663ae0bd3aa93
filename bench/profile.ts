/**
 * CPU profiles of benchmarked servers: each row's server runs under
 * `node --cpu-prof` while autocannon loads it, and its profile is summed up:
 * where the server's CPU time goes by kind of code, and which functions cost
 * the most, by themselves and with what they call.
 *
 * Run: npm run bench -- --profile p10-ctx   (the row and its baselines)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import { basename, join, relative } from 'node:path'
import { Collector } from '../lib/collector.js'
import { ROOT, ServerChild } from './child.js'
import { load } from './load.js'
import { ROUTE } from './patterns.js'
import { machine, table } from './results.js'
import type { Row } from './rows.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** The samples taken between `from` and `to` (µs, the profile's clock); all of them when none is. */
function samplesBetween (profile: CpuProfile, from: number, to: number): number[] {
  const kept: number[] = []
  let at = profile.startTime
  for (let index = 0; index < profile.samples.length; index++) {
    at += profile.timeDeltas[index] ?? 0
    if (at >= from && at <= to) kept.push(profile.samples[index] as number)
  }
  return kept.length > 0 ? kept : profile.samples
}

export interface ProfileSummary {
  row: Row
  requests: number
  cpuPerRequest: number
  /** Share of the samples (idle excluded) by kind of code. */
  kinds: Map<string, number>
  /** Top functions by self time. */
  self: Array<[string, number]>
  /** The plugin's functions (and the context's), by their own time and the natives they call. */
  inclusive: Array<[string, number]>
  /** Share of Fastify's hook runner (fastify/lib/hooks.js): the price of having an onRequest hook at all. */
  hookRunner: number
}

const PROFILE_WARMUP = 2

function where (node: ProfileNode): string {
  const { url, lineNumber } = node.callFrame
  if (url === '') return ''
  const path = url.startsWith('file://') ? relative(ROOT, new URL(url).pathname) : url
  // tsx compiles our TypeScript sources without keeping their lines: the file says enough.
  if (path.endsWith('.ts')) return ` ${path}`
  return ` ${path.startsWith('node_modules/') ? path.replace(/^node_modules\/((@[^/]+\/)?[^/]+)\/.*$/, '$1/…/') + basename(path) : path}:${lineNumber + 1}`
}

function nameOf (node: ProfileNode): string {
  return `${node.callFrame.functionName === '' ? '(anonymous)' : node.callFrame.functionName}${where(node)}`
}

const PLUGIN = 'the plugin (index.ts, lib/)'
const CONTEXT = 'async context (async_hooks, promise hooks)'

/** What kind of code a frame is, for the shares by kind. */
function kindOf (node: ProfileNode): string {
  const { url, functionName } = node.callFrame
  if (functionName === '(garbage collector)') return 'garbage collector'
  if (functionName === '(program)' || functionName === '(root)') return 'V8 and native (program)'
  if (url === '') return 'native, called from no JavaScript'
  if (url.includes('async_hooks') || url.includes('async_local_storage') || /^promise(Init|Before|After|Resolve)Hook$/.test(functionName)) {
    return CONTEXT
  }
  if (url.startsWith('file://')) {
    const path = relative(ROOT, new URL(url).pathname)
    if (path === 'index.ts' || path.startsWith('lib/')) return PLUGIN
    if (path.startsWith('bench/')) return 'the bench server (route handler)'
    const match = /^node_modules\/((@[^/]+\/)?[^/]+)\//.exec(path)
    if (match !== null) return match[1] === 'fastify' || (match[1] as string).startsWith('@fastify/') || match[1] === 'find-my-way' || match[1] === 'light-my-request' ? 'Fastify and its modules' : `${match[1]}`
  }
  if (url.startsWith('node:')) return 'Node core (http, net, streams, timers; with the socket writes they make)'
  return 'other'
}

export function summarise (profile: CpuProfile, samples: number[], row: Row, requests: number, cpuPerRequest: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const kinds = new Map<string, number>()
  const self = new Map<string, number>()
  const owners = new Map<string, number>()
  let total = 0
  let hookRunner = 0
  for (const id of samples) {
    const node = byId.get(id) as ProfileNode
    if (node.callFrame.functionName === '(idle)') continue
    total++
    self.set(nameOf(node), (self.get(nameOf(node)) ?? 0) + 1)
    const owner = ownerOf(id, byId, parent)
    if (owner.callFrame.url.endsWith('/node_modules/fastify/lib/hooks.js')) hookRunner++
    const kind = kindOf(owner)
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
    if (kind === PLUGIN || kind === CONTEXT) owners.set(nameOf(owner), (owners.get(nameOf(owner)) ?? 0) + 1)
  }
  const share = (entries: Map<string, number>) => [...entries].map(([name, count]): [string, number] => [name, count / total]).sort((a, b) => b[1] - a[1])
  return {
    row,
    requests,
    cpuPerRequest,
    kinds: new Map(share(kinds)),
    self: share(self).slice(0, 15),
    inclusive: share(owners).slice(0, 15),
    hookRunner: total === 0 ? 0 : hookRunner / total
  }
}

/**
 * What a row's profile says its plugin costs, as a throughput ratio: shares
 * within one profile do not move with the machine's speed, which makes
 * end-to-end throughput swing by a quarter here. A server spends share s of
 * its CPU on something, so without it it would serve 1 / (1 - s) as much:
 * the ratio with it is 1 - s. Against bare Fastify, s is the plugin's own
 * code plus Fastify's hook runner, which only runs when there is an
 * onRequest hook; against the context-only hook, which has both the hook
 * runner and the context, only the plugin's own code.
 */
function estimates (summaries: ProfileSummary[]): string[] {
  const bare = summaries.find((summary) => summary.row.id === 'fastify')
  const lines: string[] = []
  for (const summary of summaries) {
    const { row } = summary
    if (row.setup.kind !== 'plugin') continue
    const own = summary.kinds.get(PLUGIN) ?? 0
    const hooks = summary.hookRunner - (bare?.hookRunner ?? 0)
    const parts = [`\`${row.id}\`: the plugin's own code ${percent(own)} of the server's CPU, Fastify's hook runner ${percent(summary.hookRunner)}` +
      (bare === undefined ? '' : ` (bare Fastify: ${percent(bare.hookRunner)})`)]
    // With the context on, bare Fastify also lacks the context, whose price these shares leave out.
    if (row.contextBaseline !== undefined) parts.push(`ratio to the context-only hook about **${(1 - own).toFixed(3)}**`)
    else if (bare !== undefined) parts.push(`ratio to bare Fastify about **${(1 - own - hooks).toFixed(3)}**`)
    lines.push(`- ${parts.join('; ')}`)
  }
  return lines
}

/**
 * The JavaScript function a sample is charged to: the sampled function, or
 * for a native one (a syscall, a regex match, a builtin) the nearest
 * JavaScript function that called it. A hook's `done()` continues the request
 * inside the hook's stack, so "everything under the hook" would charge the
 * whole rest of the request to it; this charges each function only its own
 * work and the natives it calls.
 */
function ownerOf (id: number, byId: Map<number, ProfileNode>, parent: Map<number, number>): ProfileNode {
  const leaf = byId.get(id) as ProfileNode
  if (leaf.callFrame.url !== '' || leaf.callFrame.functionName.startsWith('(')) return leaf
  for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at) as ProfileNode
    if (frame.callFrame.url !== '') return frame
  }
  return leaf
}

async function profileOne (row: Row, options: { seconds: number, connections: number }): Promise<ProfileSummary> {
  const dir = mkdtempSync(join(os.tmpdir(), `easy-bugsnag-profile-${row.id}-`))
  const collector = await Collector.start()
  try {
    const child = await ServerChild.start(row, {
      env: { BENCH_COLLECTOR: collector.url, BENCH_FILE_DIR: join(dir, 'store') },
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`]
    })
    const url = `${child.url}${ROUTE}`
    await load({ url, connections: options.connections, duration: PROFILE_WARMUP })
    const begun = await child.begin()
    await load({ url, connections: options.connections, duration: options.seconds })
    const cpu = await child.end()
    await child.stop()
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
    if (file === undefined) throw new Error(`bench: no CPU profile written for ${row.id}`)
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
    // Only the measured load: not start-up, warm-up or close.
    const samples = samplesBetween(profile, begun.at, cpu.at)
    return summarise(profile, samples, row, cpu.served, (cpu.user + cpu.system) / Math.max(cpu.served, 1))
  } finally {
    await collector.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const percent = (value: number) => `${(value * 100).toFixed(1)} %`

export async function profileRows (rows: Row[], options: { seconds: number, connections: number, command: string }): Promise<string> {
  const summaries: ProfileSummary[] = []
  for (const row of rows) {
    console.log(`bench: profiling ${row.id} for ${options.seconds} s`)
    summaries.push(await profileOne(row, options))
  }
  // Kinds of code that weigh something in at least one profile.
  const kinds = [...new Set(summaries.flatMap((summary) => [...summary.kinds].filter(([, value]) => value >= 0.002).map(([kind]) => kind)))]
  const lines = [
    '## CPU profiles',
    '',
    machine(),
    `- Command: \`${options.command}\` (each server alone under \`node --cpu-prof\`, ${PROFILE_WARMUP} s of warm-up, then ${options.seconds} s ` +
      `of autocannon -c ${options.connections}; shares are of the server's non-idle samples, µs are shares of its measured CPU per request)`,
    '',
    '### Where the server\'s CPU goes, by kind of code',
    '',
    'Each sample is charged to the JavaScript function running, or for a native (a syscall, a regex match, a builtin) to the JavaScript ' +
      'function that called it; so the plugin\'s share is its own work, not the rest of the request that its hook continues with `done()`.',
    '',
    table(['kind of code', ...summaries.map((summary) => `${summary.row.id}: share (µs/request)`)], kinds.map((kind) => [
      kind,
      ...summaries.map((summary) => {
        const value = summary.kinds.get(kind) ?? 0
        return `${percent(value)} (${(value * summary.cpuPerRequest).toFixed(2)})`
      })
    ])),
    '',
    table(['', ...summaries.map((summary) => summary.row.id)], [
      ['requests profiled', ...summaries.map((summary) => String(summary.requests))],
      ['server CPU µs/request (with the profiler on)', ...summaries.map((summary) => summary.cpuPerRequest.toFixed(1))]
    ])
  ]
  const estimated = estimates(summaries)
  if (estimated.length > 0) {
    lines.push('', '### What the profiles say the plugin costs', '',
      'A share of one profile does not move with the machine\'s speed, which makes end-to-end throughput swing by a quarter on this machine. ' +
      'A server that spends a share s of its CPU on something would serve 1 / (1 − s) as much without it: with it, its ratio is 1 − s. ' +
      'Against bare Fastify, s is the plugin\'s own code and Fastify\'s hook runner (which runs only when there is an onRequest hook); against ' +
      'the context-only hook, which has the hook runner and the context too, only the plugin\'s own code. Sampled about once per millisecond.',
      '', ...estimated)
  }
  for (const summary of summaries) {
    lines.push('', `### ${summary.row.label} (\`${summary.row.id}\`)`, '')
    lines.push(table(['function (self time)', 'share', 'µs/request'], summary.self.map(([name, value]) =>
      [`\`${name}\``, percent(value), (value * summary.cpuPerRequest).toFixed(2)])))
    if (summary.inclusive.length > 0) {
      lines.push('')
      lines.push(table(['plugin and async-context function (own time and the natives it calls)', 'share', 'µs/request'], summary.inclusive.map(([name, value]) =>
        [`\`${name}\``, percent(value), (value * summary.cpuPerRequest).toFixed(2)])))
    }
  }
  return lines.join('\n')
}
