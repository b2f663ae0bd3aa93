import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import easyBugsnag, { FileSessionStore } from '../index.js'
import type { Collector } from '../lib/collector.js'
import { assertBuilt } from './built.js'
import { createClient, sessionCountsOf } from './helpers.js'

const worker = fileURLToPath(new URL('./fixtures/store-worker.js', import.meta.url))

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  lines: Array<{ text: string, at: number }>
  minutes: Record<string, number>
}

/** Runs the worker on the build; its coverage is not collected, as dist/ is not what is measured. */
export async function runWorker (args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  await assertBuilt()
  const env = { ...process.env }
  delete env.NODE_V8_COVERAGE
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
  const run: Run = { code: null, signal: null, lines: [], minutes: {} }
  let rest = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const at = performance.now()
    const parts = (rest + chunk.toString()).split('\n')
    rest = parts.pop() as string
    for (const text of parts) {
      run.lines.push({ text, at })
      onLine?.(text, child)
    }
  })
  const guard = setTimeout(() => child.kill('SIGKILL'), 50_000)
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(guard)
    run.code = code
    run.signal = signal
    const last = run.lines.at(-1)?.text ?? ''
    if (last.startsWith('{')) run.minutes = (JSON.parse(last) as { minutes: Record<string, number> }).minutes
    resolve(run)
  }))
}

/** Delivers whatever the processes left in the store, as the next process to run would. */
export async function sweep (collector: Collector, directory: string): Promise<void> {
  const app = Fastify()
  await app.register(easyBugsnag, {
    client: createClient(collector, { appVersion: 'sweeper' }),
    sessionTracking: { enabled: true, cache: new FileSessionStore({ directory }), deliveryInterval: 60 }
  })
  await app.bugsnagSessions.flush()
  await app.close()
}

export function perMinute (collector: Collector): Record<string, number> {
  const minutes: Record<string, number> = {}
  for (const { startedAt, sessionsStarted } of sessionCountsOf(collector)) {
    const minute = String(Date.parse(startedAt))
    minutes[minute] = (minutes[minute] ?? 0) + sessionsStarted
  }
  return minutes
}

export function merge (runs: Run[]): Record<string, number> {
  const minutes: Record<string, number> = {}
  for (const run of runs) {
    for (const [minute, count] of Object.entries(run.minutes)) minutes[minute] = (minutes[minute] ?? 0) + count
  }
  return minutes
}

export function senders (collector: Collector): string[] {
  return collector.sessionPayloads.map((request) => (request.body as { app: { version: string } }).app.version)
}
