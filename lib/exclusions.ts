import { LRUCache } from 'lru-cache'
import { EasyBugsnagError, INVALID_EXCLUSION } from './errors.js'
import { PcreError, splitDelimited, toByteString, translate, type Translation } from './pcre.js'

/** What exclusion patterns are tested against. */
export type ExcludeUrlsMatch = 'path' | 'url'

export interface ExclusionOptions {
  /** Strings (PCRE, as the original reads them) and RegExp objects; a single string is a list of one. */
  patterns: ReadonlyArray<string | RegExp> | string | RegExp
  /** Wraps every string pattern; '' when each string carries its own delimiters. Default '#'. */
  delimiter?: string
  match: ExcludeUrlsMatch
  /** Accept patterns open to catastrophic backtracking. Default false. */
  allowUnsafePatterns?: boolean
  /**
   * Distinct targets whose decision is remembered in an LRU (8 patterns or
   * more). Default 0 (off): on the benchmark's mix of paths a lookup costs more
   * than the combined regex it saves; it pays only for costly patterns.
   */
  cacheSize?: number
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
  /** Notes on patterns that can never match in the chosen mode (for the log). */
  readonly warnings: readonly string[]
  /** Whether a request to this target (a path, or an absolute URL in 'url' mode) is excluded. */
  isExcluded (target: string): boolean
  /** The same decision, with the pattern that took it. */
  explain (target: string): ExclusionVerdict
}

/**
 * How a compiled pattern reads its target: its UTF-8 bytes, its UTF-16
 * characters as they are (RegExp objects, and byte-mode patterns that read
 * only ASCII), or its characters in UTF-8 mode.
 */
type Subject = 'bytes' | 'text' | 'utf'

interface Compiled {
  index: number
  given: string | RegExp
  regex: RegExp
  subject: Subject
  /** JavaScript source, its capture groups numbered after `base`; null when it must run alone. */
  source: ((base: number) => string) | null
  flags: string
  groups: number
}

const OPTION = 'sessionTracking.excludeUrls'
// Targets longer than this are never remembered, to bound the cache's memory.
const CACHE_KEY_LIMIT = 512
// Below this many patterns one regex test is cheaper than a cache lookup.
const CACHE_FROM = 8

function refuse (index: number, pattern: string | RegExp, reason: string): EasyBugsnagError {
  const shown = typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern)
  return new EasyBugsnagError(INVALID_EXCLUSION, `fastify-easy-bugsnag: ${OPTION}[${index}] ${shown}: ${reason}`)
}

/** Fails registration for a delimiter with which the original could never build a regex. */
export function checkDelimiter (delimiter: string): void {
  const why = delimiter.length > 1
    ? 'is more than one character'
    : /^[A-Za-z0-9\\]$/.test(delimiter)
      ? 'is alphanumeric or a backslash'
      : /^[ \t\n\v\f\r\0]$/.test(delimiter)
        ? 'is whitespace or NUL (PHP skips it)'
        : /^[([{<]$/.test(delimiter)
          ? 'is an opening bracket (PHP expects the closing one at the end)'
          : delimiter.charCodeAt(0) > 0x7f ? 'is not an ASCII character' : null
  if (why !== null) {
    throw new EasyBugsnagError(INVALID_EXCLUSION,
      `fastify-easy-bugsnag: sessionTracking.excludeUrlsDelimiter ${JSON.stringify(delimiter)} ${why}: ` +
      'PHP could never use it, so the original failed every request; use \'#\', \'~\' or \'\'')
  }
}

function describe (error: PcreError, delimiter: string): string {
  if (error.kind === 'unsupported') return `${error.message} cannot be read the same way in JavaScript; rewrite the pattern without it`
  if (/unknown modifier/.test(error.message) && delimiter !== '') {
    return `${error.message}: the pattern contains the delimiter '${delimiter}' unescaped ` +
      `(the original failed every request with it); escape it as \\${delimiter} or choose another excludeUrlsDelimiter`
  }
  return `is not a valid PCRE pattern (${error.message}); the original failed every request with it`
}

function compileString (pattern: string, index: number, delimiter: string, allowUnsafe: boolean, match: ExcludeUrlsMatch, warnings: string[]): Compiled {
  // A string wrapped in the delimiter carries its own flags; the original could never read it.
  const regex = delimiter === '' || pattern.startsWith(delimiter) ? pattern : delimiter + pattern + delimiter
  let translation: Translation
  let parts: { body: string, modifiers: string }
  try {
    parts = splitDelimited(regex)
    translation = translate(parts.body, parts.modifiers)
  } catch (error) {
    throw refuse(index, pattern, describe(error as PcreError, delimiter))
  }
  if (translation.unsafe !== null && !allowUnsafe) {
    throw refuse(index, pattern, `is open to catastrophic backtracking (${translation.unsafe}); ` +
      'simplify it, or set sessionTracking.allowUnsafePatterns to accept it knowingly')
  }
  if (match === 'path' && (translation.needsQuery || translation.anchoredBeforePath)) {
    warnings.push(`${OPTION}[${index}] ${JSON.stringify(pattern)} can only match ` +
      `${translation.needsQuery ? 'a query string' : 'a scheme or a host'}, never a path; ` +
      'set sessionTracking.excludeUrlsMatch to \'url\' to test it against the full URL')
  }
  return {
    index,
    given: pattern,
    regex: new RegExp(translation.source, translation.flags),
    subject: translation.utf ? 'utf' : translation.asciiOnly ? 'text' : 'bytes',
    source: (base) => translate(parts.body, parts.modifiers, base).source,
    flags: translation.flags,
    groups: translation.groups
  }
}

// Sources with backreferences or named groups would need renumbering to be combined.
const SELF_REFERENCING = /\\[1-9]|\\k<|\(\?<[^=!]/
// A group holding a quantifier and quantified itself: the classic catastrophic shape.
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]/

/**
 * Why a RegExp is open to catastrophic backtracking, or null. Most
 * JavaScript sources read as PCRE too, and get the same analysis as string
 * patterns; a source the PCRE reader refuses gets a simpler check.
 */
function regExpRisk (pattern: RegExp): string | null {
  const modifiers = pattern.flags.replace(/[^ims]/g, '')
  const source = asPcre(pattern.source)
  // The PCRE reader refuses \w, \d and \b in UTF mode; the shape of the pattern is what counts here.
  const attempts = /[uv]/.test(pattern.flags) ? [`${modifiers}u`, modifiers] : [modifiers]
  for (const flags of attempts) {
    try {
      return translate(source, flags).unsafe
    } catch {}
  }
  return NESTED_QUANTIFIER.test(pattern.source) ? 'a quantifier nested inside another' : null
}

/** JavaScript-only spellings, for the backtracking analysis: `\\u{…}` and `\\uXXXX` as `\\x{…}`, `[^]` as any character. */
function asPcre (source: string): string {
  return source
    .replace(/\\u\{([0-9A-Fa-f]+)\}|\\u([0-9A-Fa-f]{4})/g, (_match, braced?: string, plain?: string) => `\\x{${braced ?? plain}}`)
    .replace(/\[\^\]/g, '[\\s\\S]')
}

function compileRegExp (pattern: RegExp, index: number, allowUnsafe: boolean): Compiled {
  const risk = allowUnsafe ? null : regExpRisk(pattern)
  if (risk !== null) {
    throw refuse(index, pattern, `is open to catastrophic backtracking (${risk}); ` +
      'simplify it, or set sessionTracking.allowUnsafePatterns to accept it knowingly')
  }
  // A stateful flag would make two identical requests decide differently.
  const flags = pattern.flags.replace(/[gyd]/g, '')
  return {
    index,
    given: pattern,
    regex: new RegExp(pattern.source, flags),
    subject: 'text',
    source: SELF_REFERENCING.test(pattern.source) ? null : () => pattern.source,
    flags,
    // Its capture groups, so that patterns combined after it number theirs after them.
    groups: (new RegExp(`${pattern.source}|`, flags).exec('') as RegExpExecArray).length - 1
  }
}

interface Matcher {
  regex: RegExp
  subject: Subject
}

/** One regex per kind of subject and set of flags, in place of one per pattern. */
function combine (compiled: Compiled[]): Matcher[] {
  const groups = new Map<string, Compiled[]>()
  const matchers: Matcher[] = []
  for (const entry of compiled) {
    if (entry.source === null) {
      matchers.push({ regex: entry.regex, subject: entry.subject })
      continue
    }
    const key = `${entry.subject}/${entry.flags}`
    groups.set(key, [...(groups.get(key) ?? []), entry])
  }
  for (const entries of groups.values()) {
    const head = entries[0] as Compiled
    let base = 0
    const sources = entries.map((entry) => {
      // Each pattern's groups are numbered after the previous patterns' ones.
      const source = (entry.source as (base: number) => string)(base)
      base += entry.groups
      return `(?:${source})`
    })
    matchers.push({ regex: new RegExp(sources.join('|'), head.flags), subject: head.subject })
  }
  return matchers
}

/** A target that no pattern reading UTF-8 characters can match (PHP failed on it). */
const LONE_SURROGATE = /\p{Cs}/u

function subjectOf (target: string, subject: Subject, bytes: string): string | null {
  if (subject === 'bytes') return bytes
  if (subject === 'utf' && LONE_SURROGATE.test(target)) return null
  return target
}

function safeTest (regex: RegExp, subject: string | null): boolean {
  if (subject === null) return false
  try {
    return regex.test(subject)
  } catch {
    // A regex engine out of stack decides "not excluded" rather than fail the request.
    return false
  }
}

/**
 * Compiles every pattern once, at registration, so that a bad pattern fails
 * there and never on a request.
 */
export function compileExclusions (options: ExclusionOptions): Exclusions {
  const delimiter = options.delimiter ?? '#'
  if (delimiter !== '') checkDelimiter(delimiter)
  const patterns = typeof options.patterns === 'string' || options.patterns instanceof RegExp
    ? [options.patterns]
    : options.patterns
  const allowUnsafe = options.allowUnsafePatterns === true
  const warnings: string[] = []
  const compiled = patterns.map((pattern, index) => pattern instanceof RegExp
    ? compileRegExp(pattern, index, allowUnsafe)
    : compileString(String(pattern), index, delimiter, allowUnsafe, options.match, warnings))
  const matchers = combine(compiled)
  const cacheSize = options.cacheSize ?? 0
  const cache = compiled.length >= CACHE_FROM && cacheSize > 0 ? new LRUCache<string, boolean>({ max: cacheSize }) : null

  function decideAll (target: string): boolean {
    const bytes = toByteString(target)
    for (const matcher of matchers) {
      if (safeTest(matcher.regex, subjectOf(target, matcher.subject, bytes))) return true
    }
    return false
  }

  // The common case, every pattern in one matcher, skips the loop on each request.
  const single = matchers.length === 1 ? matchers[0] as Matcher : null
  const decide = single === null || single.subject === 'utf'
    ? decideAll
    : single.subject === 'bytes'
      ? (target: string) => safeTest(single.regex, toByteString(target))
      : (target: string) => safeTest(single.regex, target)

  function isExcluded (target: string): boolean {
    if (typeof target !== 'string') return false
    if (cache === null || target.length > CACHE_KEY_LIMIT) return decide(target)
    let decision = cache.get(target)
    if (decision === undefined) {
      decision = decide(target)
      cache.set(target, decision)
    }
    return decision
  }

  function explain (target: string): ExclusionVerdict {
    if (typeof target === 'string') {
      const bytes = toByteString(target)
      for (const entry of compiled) {
        if (safeTest(entry.regex, subjectOf(target, entry.subject, bytes))) {
          return { excluded: true, index: entry.index, pattern: String(entry.given) }
        }
      }
    }
    return { excluded: false, index: -1, pattern: null }
  }

  return { size: compiled.length, warnings, isExcluded, explain }
}

/**
 * The path the client sent, before `rewriteUrl`, without the query string or
 * a fragment; an absolute-form target (`http://host/p`) gives its path.
 */
export function pathOf (rawUrl: string): string {
  // Two native scans cost less than one regex search on every request.
  let end = rawUrl.indexOf('?')
  const fragment = rawUrl.indexOf('#')
  if (fragment !== -1 && (end === -1 || fragment < end)) end = fragment
  const path = end === -1 ? rawUrl : rawUrl.slice(0, end)
  if (path.charCodeAt(0) === 47) return path
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(path)
  if (absolute === null) return path
  return path.slice(absolute[0].length) || '/'
}
