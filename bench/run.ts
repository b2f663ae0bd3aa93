/**
 * End-to-end benchmark: every server of bench/rows.ts in a child process of
 * its own on 127.0.0.1, loaded in turn by autocannon (-c 32) against a
 * hello-world JSON route, round after round, the order rotating each round.
 * Within a round each server is measured right between two measurements of
 * its baseline(s), and its ratio is taken against their mean: on a machine
 * shared with other work, only measurements seconds apart compare. Then the
 * heap of each server after forced GC once it has served 300,000 requests,
 * and the in-process micro-benchmark of the request path. Writes
 * bench/RESULTS.md.
 *
 *   npm run bench                     everything (about 4 minutes on 2 cores)
 *   npm run bench -- --micro          the micro-benchmark only
 *   npm run bench -- --no-micro       the end-to-end part only
 *   npm run bench -- --only p10,p10-ctx   some rows (their baselines are added)
 *   npm run bench -- --all            also the rows marked extra (stores with asyncContext:true)
 *   npm run bench -- --profile p10-ctx    CPU profiles of a row and its baselines
 *
 * Settings (flag or environment): --rounds / BENCH_ROUNDS (5), --duration /
 * BENCH_DURATION (seconds per measurement, 1), --warmup / BENCH_WARMUP (seconds,
 * 1), --prewarm / BENCH_PREWARM (unmeasured seconds of load right before each
 * measurement, 0.3), --connections / BENCH_CONNECTIONS (32), --heap-requests /
 * BENCH_HEAP_REQUESTS (300000), --heap-budget / BENCH_HEAP_BUDGET (seconds for
 * topping every server up to that many requests, 60), --profile-seconds /
 * BENCH_PROFILE_SECONDS (10), --no-write.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import os from 'node:os'
import { delimiter, join } from 'node:path'
import { parseArgs } from 'node:util'
import { Collector } from '../lib/collector.js'
import { ROOT, ServerChild } from './child.js'
import { load } from './load.js'
import { microMarkdown, type MicroResult } from './micro.js'
import { ROUTE } from './patterns.js'
import { profileRows } from './profile.js'
import { commandLine, machine, median, table, writeSection } from './results.js'
import { ROWS, type Row } from './rows.js'

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    prewarm: { type: 'string' },
    connections: { type: 'string' },
    'heap-requests': { type: 'string' },
    'heap-budget': { type: 'string' },
    'profile-seconds': { type: 'string' },
    only: { type: 'string' },
    all: { type: 'boolean', default: false },
    micro: { type: 'boolean', default: false },
    'no-micro': { type: 'boolean', default: false },
    profile: { type: 'string' },
    'no-write': { type: 'boolean', default: false }
  }
})

function setting (flag: string | undefined, variable: string, fallback: number): number {
  const value = Number(flag ?? process.env[variable] ?? fallback)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`bench: ${variable} must be a positive number`)
  return value
}

const settings = {
  rounds: Math.round(setting(flags.rounds, 'BENCH_ROUNDS', 5)),
  duration: setting(flags.duration, 'BENCH_DURATION', 1),
  warmup: setting(flags.warmup, 'BENCH_WARMUP', 1),
  prewarm: setting(flags.prewarm, 'BENCH_PREWARM', 0.3),
  connections: Math.round(setting(flags.connections, 'BENCH_CONNECTIONS', 32)),
  heapRequests: Math.round(setting(flags['heap-requests'], 'BENCH_HEAP_REQUESTS', 300_000)),
  heapBudget: setting(flags['heap-budget'], 'BENCH_HEAP_BUDGET', 60),
  profileSeconds: setting(flags['profile-seconds'], 'BENCH_PROFILE_SECONDS', 10)
}
const write = !flags['no-write']

interface Measured {
  row: Row
  rps: number[]
  p99: number[]
  cpuPerRequest: number[]
  ratio: number[]
  contextRatio: number[]
  heapStart: number
  heapEnd: number
  heapServed: number
  sessions: number
  events: number
  failures: number
}

// --- which rows can run here ---

function onPath (command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, command), constants.X_OK)
      return true
    } catch {}
  }
  return false
}

async function availability (): Promise<Map<string, string>> {
  const exported = await import('../index.js') as Record<string, unknown>
  const skipped = new Map<string, string>()
  for (const row of ROWS) {
    if (row.needs !== undefined && typeof exported[row.needs] !== 'function') {
      skipped.set(row.id, `the package does not export ${row.needs} yet`)
    } else if (row.needs === 'RedisSessionStore' && !onPath('redis-server')) {
      skipped.set(row.id, 'redis-server is not on PATH')
    }
  }
  return skipped
}

function selectRows (skipped: Map<string, string>): Row[] {
  const wanted = flags.only === undefined ? null : new Set(flags.only.split(',').map((id) => id.trim()))
  if (wanted !== null) {
    for (const id of wanted) if (!ROWS.some((row) => row.id === id)) throw new Error(`bench: no row ${id}; rows: ${ROWS.map((row) => row.id).join(', ')}`)
    for (const row of ROWS) {
      if (!wanted.has(row.id)) continue
      wanted.add(row.baseline)
      if (row.contextBaseline !== undefined) wanted.add(row.contextBaseline)
    }
  }
  return ROWS.filter((row) => !skipped.has(row.id) &&
    (wanted === null ? flags.all || row.extra !== true : wanted.has(row.id)))
}

// --- the services the rows need, all on 127.0.0.1 ---

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}

async function startRedis (): Promise<{ port: number, stop: () => Promise<void> }> {
  const port = await freePort()
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore'
  })
  const deadline = Date.now() + 10_000
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = new Socket()
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
      socket.connect(port, '127.0.0.1')
    })
    if (up) break
    if (Date.now() > deadline) throw new Error('bench: redis-server did not start')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // Never left behind, whatever ends the bench.
  const kill = () => { redis.kill('SIGTERM') }
  process.once('exit', kill)
  return {
    port,
    stop: () => new Promise((resolve) => {
      process.removeListener('exit', kill)
      if (redis.exitCode !== null) return resolve()
      redis.once('exit', () => resolve())
      redis.kill('SIGTERM')
    })
  }
}

// --- the end-to-end run ---

/** The rows a row is compared with, measured right before and right after it. */
function baselinesOf (row: Row): string[] {
  const ids = row.id === row.baseline ? [] : [row.baseline]
  if (row.contextBaseline !== undefined && row.contextBaseline !== row.id) ids.push(row.contextBaseline)
  return ids
}

/**
 * One round: every row once, in an order rotated from round to round, each
 * between measurements of its baselines, so that each ratio compares
 * measurements a second or two apart whatever else the machine is doing.
 */
function schedule (rows: Row[], round: number): string[] {
  const compared = rows.filter((row) => baselinesOf(row).length > 0)
  const order = compared.map((_row, index) => compared[(index + round) % compared.length] as Row)
  if (round % 2 === 1) order.reverse()
  const sequence: string[] = []
  let since: string[] = []
  for (const row of order) {
    for (const id of baselinesOf(row)) if (!since.includes(id)) sequence.push(id)
    sequence.push(row.id)
    since = baselinesOf(row)
    sequence.push(...since)
  }
  return sequence
}

interface Measurement {
  id: string
  rps: number
}

/** This measurement over the mean of its baseline's measurements right before and right after it. */
function pairedRatio (sequence: Measurement[], index: number, baseline: string): number | null {
  const own = sequence[index] as Measurement
  let before: Measurement | undefined
  let after: Measurement | undefined
  for (let at = index - 1; at >= 0 && before === undefined; at--) if (sequence[at]?.id === baseline) before = sequence[at]
  for (let at = index + 1; at < sequence.length && after === undefined; at++) if (sequence[at]?.id === baseline) after = sequence[at]
  const around = [before, after].filter((entry): entry is Measurement => entry !== undefined)
  if (around.length === 0) return null
  return own.rps / (around.reduce((sum, entry) => sum + entry.rps, 0) / around.length)
}

async function endToEnd (rows: Row[], skipped: Map<string, string>): Promise<void> {
  const started = Date.now()
  const loadBefore = os.loadavg()
  const fileDir = mkdtempSync(join(os.tmpdir(), 'easy-bugsnag-bench-'))
  const redis = rows.some((row) => row.needs === 'RedisSessionStore') ? await startRedis() : null
  const collectors = new Map<string, Collector>()
  const children = new Map<string, ServerChild>()
  try {
    for (const row of rows) {
      const collector = await Collector.start()
      collectors.set(row.id, collector)
      children.set(row.id, await ServerChild.start(row, {
        env: {
          BENCH_COLLECTOR: collector.url,
          BENCH_FILE_DIR: join(fileDir, row.id),
          ...(redis === null ? {} : { BENCH_REDIS_PORT: String(redis.port) })
        }
      }))
    }
    const measured = new Map<string, Measured>(rows.map((row) => [row.id, {
      row, rps: [], p99: [], cpuPerRequest: [], ratio: [], contextRatio: [], heapStart: 0, heapEnd: 0, heapServed: 0, sessions: 0, events: 0, failures: 0
    }]))

    console.log(`bench: ${rows.length} servers, ${settings.rounds} rounds, ${settings.duration} s per measurement, -c ${settings.connections}`)
    for (const child of children.values()) {
      await run(child, settings.warmup)
      const { heapUsed } = await child.heap()
      ;(measured.get(child.row.id) as Measured).heapStart = heapUsed
    }

    for (let round = 0; round < settings.rounds; round++) {
      const sequence: Measurement[] = []
      for (const id of schedule(rows, round)) {
        const child = children.get(id) as ServerChild
        // A server that sat idle while the others ran starts cold (caches, a heap shrunk when idle): warm it before each measurement,
        // or the baselines, measured most often, would have an edge.
        await run(child, settings.prewarm)
        await child.begin()
        const result = await run(child, settings.duration)
        const cpu = await child.end()
        const entry = measured.get(id) as Measured
        entry.rps.push(result.requestsPerSecond)
        entry.p99.push(result.p99)
        entry.cpuPerRequest.push((cpu.user + cpu.system) / Math.max(cpu.served, 1))
        entry.failures += result.errors + result.non2xx
        sequence.push({ id, rps: result.requestsPerSecond })
      }
      sequence.forEach((measurement, index) => {
        const entry = measured.get(measurement.id) as Measured
        const { row } = entry
        if (row.id === row.baseline) return
        const ratio = pairedRatio(sequence, index, row.baseline)
        if (ratio !== null) entry.ratio.push(ratio)
        if (row.contextBaseline === undefined || row.contextBaseline === row.id) return
        const contextRatio = pairedRatio(sequence, index, row.contextBaseline)
        if (contextRatio !== null) entry.contextRatio.push(contextRatio)
      })
      console.log(`bench: round ${round + 1}/${settings.rounds} (${sequence.length} measurements): ` +
        [...measured.values()].map((entry) => `${entry.row.id} ${Math.round(entry.rps.at(-1) ?? 0)}`).join(', '))
    }

    // Top every server up to the same number of requests, within a time budget shared by all.
    const heapDeadline = Date.now() + settings.heapBudget * 1000
    let left = children.size
    for (const child of children.values()) {
      const entry = measured.get(child.row.id) as Measured
      let heap = await child.heap()
      const missing = settings.heapRequests - heap.served
      const limit = Math.max(1, Math.floor((heapDeadline - Date.now()) / 1000 / left))
      left--
      if (missing > 0) {
        // Pipelined: the heap after so many requests does not depend on how they came, and this is quicker.
        await load({ url: `${child.url}${ROUTE}`, connections: settings.connections, pipelining: 8, amount: missing, limit })
        heap = await child.heap()
      }
      entry.heapEnd = heap.heapUsed
      entry.heapServed = heap.served
    }

    // Closing delivers what each plugin has pending to its own collector.
    for (const child of children.values()) await child.stop()
    for (const [id, collector] of collectors) {
      const entry = measured.get(id) as Measured
      entry.sessions = collector.sessionsStarted
      entry.events = collector.eventPayloads.length
    }

    const seconds = Math.round((Date.now() - started) / 1000)
    const markdown = benchMarkdown([...measured.values()], skipped, seconds, loadBefore)
    console.log(markdown)
    if (write) writeSection('bench', markdown)
  } finally {
    for (const child of children.values()) await child.stop().catch(() => {})
    for (const collector of collectors.values()) await collector.close()
    await redis?.stop()
    rmSync(fileDir, { recursive: true, force: true })
  }
}

function run (child: ServerChild, duration: number) {
  return load({ url: `${child.url}${ROUTE}`, connections: settings.connections, duration })
}

// --- the report ---

const fixed = (value: number, digits: number) => Number.isFinite(value) ? value.toFixed(digits) : '-'
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

function ratioCell (values: number[]): string {
  if (values.length === 0) return '-'
  return `**${fixed(median(values), 3)}** (${fixed(Math.min(...values), 2)}–${fixed(Math.max(...values), 2)})`
}

function benchMarkdown (entries: Measured[], skipped: Map<string, string>, seconds: number, loadBefore: number[]): string {
  const byId = new Map(entries.map((entry) => [entry.row.id, entry]))
  const rows = entries.map((entry) => {
    const { row } = entry
    const baseline = byId.get(row.baseline)?.row.label ?? row.baseline
    return [
      row.label,
      fixed(median(entry.rps), 0),
      `${fixed(Math.min(...entry.rps), 0)}..${fixed(Math.max(...entry.rps), 0)}`,
      row.id === row.baseline ? '1 (baseline)' : `${ratioCell(entry.ratio)} of ${baseline === 'bare Fastify' ? 'bare Fastify' : baseline}`,
      row.contextBaseline === undefined ? '-' : row.id === row.contextBaseline ? '1 (baseline)' : ratioCell(entry.contextRatio),
      fixed(median(entry.p99), 0),
      fixed(median(entry.cpuPerRequest), 1),
      `${mib(entry.heapStart)} → ${mib(entry.heapEnd)}${entry.heapServed < settings.heapRequests * 0.99 ? ` (only ${Math.round(entry.heapServed / 1000)}k)` : ''}`,
      String(entry.sessions),
      entry.failures === 0 ? '0' : `**${entry.failures}**`
    ]
  })
  const target = (id: string, key: 'ratio' | 'contextRatio', name: string) => {
    const entry = byId.get(id)
    if (entry === undefined) return `- ${name}: not run`
    const value = median(entry[key])
    return `- ${name}: **${fixed(value, 3)}** (target ≥ 0.97: ${value >= 0.97 ? 'met' : 'MISSED'})`
  }
  const costOf = (a: string, b: string) => {
    const many = byId.get(a)
    const few = byId.get(b)
    if (many === undefined || few === undefined) return null
    const cpu = median(many.cpuPerRequest) - median(few.cpuPerRequest)
    return `${fixed(median(many.rps) / median(few.rps), 3)} (ratio of median req/s; server CPU per request ${cpu >= 0 ? '+' : ''}${fixed(cpu, 1)} µs)`
  }
  const skippedLines = [...skipped].map(([id, reason]) => `- not run: ${ROWS.find((row) => row.id === id)?.label ?? id}: ${reason}.`)
  return [
    '## End to end',
    '',
    machine(),
    `- Command: \`${commandLine('bench')}\` (${settings.rounds} rounds, ${settings.duration} s per measurement, each right after ${settings.prewarm} s of unmeasured load on the same server, ` +
      `after ${settings.warmup} s of warm-up per server; autocannon -c ${settings.connections} against GET ${ROUTE} on 127.0.0.1; ${seconds} s in all)`,
    `- Load average when the run started: ${loadBefore.map((value) => value.toFixed(2)).join(', ')} (other work shares this machine: compare ratios, not req/s)`,
    '- Each server runs in its own child process (`node --expose-gc --import tsx bench/server.ts`); the plugin is loaded from its TypeScript source.',
    '- Rounds alternate: every round loads each server once, in an order rotated (and reversed every other round) from round to round, ' +
      'each right between two measurements of its baseline(s). A ratio is the median over rounds of (this measurement / the mean of the ' +
      'baseline measurements just before and just after it), with the range over rounds in brackets. Baselines are measured many times: ' +
      'their req/s columns cover all their measurements.',
    '- Every Bugsnag client sends to a local collector on 127.0.0.1 (one per server) with a placeholder API key; nothing leaves the machine.',
    '- fastify-bugsnag 1.1.0 declares Fastify ^4 in its plugin metadata, so Fastify 5 refuses it: the bench calls its plugin function from a wrapper ' +
      'of its own without that check; its code runs unchanged. It starts no sessions.',
    '- Express + @bugsnag/plugin-express is a ratio of bare Express (its own baseline), with `autoTrackSessions: true`.',
    ...skippedLines,
    '',
    table([
      'server', 'req/s (median)', 'req/s min..max', 'ratio to baseline', 'ratio to context-only hook', 'p99 ms',
      'server CPU µs/request', `heap MiB after GC: warm → after ≥${Math.round(settings.heapRequests / 1000)}k requests`, 'sessions received', 'errors / non-2xx'
    ], rows),
    '',
    '"sessions received": sessions the server\'s Bugsnag client delivered to its collector, the last at close ' +
      '(@bugsnag/plugin-express delivers every 10 s and not at close, so its last seconds are missing).',
    '',
    '### Targets (sessions on, errors attributed, 10 exclusion patterns)',
    '',
    target('p10', 'ratio', '`asyncContext: false`, ratio to bare Fastify'),
    target('p10-ctx', 'contextRatio', '`asyncContext: true`, ratio to the context-only hook'),
    target('p10-ctx', 'ratio', '`asyncContext: true`, ratio to bare Fastify (for reference)'),
    ...[['p100', 'p1', '100 patterns against 1 (asyncContext:false), throughput'], ['p100', 'p10', '100 patterns against 10 (asyncContext:false), throughput']]
      .map(([a, b, label]) => [label, costOf(a as string, b as string)])
      .filter(([, value]) => value !== null)
      .map(([label, value]) => `- ${label}: ${value}`)
  ].join('\n')
}

function writeHeader (): void {
  if (!write) return
  writeSection('header', [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts: end to end, then the request path alone), `npm run bench:memory` (bench/memory.ts) ' +
      'and `npm run bench -- --profile <row>` (CPU profiles); each rewrites its own section. Loopback only: every server, collector and ' +
      'store runs on 127.0.0.1. Ratios are only comparable within one run: compare them, not requests/s across machines or runs.'
  ].join('\n'))
}

// --- micro and profile ---

async function micro (): Promise<void> {
  console.log('bench: micro-benchmark of the request path')
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'micro.ts'), '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let text = ''
    child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const timer = setTimeout(() => child.kill(), 180_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(text)
      else reject(new Error(`bench: micro-benchmark exited with ${code}`))
    })
  })
  const results = JSON.parse(output.trim().split('\n').pop() as string) as MicroResult[]
  const markdown = [
    '## The request path alone (in process)',
    '',
    machine(),
    `- Command: \`${commandLine('bench')}\` (bench/micro.ts in a process of its own)`,
    '- Each line registers the plugin on a Fastify app, keeps the onRequest hook the plugin added, and calls it directly on a real request object ' +
      `that Fastify built for GET ${ROUTE} (no pattern matches: a session is counted) or GET /health (the first pattern matches: an exclusion is counted). ` +
      'Median of the repeats; the last column checks that the plugin counted every call.',
    '- With `asyncContext: true` this includes entering the context (`AsyncLocalStorage.run`), not the promise hooks that an active context then costs ' +
      'every later promise of the request: that cost only shows end to end.',
    '',
    microMarkdown(results)
  ].join('\n')
  console.log(markdown)
  if (write) writeSection('micro', markdown)
}

// Ctrl-C still runs the exit handlers that end redis-server; the servers exit when their IPC channel closes.
process.once('SIGINT', () => process.exit(130))
process.once('SIGTERM', () => process.exit(143))
writeHeader()
const skipped = await availability()
if (flags.profile !== undefined) {
  const ids = flags.profile.split(',').map((id) => id.trim())
  const rows = ROWS.filter((row) => ids.includes(row.id) || ids.some((id) => {
    const wanted = ROWS.find((candidate) => candidate.id === id)
    return wanted !== undefined && (wanted.baseline === row.id || wanted.contextBaseline === row.id)
  })).filter((row) => !skipped.has(row.id))
  const markdown = await profileRows(rows, { seconds: settings.profileSeconds, connections: settings.connections, command: commandLine('bench') })
  console.log(markdown)
  if (write) writeSection('profile', markdown)
} else {
  if (!flags.micro) await endToEnd(selectRows(skipped), skipped)
  if (!flags['no-micro']) await micro()
}
