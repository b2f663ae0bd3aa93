// Case C9: URL forms (fastify-metrics #13, fastify PR #3242).
import { test } from 'tap'
import { pathOf } from '../../lib/exclusions.js'
import type { FastifyInstance } from 'fastify'
import { recordingLogger, setup } from '../helpers.js'

/** Sessions started and requests excluded so far. */
async function countsOf (app: FastifyInstance): Promise<{ started: number, excluded: number }> {
  const { started, excluded } = await app.bugsnagSessions.stats()
  return { started, excluded }
}

test('exclusions see the path as sent: slashes, queries and HEAD; case and encoding as documented', async (t) => {
  const { app } = await setup(t, {
    fastify: { routerOptions: { caseSensitive: false } },
    plugin: { sessionTracking: { excludeUrls: ['^/health/?$'] } },
    routes: (app) => {
      app.get('/health', async () => 'up')
      app.get('/health/', async () => 'up')
      app.get('/healthz', async () => 'up')
    }
  })

  const excluded = ['/health?probe=1', '/health/']
  for (const url of excluded) await app.inject(url)
  await app.inject({ method: 'HEAD', url: '/health' })
  t.same(await countsOf(app), { started: 0, excluded: 3 })

  // Counted: another path; and, by the documented rule (patterns see the raw path, case-sensitive
  // unless the pattern says otherwise, percent-encoding not decoded), /HEALTH and /%68ealth.
  for (const url of ['/healthz', '/HEALTH', '/%68ealth']) t.equal((await app.inject(url)).statusCode, 200, url)
  t.same(await countsOf(app), { started: 3, excluded: 3 })

  // No route: no session, nothing excluded, nothing thrown.
  t.equal((await app.inject({ method: 'DELETE', url: '/health' })).statusCode, 404)
  t.equal((await app.inject('/nope')).statusCode, 404)
  t.same(await countsOf(app), { started: 3, excluded: 3 })
})

test('a RegExp with the g flag gives the same answer on every request', async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: [/^\/health$/g] } },
    routes: (app) => { app.get('/health', async () => 'up') }
  })

  for (let i = 0; i < 5; i++) await app.inject('/health')

  t.equal((await app.bugsnagSessions.stats()).excluded, 5)
  t.equal(app.bugsnagSessions.isExcluded('/health'), true)
  t.equal(app.bugsnagSessions.isExcluded('/health'), true)
})

test("in 'url' mode patterns see the absolute URL the original built", async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrlsMatch: 'url', excludeUrls: ['^http://localhost/ping\\?a=1&b=2$', 'probe'] } },
    routes: (app) => { app.get('/ping', async () => 'pong') }
  })

  await app.inject('/ping?b=2&a=1')
  await app.inject({ url: '/ping', headers: { host: 'probe.internal' } })
  await app.inject('/ping?a=2')

  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.excluded, 2)
  t.equal(stats.started, 1)
  t.equal(app.bugsnagSessions.isExcluded('http://localhost/ping?a=1&b=2'), true)
})

test('odd request targets never break a request', async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: ['^/static/', '(ping|pong)$'] } },
    routes: (app) => { app.get('/*', async () => 'any') }
  })

  const targets = ['/%E0%A4%A', '/%ZZ', '/' + 'a'.repeat(50_000), '/static/%00', '/a?%', '//double//slash', '/ping#frag']
  const statuses = []
  for (const url of targets) statuses.push((await app.inject(url)).statusCode)

  // Fastify itself answers 400 to targets it cannot decode, before any route; those start no session.
  t.same(statuses, [400, 400, 200, 200, 200, 200, 200])
  const stats = await app.bugsnagSessions.stats()
  t.same({ started: stats.started, excluded: stats.excluded }, { started: 3, excluded: 2 })
})

test("in 'path' mode a pattern that can only match a query string is reported at registration", async (t) => {
  const logger = recordingLogger()
  await setup(t, {
    fastify: { logger: { level: 'warn', stream: logger.stream } },
    plugin: { sessionTracking: { excludeUrls: ['^/ok$', '\\?probe=1'] } }
  })

  const warnings = logger.lines.filter((line) => line.level === 40).map((line) => line.msg)
  t.equal(warnings.length, 1)
  t.match(warnings[0], /^fastify-easy-bugsnag: sessionTracking\.excludeUrls\[1\] .*'url'/)
})

test('the path ends at the first ? or #, whichever comes first', async (t) => {
  t.same(['/a#b?c', '/a?b#c', '/a#b', '/a?b', '/a', 'http://x/a?b', 'http://x'].map(pathOf),
    ['/a', '/a', '/a', '/a', '/a', '/a', '/'])
})

test('a query nested deeper than PHP allows is dropped as PHP drops it, and never fails the request', async (t) => {
  const { app, collector } = await setup(t, {
    plugin: { sessionTracking: { excludeUrlsMatch: 'url', excludeUrls: ['^http://[^/]+/ok\\?b=2$'] } }
  })

  // PHP keeps 64 levels of brackets and drops a variable nested deeper, whole: what is left is b=2.
  for (const depth of [65, 5000]) {
    const response = await app.inject(`/ok?a${'[]'.repeat(depth)}=1&b=2`)
    t.equal(response.statusCode, 200, `${depth} levels`)
  }
  t.equal((await app.inject(`/ok?a${'[]'.repeat(64)}=1&b=2`)).statusCode, 200)
  t.same(await countsOf(app), { started: 1, excluded: 2 })
  t.equal(collector.eventPayloads.length, 0, 'nothing reported')
})

test('a URL the exclusions cannot test starts a session, and is logged once', async (t) => {
  const logger = recordingLogger()
  const { app } = await setup(t, {
    fastify: { logger: { stream: logger.stream } },
    // An earlier hook that leaves the request without a URL.
    before: (app) => { app.addHook('onRequest', (request, _reply, done) => { (request.raw as { url?: string }).url = undefined; done() }) },
    plugin: { sessionTracking: { excludeUrls: ['^/health$'] } }
  })

  for (let i = 0; i < 3; i++) t.equal((await app.inject('/ok')).statusCode, 200)
  t.same(await countsOf(app), { started: 3, excluded: 0 })
  t.equal(logger.lines.filter((line) => /could not test a request's URL/.test(String(line.msg))).length, 1)
})
