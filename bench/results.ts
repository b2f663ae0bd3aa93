/**
 * bench/RESULTS.md is made of sections, one per script (end-to-end, micro,
 * memory, profile); each script rewrites its own section and keeps the others.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

export const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url))
const ORDER = ['header', 'bench', 'micro', 'memory', 'profile']
const require = createRequire(import.meta.url)

export function writeSection (name: string, markdown: string, file = RESULTS): void {
  const sections = readSections(file)
  sections.set(name, markdown.trim())
  const names = [...ORDER.filter((known) => sections.has(known)), ...[...sections.keys()].filter((other) => !ORDER.includes(other))]
  const text = names.map((section) => `<!-- begin:${section} -->\n${sections.get(section)}\n<!-- end:${section} -->`).join('\n\n')
  writeFileSync(file, `${text}\n`)
}

function readSections (file: string): Map<string, string> {
  const sections = new Map<string, string>()
  if (!existsSync(file)) return sections
  const text = readFileSync(file, 'utf8')
  for (const match of text.matchAll(/<!-- begin:([a-z]+) -->\n([\s\S]*?)\n<!-- end:\1 -->/g)) {
    sections.set(match[1] as string, match[2] as string)
  }
  return sections
}

export function versionOf (name: string, from?: string): string {
  try {
    const path = from === undefined ? `${name}/package.json` : require.resolve(`${name}/package.json`, { paths: [from] })
    return (require(path) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

/** The machine and the versions, as a markdown list. */
export function machine (): string {
  const cpus = os.cpus()
  const fastifyBugsnagDir = fileURLToPath(new URL('../node_modules/fastify-bugsnag/', import.meta.url))
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${os.type()} ${os.release()} (${os.arch()})`,
    `- Load average when the run ended: ${os.loadavg().map((value) => value.toFixed(2)).join(', ')}`,
    `- Node ${process.version}, Fastify ${versionOf('fastify')}, @bugsnag/js ${versionOf('@bugsnag/js')}, ` +
      `@bugsnag/plugin-express ${versionOf('@bugsnag/plugin-express')}, Express ${versionOf('express')}, ` +
      `fastify-bugsnag ${versionOf('fastify-bugsnag')} (with its own @bugsnag/js ${versionOf('@bugsnag/js', fastifyBugsnagDir)}), ` +
      `autocannon ${versionOf('autocannon')}, tsx ${versionOf('tsx')}`
  ].join('\n')
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

export function table (head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map((cell, index) => index === 0 ? '---' : '---:')), ...rows.map(line)].join('\n')
}

/** The command as it was typed, for the reader to run again. */
export function commandLine (script: string): string {
  const settings = Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_') && !['BENCH_ROW', 'BENCH_COLLECTOR'].includes(name))
    .map(([name, value]) => `${name}=${value ?? ''} `)
    .join('')
  const args = process.argv.slice(2)
  return `${settings}npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
}
