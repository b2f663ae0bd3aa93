/**
 * Per-request cost of the exclusion check for 1, 10 and 100 patterns over a
 * realistic mix of request paths. Run: npx tsx bench/exclusions.ts
 */
import { compileExclusions } from '../lib/exclusions.js'

const TYPICAL = [
  '/ping', '^/health/?$', '/metrics$', '\\.(css|js|map)$', '^/static/', '/favicon\\.ico$',
  '^/robots\\.txt$', '^/webhooks/(stripe|github)$', '^/admin/status$', '^/api/v[0-9]+/status$'
]

function patternsFor (count: number): string[] {
  const out = TYPICAL.slice(0, Math.min(count, TYPICAL.length))
  for (let i = out.length; i < count; i++) {
    out.push(i % 2 === 0 ? `^/internal/service-${i}/(health|ready)$` : `/probe-${i}(/|$)`)
  }
  return out
}

// Mostly API traffic with ids (many distinct paths), some probes and assets.
const PATHS: string[] = []
for (let i = 0; i < 4000; i++) {
  const id = (i * 7919) % 100000
  const kind = i % 20
  PATHS.push(kind === 0
    ? '/health'
    : kind === 1
      ? '/static/app.3f2a1c.js'
      : kind === 2
        ? '/ping'
        : kind < 10 ? `/api/v1/users/${id}` : kind < 16 ? `/api/v1/orders/${id}/items` : `/api/v2/search/products/${id % 500}`)
}

function measure (count: number, cacheSize?: number): number {
  const exclusions = compileExclusions({ patterns: patternsFor(count), match: 'path', ...(cacheSize === undefined ? {} : { cacheSize }) })
  let sink = 0
  for (let round = 0; round < 50; round++) for (const path of PATHS) if (exclusions.isExcluded(path)) sink++
  const rounds = 200
  const start = process.hrtime.bigint()
  for (let round = 0; round < rounds; round++) for (const path of PATHS) if (exclusions.isExcluded(path)) sink++
  const elapsed = Number(process.hrtime.bigint() - start)
  if (sink < 0) console.log(sink)
  return elapsed / (rounds * PATHS.length)
}

const rows = [1, 10, 100].map((count) => ({
  patterns: count,
  'ns/request': Number(measure(count).toFixed(1)),
  'ns/request, cacheSize 2048': Number(measure(count, 2048).toFixed(1))
}))
console.table(rows)
const ratio = (rows[2]?.['ns/request'] ?? 0) / (rows[0]?.['ns/request'] ?? 1)
console.log(`100 patterns cost ${ratio.toFixed(2)}x 1 pattern (target: under 2x)`)
