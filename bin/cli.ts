#!/usr/bin/env node
/**
 * `fastify-easy-bugsnag check-exclusions`: prints, for each URL, whether the
 * plugin would exclude a request to it and which pattern decided, so that a
 * migrated `exclude_urls` list can be checked before it is deployed.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { compileExclusions, pathOf, type ExcludeUrlsMatch } from '../lib/exclusions.js'
import { absoluteUrlOf } from '../lib/request-url.js'

export interface CliIo {
  out: (line: string) => void
  err: (line: string) => void
  readFile: (path: string) => string
}

const USAGE = `Usage: fastify-easy-bugsnag check-exclusions [options] [url ...]

  --pattern P        an excludeUrls pattern (repeat for several)
  --delimiter D      excludeUrlsDelimiter (default '#'; '' when patterns carry their own)
  --match path|url   excludeUrlsMatch (default 'path')
  --allow-unsafe     accept patterns open to catastrophic backtracking
  --config FILE      JSON: {excludeUrls, excludeUrlsDelimiter, excludeUrlsMatch, urls}

Prints each URL's decision and the pattern that decided. Exit code 1 when a
pattern is refused.`

interface Config {
  excludeUrls?: string | string[]
  excludeUrlsDelimiter?: string
  excludeUrlsMatch?: ExcludeUrlsMatch
  urls?: string[]
}

/** The target the plugin tests for a URL given on the command line. */
export function targetOf (url: string, match: ExcludeUrlsMatch): string {
  if (match === 'path') return pathOf(url)
  const absolute = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url)
  if (absolute === null) return absoluteUrlOf('http', 'localhost', url)
  return absoluteUrlOf(absolute[1] as string, absolute[2] as string, absolute[3] as string)
}

export function run (argv: string[], io: CliIo): number {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        pattern: { type: 'string', multiple: true },
        delimiter: { type: 'string' },
        match: { type: 'string' },
        config: { type: 'string' },
        'allow-unsafe': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`)
    return 1
  }
  const { values, positionals } = parsed
  const [command, ...urls] = positionals
  if (values.help === true) {
    io.out(USAGE)
    return 0
  }
  if (command !== 'check-exclusions') {
    io.err(`${command === undefined ? 'No command given' : `Unknown command "${command}"`}\n\n${USAGE}`)
    return 1
  }

  let config: Config = {}
  if (values.config !== undefined) {
    try {
      config = JSON.parse(io.readFile(values.config)) as Config
    } catch (error) {
      io.err(`Cannot read ${values.config}: ${(error as Error).message}`)
      return 1
    }
  }
  const match = (values.match ?? config.excludeUrlsMatch ?? 'path') as ExcludeUrlsMatch
  if (match !== 'path' && match !== 'url') {
    io.err(`--match must be 'path' or 'url', got "${match}"`)
    return 1
  }
  const patterns = values.pattern ?? config.excludeUrls ?? []

  let exclusions
  try {
    exclusions = compileExclusions({
      patterns,
      delimiter: values.delimiter ?? config.excludeUrlsDelimiter ?? '#',
      match,
      allowUnsafePatterns: values['allow-unsafe'] === true
    })
  } catch (error) {
    io.err((error as Error).message)
    return 1
  }
  for (const warning of exclusions.warnings) io.err(`warning: ${warning}`)

  for (const url of [...(config.urls ?? []), ...urls]) {
    const target = targetOf(url, match)
    const verdict = exclusions.explain(target)
    io.out(verdict.excluded
      ? `excluded  ${url}  (tested ${JSON.stringify(target)}; excludeUrls[${verdict.index}] ${JSON.stringify(verdict.pattern)})`
      : `counted   ${url}  (tested ${JSON.stringify(target)}; no pattern matched)`)
  }
  return 0
}

/* c8 ignore start: only runs when the file is the process's entry point (tested by spawning the build) */
const entry = process.argv[1]
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  process.exitCode = run(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    readFile: (path) => readFileSync(path, 'utf8')
  })
}
/* c8 ignore stop */
