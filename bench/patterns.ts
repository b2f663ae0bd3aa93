/**
 * Exclusion patterns of the kind services really configure (probes, assets,
 * webhooks, internal endpoints). None of them matches the benchmarked route.
 */
const TYPICAL = [
  '^/health$',
  '^/ready$',
  '^/ping$',
  '^/metrics$',
  '^/static/',
  '\\.(css|js|map)$',
  '^/favicon\\.ico$',
  '^/robots\\.txt$',
  '^/webhooks/(stripe|github)$',
  '^/admin/status$'
]

/** The benchmarked route: matched by no pattern. */
export const ROUTE = '/hello'
/** A path that the first pattern matches, for the micro-benchmark. */
export const EXCLUDED_PATH = '/health'

export function exclusionPatterns (count: number): string[] {
  const patterns = TYPICAL.slice(0, Math.min(count, TYPICAL.length))
  for (let i = patterns.length; i < count; i++) {
    patterns.push(i % 2 === 0 ? `^/internal/service-${i}/(health|ready)$` : `^/probe-${i}(/|$)`)
  }
  return patterns
}
