/**
 * Errors the plugin raises, each with a stable `code` that callers can test
 * instead of parsing messages.
 */
export class EasyBugsnagError extends Error {
  readonly code: string

  constructor (code: string, message: string) {
    super(message)
    this.name = 'EasyBugsnagError'
    this.code = code
  }
}

/** An option that does not fit the schema or the rules beyond it. */
export const INVALID_OPTION = 'FST_EASY_BUGSNAG_INVALID_OPTION'
/** An exclusion pattern that cannot be compiled or read with certainty. */
export const INVALID_EXCLUSION = 'FST_EASY_BUGSNAG_INVALID_EXCLUSION'
/** The plugin registered twice on one Fastify instance. */
export const ALREADY_REGISTERED = 'FST_EASY_BUGSNAG_ALREADY_REGISTERED'
/** Neither `client` nor `apiKey` was given. */
export const NO_CLIENT = 'FST_EASY_BUGSNAG_NO_CLIENT'

/** Renders a value given in an option for an error message, kept short. */
export function describeValue (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'symbol' || typeof value === 'bigint') return String(value)
  if (value instanceof RegExp) return String(value)
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = Object.prototype.toString.call(value)
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

export function invalidOption (path: string, expected: string, given: unknown): EasyBugsnagError {
  return new EasyBugsnagError(
    INVALID_OPTION,
    `fastify-easy-bugsnag: option "${path}" must be ${expected}, got ${describeValue(given)}`
  )
}
