import Fastify from 'fastify'
import { test } from 'tap'
import easyBugsnag, { INVALID_EXCLUSION, INVALID_OPTION, NO_CLIENT } from '../index.js'
import { describeValue } from '../lib/errors.js'
import { resolveSettings } from '../lib/options.js'
import { API_KEY, Bugsnag } from './helpers.js'

const client = Bugsnag.createClient({ apiKey: API_KEY, logger: null } as never)

const invalid: Array<[string, unknown, string, RegExp | string]> = [
  ['options that are not an object', 'key', INVALID_OPTION, 'option "options" must be an object, got "key"'],
  ['an unknown top-level option', { apiKey: API_KEY, sesionTracking: {} }, INVALID_OPTION, /option "sesionTracking" is not an option; expected one of client, apiKey, .*sessionTracking/],
  ['an unknown sessionTracking option', { apiKey: API_KEY, sessionTracking: { enable: true } }, INVALID_OPTION, /option "sessionTracking.enable" is not an option; expected one of enabled, /],
  ['neither client nor apiKey', {}, NO_CLIENT, 'give either "client" (a started Bugsnag client) or "apiKey"'],
  ['an apiKey that is undefined', { apiKey: undefined }, NO_CLIENT, 'give either "client" (a started Bugsnag client) or "apiKey"; "apiKey" was given but is undefined (is its environment variable set?)'],
  ['an empty apiKey', { apiKey: '' }, INVALID_OPTION, 'option "apiKey" must be a non-empty string, got ""'],
  ['a numeric apiKey', { apiKey: 42 }, INVALID_OPTION, 'option "apiKey" must be a non-empty string, got 42'],
  ['a client that is not a Bugsnag client', { client: {} }, INVALID_OPTION, 'option "client" must be a Bugsnag client (from Bugsnag.start() or Bugsnag.createClient()), got {}'],
  ['a client and Bugsnag settings', { client, releaseStage: 'x' }, INVALID_OPTION, 'option "releaseStage" must be left out when "client" is given (configure that client instead), got "x"'],
  ['a client and clientOptions', { client, clientOptions: {} }, INVALID_OPTION, 'option "clientOptions" must be left out when "client" is given (configure that client instead), got {}'],
  ['enabled as a string', { apiKey: API_KEY, sessionTracking: { enabled: 'yes' } }, INVALID_OPTION, 'option "sessionTracking.enabled" must be a boolean, got "yes"'],
  ['a negative TTL', { apiKey: API_KEY, sessionTracking: { cacheExpiresAfter: -1 } }, INVALID_OPTION, 'option "sessionTracking.cacheExpiresAfter" must be a number of seconds greater than 0 and at most 2147483, got -1'],
  ['a zero interval', { apiKey: API_KEY, sessionTracking: { deliveryInterval: 0 } }, INVALID_OPTION, 'option "sessionTracking.deliveryInterval" must be a number of seconds greater than 0 and at most 2147483, got 0'],
  ['a TTL shorter than the interval', { apiKey: API_KEY, sessionTracking: { cacheExpiresAfter: 10, deliveryInterval: 30 } }, INVALID_OPTION, 'option "sessionTracking.cacheExpiresAfter" must be at least sessionTracking.deliveryInterval (30 s), or buckets would expire before their first delivery, got 10'],
  ['a match mode that does not exist', { apiKey: API_KEY, sessionTracking: { excludeUrlsMatch: 'host' } }, INVALID_OPTION, 'option "sessionTracking.excludeUrlsMatch" must be \'path\' or \'url\', got "host"'],
  ['a pattern that is a number', { apiKey: API_KEY, sessionTracking: { excludeUrls: [1] } }, INVALID_OPTION, 'option "sessionTracking.excludeUrls[0]" must be a string pattern or a RegExp, got 1'],
  ['a single pattern that is an object', { apiKey: API_KEY, sessionTracking: { excludeUrls: {} } }, INVALID_OPTION, 'option "sessionTracking.excludeUrls" must be a string pattern, a RegExp, or a list of them, got {}'],
  ['a cache that is not a store', { apiKey: API_KEY, sessionTracking: { cache: { add () {} } } }, INVALID_OPTION, /option "sessionTracking.cache" must be 'memory', 'file' or a SessionStore object, got \{\}/],
  ['a cache name not known', { apiKey: API_KEY, sessionTracking: { cache: 'disk' } }, INVALID_OPTION, 'option "sessionTracking.cache" must be \'memory\', \'file\' or a SessionStore object, got "disk"'],
  ['maxBuckets that is not an integer', { apiKey: API_KEY, sessionTracking: { maxBuckets: 1.5 } }, INVALID_OPTION, 'option "sessionTracking.maxBuckets" must be an integer from 1 to 1000000, got 1.5'],
  ['shouldReportError that is not a function', { apiKey: API_KEY, shouldReportError: true }, INVALID_OPTION, 'option "shouldReportError" must be a function (error, request) => boolean, got true'],
  ['onSession that is a list with a non-function', { apiKey: API_KEY, onSession: [() => {}, 'x'] }, INVALID_OPTION, 'option "onSession" must be a function or a list of functions, got [null,"x"]'],
  ['endpoints without sessions', { apiKey: API_KEY, endpoints: { notify: 'http://127.0.0.1:1/notify' } }, INVALID_OPTION, /option "endpoints.sessions" must be a URL, got undefined|option "endpoints" must be an object with the URLs notify and sessions/],
  ['a logger that is a string', { apiKey: API_KEY, logger: 'console' }, INVALID_OPTION, 'option "logger" must be a logger with debug, info, warn and error, or null, got "console"'],
  ['redactedHeaders with an empty name', { apiKey: API_KEY, redactedHeaders: [''] }, INVALID_OPTION, 'option "redactedHeaders[0]" must be a non-empty header name, got ""'],
  ['enabledReleaseStages as a string', { apiKey: API_KEY, enabledReleaseStages: 'production' }, INVALID_OPTION, 'option "enabledReleaseStages" must be a list of strings or null, got "production"'],
  ['a delimiter of two characters', { apiKey: API_KEY, sessionTracking: { excludeUrlsDelimiter: '##' } }, INVALID_OPTION, /sessionTracking.excludeUrlsDelimiter/],
  ['several bad options (the deepest is named)', { apiKey: 1, sessionTracking: { enabled: 'x' } }, INVALID_OPTION, 'option "sessionTracking.enabled" must be a boolean, got "x"'],
  ['a duration past what timers take', { apiKey: API_KEY, sessionTracking: { deliveryInterval: 30 * 86400 } }, INVALID_OPTION, 'option "sessionTracking.deliveryInterval" must be a number of seconds greater than 0 and at most 2147483, got 2592000'],
  ['maxBuckets past a million', { apiKey: API_KEY, sessionTracking: { maxBuckets: 2 ** 53 } }, INVALID_OPTION, 'option "sessionTracking.maxBuckets" must be an integer from 1 to 1000000, got 9007199254740992'],
  ['a namespace that is a path', { apiKey: API_KEY, sessionTracking: { cacheNamespace: '../../etc' } }, INVALID_OPTION, 'option "sessionTracking.cacheNamespace" must be a name of letters, digits, _ . : and - (not "." or ".."), got "../../etc"'],
  ['a logger without methods', { apiKey: API_KEY, logger: {} }, INVALID_OPTION, 'option "logger" must be a logger with debug, info, warn and error, or null, got {}'],
  ['an endpoint that is not http', { apiKey: API_KEY, endpoints: { notify: 'http://127.0.0.1:1/notify', sessions: 'ftp://127.0.0.1:1/x' } }, INVALID_OPTION, 'option "endpoints.sessions" must be an http or https URL with a host, got "ftp://127.0.0.1:1/x"'],
  ['an endpoint without a host', { apiKey: API_KEY, endpoints: { notify: 'http://127.0.0.1:1/notify', sessions: 'http://' } }, INVALID_OPTION, 'option "endpoints.sessions" must be an http or https URL with a host, got "http://"'],
  ['an endpoint with a space', { apiKey: API_KEY, endpoints: { notify: 'http://exa mple/', sessions: 'http://127.0.0.1:1/sessions' } }, INVALID_OPTION, 'option "endpoints.notify" must be an http or https URL with a host, got "http://exa mple/"'],
  ['a client that only looks like one', { client: { notify () {}, startSession () {}, _config: {} } }, INVALID_OPTION, /option "client" must be a Bugsnag client/],
  ['a store whose configure() throws', { apiKey: API_KEY, sessionTracking: { cache: { add () {}, take () {}, giveBack () {}, pending () {}, configure () { throw new Error('configure boom') } } } }, INVALID_OPTION, /option "sessionTracking.cache" must be a store that accepts the plugin's settings \(its configure\(\) threw: configure boom\)/],
  ['a pattern that does not compile', { apiKey: API_KEY, sessionTracking: { excludeUrls: ['^/ok$', '(unclosed'] } }, INVALID_EXCLUSION, /sessionTracking\.excludeUrls\[1\].*\(unclosed/]
]

for (const [name, options, code, message] of invalid) {
  test(`registration fails on ${name}`, async (t) => {
    const app = Fastify()
    app.register(easyBugsnag, options as never)
    const error = await app.ready().then(() => null, (error: Error & { code: string }) => error)
    t.equal(error?.code, code)
    if (typeof message === 'string') t.equal(error?.message, `fastify-easy-bugsnag: ${message}`)
    else t.match(error?.message, message)
    await app.close()
  })
}

test('no options at all names the missing client', async (t) => {
  t.throws(() => resolveSettings(undefined), { code: NO_CLIENT })
})

test('defaults, as documented', async (t) => {
  const settings = resolveSettings({ apiKey: API_KEY })
  t.same(settings.sessions, {
    enabled: false,
    excludeUrls: [],
    excludeUrlsDelimiter: '#',
    excludeUrlsMatch: 'path',
    allowUnsafePatterns: false,
    cacheExpiresAfter: 3_600_000,
    deliveryInterval: 30_000,
    deliveryTimeout: 10_000,
    closeTimeout: 5_000,
    cache: 'memory',
    cacheNamespace: 'easy_bugsnag_sessions',
    maxBuckets: 10_000,
    jobCountForSessions: false,
    excludeJobs: []
  })
  t.equal(settings.asyncContext, true)
  t.same(settings.redactedHeaders, ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'bugsnag-api-key'])
  t.same(settings.clientConfig, { apiKey: API_KEY })
  t.equal(settings.shouldReportError(new Error('x'), {} as never), true)
  t.equal(settings.shouldReportError(Object.assign(new Error('x'), { statusCode: 499 }), {} as never), false)
  t.equal(settings.shouldReportError(Object.assign(new Error('x'), { statusCode: 503 }), {} as never), true)
  t.equal(settings.shouldReportError(null as never, {} as never), true)
})

test('a single pattern is a list of one; Bugsnag settings pass through', async (t) => {
  const onSession = () => {}
  const settings = resolveSettings({
    apiKey: API_KEY,
    releaseStage: 'production',
    onSession,
    clientOptions: { maxBreadcrumbs: 5 },
    sessionTracking: { excludeUrls: '^/ping$', cacheExpiresAfter: 60, deliveryInterval: 0.5 }
  })
  t.same(settings.sessions.excludeUrls, ['^/ping$'])
  t.equal(settings.sessions.deliveryInterval, 500)
  t.same(settings.clientConfig, { maxBreadcrumbs: 5, apiKey: API_KEY, releaseStage: 'production', onSession })
})

test('values are described briefly in messages', async (t) => {
  t.equal(describeValue(undefined), 'undefined')
  t.equal(describeValue(() => {}), 'a function')
  t.equal(describeValue(Symbol('s')), 'Symbol(s)')
  t.equal(describeValue(10n), '10')
  t.equal(describeValue(/x/g), '/x/g')
  t.equal(describeValue('x'.repeat(100)), `"${'x'.repeat(76)}...`)
  t.equal(describeValue({ toJSON: () => undefined }), '[object Object]')
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.equal(describeValue(circular), '[object Object]')
})
