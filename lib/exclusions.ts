import { EasyBugsnagError, INVALID_EXCLUSION } from './errors.js'

/** What exclusion patterns are tested against. */
export type ExcludeUrlsMatch = 'path' | 'url'

export interface ExclusionOptions {
  patterns: ReadonlyArray<string | RegExp>
  delimiter: string
  match: ExcludeUrlsMatch
}

export interface ExclusionVerdict {
  excluded: boolean
  /** Index in `excludeUrls` of the pattern that decided, or -1. */
  index: number
  /** That pattern as it was given, or null. */
  pattern: string | null
}

export interface Exclusions {
  /** How many patterns there are. */
  readonly size: number
  /** Whether a request to this target (a path, or an absolute URL in 'url' mode) is excluded. */
  isExcluded (target: string): boolean
  /** The same decision, with the pattern that took it. */
  explain (target: string): ExclusionVerdict
}

/**
 * Compiles every pattern once, at registration, so that a bad pattern fails
 * there and never on a request.
 */
export function compileExclusions (options: ExclusionOptions): Exclusions {
  const compiled = options.patterns.map((pattern, index) => compilePattern(pattern, index))

  function explain (target: string): ExclusionVerdict {
    for (let index = 0; index < compiled.length; index++) {
      const regex = compiled[index] as RegExp
      if (regex.test(target)) {
        return { excluded: true, index, pattern: String(options.patterns[index]) }
      }
    }
    return { excluded: false, index: -1, pattern: null }
  }

  return {
    size: compiled.length,
    isExcluded: (target) => compiled.some((regex) => regex.test(target)),
    explain
  }
}

function compilePattern (pattern: string | RegExp, index: number): RegExp {
  if (pattern instanceof RegExp) {
    // A stateful flag would make two identical requests decide differently.
    return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
  }
  try {
    return new RegExp(pattern)
  } catch (error) {
    throw new EasyBugsnagError(
      INVALID_EXCLUSION,
      `fastify-easy-bugsnag: sessionTracking.excludeUrls[${index}] ${JSON.stringify(pattern)} ` +
      `is not a valid regular expression: ${(error as Error).message}`
    )
  }
}

/** The path the client sent, before `rewriteUrl`, without the query string. */
export function pathOf (rawUrl: string): string {
  const query = rawUrl.indexOf('?')
  return query === -1 ? rawUrl : rawUrl.slice(0, query)
}
