// Neighbours that answer or decorate requests: @fastify/cors, @fastify/helmet, @fastify/rate-limit.
// (A preflight answered by @fastify/cors before the plugin's hook is case C10, in test/issues.)
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { eventsOf, sessionCountsOf, setup } from '../helpers.js'

const fromShop = { origin: 'https://shop.test' }

test('@fastify/cors: simple CORS requests are sessions, in either registration order', async (t) => {
  for (const order of ['cors first', 'plugin first'] as const) {
    await t.test(order, async (t) => {
      const registerCors = async (app: FastifyInstance) => { await app.register(cors, { origin: true }) }
      const { app } = await setup(t, {
        before: order === 'cors first' ? registerCors : undefined,
        routes: async (app) => {
          if (order === 'plugin first') await registerCors(app)
          app.get('/items', async () => [])
        }
      })

      const responses = [
        await app.inject({ url: '/items', headers: fromShop }),
        await app.inject({ method: 'POST', url: '/items', headers: fromShop })
      ]

      t.same(responses.map((response) => response.statusCode), [200, 404])
      t.equal(responses[0]?.headers['access-control-allow-origin'], 'https://shop.test')
      const stats = await app.bugsnagSessions.stats()
      t.equal(stats.started, 1, 'the GET; the POST matched no route')
      t.equal(stats.excluded, 0)
    })
  }
})

test('@fastify/helmet: headers set, one session per request, excluded requests untouched by it', async (t) => {
  for (const order of ['helmet first', 'plugin first'] as const) {
    await t.test(order, async (t) => {
      const registerHelmet = async (app: FastifyInstance) => { await app.register(helmet) }
      const { app, collector } = await setup(t, {
        before: order === 'helmet first' ? registerHelmet : undefined,
        plugin: { sessionTracking: { excludeUrls: '^/health$' } },
        routes: async (app) => {
          if (order === 'plugin first') await registerHelmet(app)
          app.get('/health', async () => 'ok')
        }
      })

      const responses = await Promise.all([app.inject('/ok'), app.inject('/ok'), app.inject('/health')])
      await app.bugsnagSessions.flush()

      for (const response of responses) {
        t.equal(response.statusCode, 200)
        t.equal(response.headers['x-content-type-options'], 'nosniff')
        t.match(response.headers['content-security-policy'], /default-src 'self'/)
      }
      const stats = await app.bugsnagSessions.stats()
      t.equal(stats.started, 2)
      t.equal(stats.excluded, 1)
      t.equal(stats.delivered, 2)
      t.equal(collector.sessionsStarted, 2)
    })
  }
})

test('@fastify/rate-limit: a request refused with 429 is a session without an error, in either order', async (t) => {
  // rate-limit puts its check in each route's own onRequest hooks, which Fastify runs after
  // the application's: the plugin has counted the session before the limit is checked.
  for (const order of ['rate-limit first', 'plugin first'] as const) {
    await t.test(order, async (t) => {
      const registerRateLimit = async (app: FastifyInstance) => {
        await app.register(rateLimit, { max: 2, timeWindow: 60_000 })
      }
      const { app, collector } = await setup(t, {
        before: order === 'rate-limit first' ? registerRateLimit : undefined,
        routes: async (app) => {
          if (order === 'plugin first') await registerRateLimit(app)
          app.get('/limited', async () => 'ok')
        }
      })

      const statuses: number[] = []
      for (let i = 0; i < 5; i++) statuses.push((await app.inject('/limited')).statusCode)
      await app.bugsnagSessions.flush()

      t.same(statuses, [200, 200, 429, 429, 429])
      const stats = await app.bugsnagSessions.stats()
      t.equal(stats.started, 5, 'every request that reached the route, refused or not')
      t.equal(stats.unhandledErrors, 0, 'a 429 is not reported (its status is under 500)')
      t.equal(stats.stability, 1)
      t.same(sessionCountsOf(collector).map((count) => count.sessionsStarted), [5])
      t.same(eventsOf(collector), [])
    })
  }
})

test('@fastify/rate-limit: requests to an excluded URL are refused without counting', async (t) => {
  const { app } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: '^/health$' } },
    routes: async (app) => {
      await app.register(rateLimit, { max: 1, timeWindow: 60_000 })
      app.get('/health', async () => 'ok')
    }
  })

  const statuses = [(await app.inject('/health')).statusCode, (await app.inject('/health')).statusCode]

  t.same(statuses, [200, 429])
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 0)
  t.equal(stats.excluded, 2)
})
