// Type tests for the public surface: this file must compile, and every
// `@ts-expect-error` line must be an error.
import type { Client } from '@bugsnag/js'
import Fastify from 'fastify'
import easyBugsnag, {
  easyBugsnag as named,
  EasyBugsnagError,
  INVALID_OPTION,
  MemorySessionStore,
  type BugsnagSessions,
  type EasyBugsnagOptions,
  type SessionStats,
  type SessionStore
} from '../index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T> (_value: T): void {}
function expectTrue<T extends true> (): T | undefined { return undefined }

const app = Fastify()
expectTrue<Equal<typeof named, typeof easyBugsnag>>()

await app.register(easyBugsnag, {
  apiKey: 'key',
  releaseStage: 'production',
  appVersion: '1.4.2',
  shouldReportError: (error, request) => (error.statusCode ?? 500) >= 500 && request.method !== 'HEAD',
  sessionTracking: {
    enabled: true,
    excludeUrls: ['/ping', '(ping|pong)', /^\/health$/],
    excludeUrlsDelimiter: '#',
    excludeUrlsMatch: 'path',
    cacheExpiresAfter: 3600,
    deliveryInterval: 30,
    cache: new MemorySessionStore({ maxBuckets: 100 }),
    cacheNamespace: 'easy_bugsnag_sessions'
  }
})

expectType<EasyBugsnagOptions>({
  apiKey: 'k',
  // @ts-expect-error excludeUrlsMatch is 'path' or 'url'
  sessionTracking: { excludeUrlsMatch: 'host' }
})
expectType<EasyBugsnagOptions>({
  apiKey: 'k',
  // @ts-expect-error cacheExpiresAfter is a number of seconds
  sessionTracking: { cacheExpiresAfter: '1h' }
})
// @ts-expect-error unknown options are refused
expectType<EasyBugsnagOptions>({ apiKey: 'k', sessionTracking: { enable: true } })

expectType<Client>(app.bugsnag)
expectType<BugsnagSessions>(app.bugsnagSessions)
expectType<Promise<SessionStats>>(app.bugsnagSessions.stats())
expectType<Promise<void>>(app.bugsnagSessions.flush())
expectType<boolean>(app.bugsnagSessions.isExcluded('/ping'))
// @ts-expect-error the request path's methods are not public
app.bugsnagSessions.start(Date.now())

expectTrue<Equal<SessionStats['started'], number>>()
expectTrue<Equal<SessionStats['lastDeliveryAt'], string | null>>()
expectTrue<Equal<SessionStats['enabled'], boolean>>()

app.get('/ready', { config: { bugsnagSessions: false } }, async (request) => {
  expectType<Client>(request.bugsnag)
  // @ts-expect-error request.bugsnag is read-only
  request.bugsnag = app.bugsnag
  return 'ok'
})

const store: SessionStore = {
  add: () => {},
  take: async () => ({ buckets: [{ minute: 0, sessions: 1 }], expired: 0 }),
  giveBack: () => 0,
  pending: () => ({ sessions: 0, expired: 0 })
}
expectType<SessionStore>(store)
expectType<string>(new EasyBugsnagError(INVALID_OPTION, 'x').code)
