/**
 * Memory check: no per-request leak. Bare Fastify and the plugin (sessions on,
 * 10 exclusion patterns, with and without asyncContext) each serve 1,000,000
 * requests to a route that throws on 1 request in 100; the plugin reports
 * those errors to a local collector. Heap used after forced GC is read after
 * a warm-up and at every quarter; the plugin's growth must be no more than
 * bare Fastify's (plus 1 MiB, about one byte per request, for GC noise).
 * The servers take turns, a quarter at a time, so that they see the same
 * machine. Bounded: each load stops after its time limit, and the whole check
 * after BENCH_MEMORY_LIMIT seconds (default 480).
 *
 * Run: npm run bench:memory   (BENCH_MEMORY_REQUESTS=1000000, --no-write)
 */
import { Collector } from '../lib/collector.js'
import { ServerChild } from './child.js'
import { load } from './load.js'
import { ROUTE } from './patterns.js'
import { commandLine, machine, table, writeSection } from './results.js'
import { ROWS, type Row } from './rows.js'

const REQUESTS = Number(process.env.BENCH_MEMORY_REQUESTS ?? 1_000_000)
const LIMIT = Number(process.env.BENCH_MEMORY_LIMIT ?? 480) * 1000
const THROW_EVERY = 100
const WARMUP = 20_000
const CHECKPOINTS = 4
const CONNECTIONS = 32
const PIPELINING = 8
const SLACK = 2 ** 20
const write = !process.argv.includes('--no-write')

interface Tracked {
  row: Row
  child: ServerChild
  collector: Collector
  /** [requests served, heap used after GC] */
  heap: Array<[number, number]>
  failures: number
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2)

/** Waits until the errors the plugin reported reached the collector, so that no delivery in flight is counted as heap. */
async function settled (entry: Tracked, served: number): Promise<void> {
  if (entry.row.setup.kind !== 'plugin') return
  const expected = Math.floor(served / THROW_EVERY)
  await entry.collector.waitFor(() => entry.collector.eventPayloads.length >= expected, 30_000).catch(() => {
    console.log(`bench: ${entry.row.id}: ${entry.collector.eventPayloads.length} of ${expected} error events reached the collector after 30 s`)
  })
}

async function checkpoint (entry: Tracked): Promise<void> {
  const before = await entry.child.heap()
  await settled(entry, before.served)
  const { heapUsed, served } = await entry.child.heap()
  entry.heap.push([served, heapUsed])
}

async function serve (entry: Tracked, amount: number, deadline: number): Promise<boolean> {
  const seconds = Math.max(1, Math.round((deadline - Date.now()) / 1000))
  const result = await load({ url: `${entry.child.url}${ROUTE}`, connections: CONNECTIONS, pipelining: PIPELINING, amount, limit: seconds })
  entry.failures += result.errors
  // autocannon may count a few requests fewer than it made; what tells a run that was cut short is the clock.
  return Date.now() < deadline
}

async function main (): Promise<void> {
  const started = Date.now()
  const deadline = started + LIMIT
  const rows = ['fastify', 'p10-ctx', 'p10'].map((id) => ROWS.find((row) => row.id === id) as Row)
  const tracked: Tracked[] = []
  let complete = true
  try {
    for (const row of rows) {
      const collector = await Collector.start()
      const child = await ServerChild.start(row, { env: { BENCH_COLLECTOR: collector.url, BENCH_THROW_EVERY: String(THROW_EVERY) } })
      tracked.push({ row, child, collector, heap: [], failures: 0 })
    }
    for (const entry of tracked) {
      await serve(entry, WARMUP, deadline)
      await checkpoint(entry)
    }
    const quarter = Math.ceil(REQUESTS / CHECKPOINTS)
    for (let step = 0; step < CHECKPOINTS && complete; step++) {
      for (const entry of tracked) {
        if (!await serve(entry, quarter, deadline)) complete = false
        await checkpoint(entry)
      }
      console.log(`bench: memory: ${step + 1}/${CHECKPOINTS}: ` +
        tracked.map((entry) => `${entry.row.id} ${mib((entry.heap.at(-1) as [number, number])[1])} MiB`).join(', '))
    }
    for (const entry of tracked) await entry.child.stop()
  } finally {
    for (const entry of tracked) {
      await entry.child.stop().catch(() => {})
      await entry.collector.close()
    }
  }

  const growth = (entry: Tracked) => ((entry.heap.at(-1) as [number, number])[1]) - ((entry.heap[0] as [number, number])[1])
  const bare = tracked[0] as Tracked
  const verdicts = tracked.slice(1).map((entry) => {
    const ok = growth(entry) <= growth(bare) + SLACK
    return `- ${entry.row.label}: grew ${mib(growth(entry))} MiB against bare Fastify's ${mib(growth(bare))} MiB: ${ok ? '**no per-request leak**' : '**GREW MORE than bare Fastify**'}`
  })
  const markdown = [
    '## Memory: 1,000,000 requests, 1 % of them throwing',
    '',
    machine(),
    `- Command: \`${commandLine('bench:memory')}\` (${Math.round((Date.now() - started) / 1000)} s)`,
    `- Each server in its own process; autocannon -c ${CONNECTIONS} -p ${PIPELINING} on 127.0.0.1 against GET ${ROUTE}, which throws on every ` +
      `${THROW_EVERY}th request (a 500). ${WARMUP.toLocaleString('en-US')} requests of warm-up, then ${CHECKPOINTS} turns of ${perTurn(REQUESTS)} requests per server, ` +
      'the servers taking turns. Heap: `heapUsed` after four forced GCs (`--expose-gc`), once the error events the plugin sent had reached its collector.',
    '- Pass: the plugin\'s heap grows by no more than bare Fastify\'s over the same requests, plus 1 MiB (about a byte per request) for GC noise.',
    ...(complete ? [] : ['- **Stopped early**: the time limit came first; the figures are for the requests served.']),
    '',
    table(
      ['server', 'requests served', ...(bare.heap.map(([served]) => `heap MiB after ~${Math.round(served / 1000)}k`)), 'growth MiB', 'errors reported to the collector', 'sessions delivered', 'client errors'],
      tracked.map((entry) => [
        entry.row.label,
        String((entry.heap.at(-1) as [number, number])[0]),
        ...entry.heap.map(([, heapUsed]) => mib(heapUsed)),
        mib(growth(entry)),
        entry.row.setup.kind === 'plugin' ? String(entry.collector.eventPayloads.length) : '-',
        entry.row.setup.kind === 'plugin' ? String(entry.collector.sessionsStarted) : '-',
        String(entry.failures)
      ])
    ),
    '',
    ...verdicts
  ].join('\n')
  console.log(markdown)
  if (write) writeSection('memory', markdown)
  if (!complete || verdicts.some((line) => line.includes('GREW MORE'))) process.exitCode = 1
}

function perTurn (total: number): string {
  return Math.ceil(total / CHECKPOINTS).toLocaleString('en-US')
}

await main()
