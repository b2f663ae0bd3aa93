import Type from 'typebox'
import Value from 'typebox/value'
import type { Client, Logger, OnErrorCallback, OnSessionCallback } from '@bugsnag/js'
import type { FastifyRequest } from 'fastify'
import { EasyBugsnagError, INVALID_OPTION, NO_CLIENT, invalidOption } from './errors.js'
import type { SessionStore } from './store.js'

/**
 * Values that JSON Schema cannot describe (functions, RegExp, objects with
 * methods) are marked with `kind` and checked by `checkKinds` below, so that
 * one schema stays the single description of every option.
 */
type Kind = 'function' | 'functions' | 'regexp' | 'client' | 'store' | 'logger' | 'object'

function Unchecked<T> (kind: Kind, expected: string) {
  return Type.Unsafe<T>({ kind, expected })
}

/** The longest delay Node's timers take (2^31 - 1 ms); longer ones fire at once. */
export const MAX_TIMER_SECONDS = 2_147_483

const Seconds = () => Type.Number({
  exclusiveMinimum: 0,
  maximum: MAX_TIMER_SECONDS,
  expected: `a number of seconds greater than 0 and at most ${MAX_TIMER_SECONDS}`
})

// A scheme, a host, and no whitespace: what Node's http client can be pointed at.
const HTTP_URL = '^https?://[^/?#\\s]+\\S*$'

const ExcludeUrl = Type.Union([
  Type.String(),
  Unchecked<RegExp>('regexp', 'a RegExp')
], { expected: 'a string pattern or a RegExp' })

export const SessionTrackingSchema = Type.Object({
  /** Count one session per request. Default `false`, as in EasyBugsnag. */
  enabled: Type.Optional(Type.Boolean({ expected: 'a boolean' })),
  /**
   * Regular expressions (strings without delimiters, or RegExp objects) for
   * the requests that start no session. A single string is a list of one.
   * Default `[]`.
   */
  excludeUrls: Type.Optional(Type.Union([
    ExcludeUrl,
    Type.Array(ExcludeUrl, { expected: 'a list of string patterns or RegExp objects' })
  ], { expected: 'a string pattern, a RegExp, or a list of them' })),
  /** Delimiter wrapped around string patterns, as PHP's preg does. Default `'#'`. */
  excludeUrlsDelimiter: Type.Optional(Type.String({ maxLength: 1, expected: 'a single character or the empty string' })),
  /**
   * What patterns are tested against: `'path'` (default), the path the
   * client sent without the query string; `'url'`, the full absolute URL as
   * EasyBugsnag builds it.
   */
  excludeUrlsMatch: Type.Optional(Type.Union([Type.Literal('path'), Type.Literal('url')], {
    expected: "'path' or 'url'"
  })),
  /** Accept patterns open to catastrophic backtracking. Default `false`. */
  allowUnsafePatterns: Type.Optional(Type.Boolean({ expected: 'a boolean' })),
  /** Seconds a minute bucket is kept after the minute it describes. Default `3600`. */
  cacheExpiresAfter: Type.Optional(Seconds()),
  /** Seconds between deliveries; fractions allowed. Default `30`. */
  deliveryInterval: Type.Optional(Seconds()),
  /** Seconds one delivery may take before it is abandoned and retried. Default `10`. */
  deliveryTimeout: Type.Optional(Seconds()),
  /** Seconds `fastify.close()` may spend delivering what is pending. Default `5`. */
  closeTimeout: Type.Optional(Seconds()),
  /**
   * Where counts wait for delivery: `'memory'` (default), `'file'` (files in
   * `cacheDirectory`, shared by the processes of one host) or a `SessionStore`.
   */
  cache: Type.Optional(Type.Union([
    Type.Literal('memory'),
    Type.Literal('file'),
    Unchecked<SessionStore>('store', 'a SessionStore')
  ], { expected: "'memory', 'file' or a SessionStore object" })),
  /** Directory of the file store (`cache: 'file'`). Default: the OS temp dir. */
  cacheDirectory: Type.Optional(Type.String({ minLength: 1, expected: 'a non-empty string' })),
  /** Namespace handed to the store. Default `'easy_bugsnag_sessions'`. */
  cacheNamespace: Type.Optional(Type.String({
    // It names a folder or a key prefix: no path separators, no '.' or '..'.
    pattern: '^(?!\\.{1,2}$)[A-Za-z0-9_.:-]+$',
    expected: 'a name of letters, digits, _ . : and - (not "." or "..")'
  })),
  /** Each run of a job wrapped by `wrapJob()` starts a session. Default `false`, as in EasyBugsnag. */
  jobCountForSessions: Type.Optional(Type.Boolean({ expected: 'a boolean' })),
  /** Job names whose runs never start a session. Default `[]`. */
  excludeJobs: Type.Optional(Type.Array(Type.String({ expected: 'a job name' }), { expected: 'a list of job names' })),
  /** Most minute buckets the memory store keeps. Default `10000`. */
  maxBuckets: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, expected: 'an integer from 1 to 1000000' }))
}, { additionalProperties: false, expected: 'an object' })

export const OptionsSchema = Type.Object({
  /** A Bugsnag client the app started. Used as it is; what the plugin changes is restored on close. */
  client: Type.Optional(Unchecked<Client>('client', 'a Bugsnag client (from Bugsnag.start() or Bugsnag.createClient())')),
  /** Bugsnag API key, used when the plugin starts the client itself. */
  apiKey: Type.Optional(Type.String({ minLength: 1, expected: 'a non-empty string' })),
  releaseStage: Type.Optional(Type.String({ expected: 'a string' })),
  appVersion: Type.Optional(Type.String({ expected: 'a string' })),
  appType: Type.Optional(Type.String({ expected: 'a string' })),
  enabledReleaseStages: Type.Optional(Type.Union([
    Type.Array(Type.String({ expected: 'a string' }), { expected: 'a list of strings' }),
    Type.Null()
  ], { expected: 'a list of strings or null' })),
  endpoints: Type.Optional(Type.Object({
    notify: Type.String({ pattern: HTTP_URL, expected: 'an http or https URL with a host' }),
    sessions: Type.String({ pattern: HTTP_URL, expected: 'an http or https URL with a host' })
  }, { additionalProperties: false, expected: 'an object with the URLs notify and sessions' })),
  hostname: Type.Optional(Type.String({ expected: 'a string' })),
  /** Bugsnag's logger. Default: the Fastify logger. `null` silences Bugsnag. */
  logger: Type.Optional(Type.Union([
    Unchecked<Logger>('logger', 'a logger object'),
    Type.Null()
  ], { expected: 'a logger with debug, info, warn and error, or null' })),
  onSession: Type.Optional(Unchecked<OnSessionCallback | OnSessionCallback[]>('functions', 'a function or a list of functions')),
  onError: Type.Optional(Unchecked<OnErrorCallback | OnErrorCallback[]>('functions', 'a function or a list of functions')),
  /** Any other Bugsnag setting, passed to `Bugsnag.start()` as it is. */
  clientOptions: Type.Optional(Unchecked<Record<string, unknown>>('object', 'an object of Bugsnag settings')),
  /** Run the rest of each request in its own async context. Default `true`. */
  asyncContext: Type.Optional(Type.Boolean({ expected: 'a boolean' })),
  /**
   * Whether an error that reaches Fastify's error path is reported as
   * unhandled. Default: when its `statusCode` (else 500) is 500 or more.
   */
  shouldReportError: Type.Optional(Unchecked<(error: FastifyErrorLike, request: FastifyRequest) => boolean>(
    'function', 'a function (error, request) => boolean'
  )),
  /** Request headers redacted from events, beyond the built-in list. Default `[]`. */
  redactedHeaders: Type.Optional(Type.Array(Type.String({ minLength: 1, expected: 'a non-empty header name' }), { expected: 'a list of header names' })),
  sessionTracking: Type.Optional(SessionTrackingSchema)
}, { additionalProperties: false, expected: 'an object' })

export interface FastifyErrorLike extends Error {
  statusCode?: number
}

/** The options of `fastify.register(easyBugsnag, options)`. */
export type EasyBugsnagOptions = Type.Static<typeof OptionsSchema>
export type SessionTrackingOptions = Type.Static<typeof SessionTrackingSchema>

/** Options after validation, with every default filled in. */
export interface Settings {
  client: Client | undefined
  clientConfig: Record<string, unknown>
  asyncContext: boolean
  shouldReportError: (error: FastifyErrorLike, request: FastifyRequest) => boolean
  redactedHeaders: string[]
  sessions: SessionSettings
}

export interface SessionSettings {
  enabled: boolean
  excludeUrls: Array<string | RegExp>
  excludeUrlsDelimiter: string
  excludeUrlsMatch: 'path' | 'url'
  allowUnsafePatterns: boolean
  /** All durations below in milliseconds. */
  cacheExpiresAfter: number
  deliveryInterval: number
  deliveryTimeout: number
  closeTimeout: number
  cache: 'memory' | 'file' | SessionStore
  cacheDirectory: string | undefined
  cacheNamespace: string
  maxBuckets: number
  jobCountForSessions: boolean
  excludeJobs: string[]
}

export const DEFAULT_REDACTED_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'bugsnag-api-key'
]

/** The Bugsnag settings the plugin passes through when it starts the client. */
const CLIENT_SETTINGS = [
  'apiKey', 'releaseStage', 'appVersion', 'appType', 'enabledReleaseStages',
  'endpoints', 'hostname', 'logger', 'onSession', 'onError'
] as const

function reportServerErrors (error: FastifyErrorLike): boolean {
  const status = typeof error?.statusCode === 'number' ? error.statusCode : 500
  return status >= 500
}

/**
 * Validates what the app passed to `register` and fills in the defaults.
 * Throws an `EasyBugsnagError` with code `FST_EASY_BUGSNAG_INVALID_OPTION`
 * that names the option, what was expected and what was given.
 */
export function resolveSettings (input: unknown): Settings {
  const options = (input ?? {}) as EasyBugsnagOptions
  checkSchema(options)
  checkKinds(OptionsSchema as unknown as SchemaNode, options, '')

  if (options.client === undefined && options.apiKey === undefined) {
    // `apiKey: process.env.BUGSNAG_API_KEY` with the variable unset lands here.
    const hint = 'apiKey' in options ? '; "apiKey" was given but is undefined (is its environment variable set?)' : ''
    throw new EasyBugsnagError(
      NO_CLIENT,
      `fastify-easy-bugsnag: give either "client" (a started Bugsnag client) or "apiKey"${hint}`
    )
  }
  if (options.client !== undefined) {
    const given = CLIENT_SETTINGS.filter((name) => options[name] !== undefined)
    if (options.clientOptions !== undefined) given.push('clientOptions' as never)
    if (given.length > 0) {
      throw invalidOption(given[0] as string, 'left out when "client" is given (configure that client instead)', options[given[0] as keyof EasyBugsnagOptions])
    }
  }

  const clientConfig: Record<string, unknown> = { ...options.clientOptions }
  for (const name of CLIENT_SETTINGS) {
    if (options[name] !== undefined) clientConfig[name] = options[name]
  }

  return {
    client: options.client,
    clientConfig,
    asyncContext: options.asyncContext ?? true,
    shouldReportError: options.shouldReportError ?? reportServerErrors,
    redactedHeaders: [...DEFAULT_REDACTED_HEADERS, ...(options.redactedHeaders ?? []).map((name) => name.toLowerCase())],
    sessions: resolveSessionSettings(options.sessionTracking ?? {})
  }
}

function resolveSessionSettings (options: SessionTrackingOptions): SessionSettings {
  const excludeUrls = options.excludeUrls === undefined
    ? []
    : Array.isArray(options.excludeUrls) ? [...options.excludeUrls] : [options.excludeUrls]
  const cacheExpiresAfter = (options.cacheExpiresAfter ?? 3600) * 1000
  const deliveryInterval = (options.deliveryInterval ?? 30) * 1000

  if (cacheExpiresAfter < deliveryInterval) {
    throw invalidOption(
      'sessionTracking.cacheExpiresAfter',
      `at least sessionTracking.deliveryInterval (${deliveryInterval / 1000} s), or buckets would expire before their first delivery`,
      cacheExpiresAfter / 1000
    )
  }

  return {
    enabled: options.enabled ?? false,
    excludeUrls,
    excludeUrlsDelimiter: options.excludeUrlsDelimiter ?? '#',
    excludeUrlsMatch: options.excludeUrlsMatch ?? 'path',
    allowUnsafePatterns: options.allowUnsafePatterns ?? false,
    cacheExpiresAfter,
    deliveryInterval,
    deliveryTimeout: (options.deliveryTimeout ?? 10) * 1000,
    closeTimeout: (options.closeTimeout ?? 5) * 1000,
    cache: options.cache ?? 'memory',
    cacheDirectory: options.cacheDirectory,
    cacheNamespace: options.cacheNamespace ?? 'easy_bugsnag_sessions',
    maxBuckets: options.maxBuckets ?? 10_000,
    jobCountForSessions: options.jobCountForSessions ?? false,
    excludeJobs: options.excludeJobs ?? []
  }
}

interface SchemaNode {
  expected?: string
  kind?: Kind
  type?: string
  properties?: Record<string, SchemaNode>
  anyOf?: SchemaNode[]
  items?: SchemaNode
}

/** Reports the first schema violation, at the deepest option it concerns. */
function checkSchema (options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidOption('options', 'an object', options)
  }
  const errors = Value.Errors(OptionsSchema, options)
  if (errors.length === 0) return

  const unknown = errors.find((error) => error.keyword === 'additionalProperties')
  if (unknown !== undefined) {
    const names = (unknown.params as { additionalProperties: string[] }).additionalProperties
    const path = joinPath(pointerToPath(unknown.instancePath), names[0] as string)
    const known = Object.keys(schemaAt(unknown.schemaPath).properties as object)
    throw new EasyBugsnagError(
      INVALID_OPTION,
      `fastify-easy-bugsnag: option "${path}" is not an option; expected one of ${known.join(', ')}`
    )
  }

  // The outermost failing union names what is expected better than its branches.
  const deepest = errors.reduce((best, error) =>
    error.instancePath.length > best.instancePath.length ? error : best)
  const atPath = errors.filter((error) => error.instancePath === deepest.instancePath)
  const chosen = atPath.find((error) => error.keyword === 'anyOf') ?? deepest
  const node = schemaAt(chosen.schemaPath)
  const path = pointerToPath(chosen.instancePath)
  throw invalidOption(path, node.expected as string, valueAt(options, chosen.instancePath))
}

/** Checks the values JSON Schema cannot see: functions, RegExp, clients, stores. */
function checkKinds (node: SchemaNode, value: unknown, path: string): void {
  const error = kindError(node, value, path)
  if (error !== null) throw error
}

function kindError (node: SchemaNode, value: unknown, path: string): EasyBugsnagError | null {
  if (value === undefined) return null
  if (node.kind !== undefined) {
    return hasKind(node.kind, value) ? null : invalidOption(path, node.expected as string, value)
  }
  if (node.anyOf !== undefined) {
    const fits = node.anyOf.some((branch) =>
      Value.Check(branch as never, value) && kindError(branch, value, path) === null)
    if (fits) return null
    // A list goes through its own branch, so that the message names the item at fault.
    const list = node.anyOf.find((branch) => branch.items !== undefined)
    if (list !== undefined && Array.isArray(value)) return kindError(list, value, path)
    return invalidOption(path, node.expected as string, value)
  }
  if (node.properties !== undefined && isObject(value)) {
    for (const [name, child] of Object.entries(node.properties)) {
      const error = kindError(child, value[name], joinPath(path, name))
      if (error !== null) return error
    }
  }
  if (node.items !== undefined && Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const error = kindError(node.items, item, `${path}[${index}]`)
      if (error !== null) return error
    }
  }
  return null
}

function hasKind (kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'function': return typeof value === 'function'
    case 'functions': return typeof value === 'function' ||
      (Array.isArray(value) && value.every((item) => typeof item === 'function'))
    case 'regexp': return value instanceof RegExp
    case 'client': return isObject(value) && typeof value.notify === 'function' &&
      typeof value.startSession === 'function' && typeof value._notify === 'function' &&
      isObject(value._config) && isObject(value._cbs)
    case 'logger': return isObject(value) && ['debug', 'info', 'warn', 'error'].every(
      (method) => typeof value[method] === 'function')
    case 'store': return isObject(value) && ['add', 'take', 'giveBack', 'pending'].every(
      (method) => typeof value[method] === 'function')
    case 'object': return isObject(value)
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function schemaAt (schemaPath: string): SchemaNode {
  let node: unknown = OptionsSchema
  for (const part of schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    node = (node as Record<string, unknown>)[part]
  }
  return node as SchemaNode
}

function valueAt (root: unknown, pointer: string): unknown {
  let value: unknown = root
  for (const part of pointer.split('/').filter(Boolean)) {
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

function pointerToPath (pointer: string): string {
  return pointer.split('/').filter(Boolean)
    .map((part, index) => /^\d+$/.test(part) ? `[${part}]` : (index === 0 ? part : `.${part}`))
    .join('') || 'options'
}

function joinPath (path: string, name: string): string {
  return path === '' || path === 'options' ? name : `${path}.${name}`
}
