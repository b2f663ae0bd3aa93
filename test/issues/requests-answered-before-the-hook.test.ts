// Case C10: requests answered before the plugin's hook (fastify-routes-stats #94, fastify-cors #290).
import cors from '@fastify/cors'
import { test } from 'tap'
import { setup } from '../helpers.js'

const preflight = {
  method: 'OPTIONS' as const,
  url: '/items',
  headers: { origin: 'https://shop.test', 'access-control-request-method': 'POST' }
}

test('a CORS preflight answered by @fastify/cors registered first starts no session', async (t) => {
  const { app } = await setup(t, {
    before: async (app) => { await app.register(cors, { origin: true }) },
    routes: (app) => { app.post('/items', async () => ({ ok: true })) }
  })

  const response = await app.inject(preflight)
  await app.inject({ method: 'POST', url: '/items', headers: { origin: 'https://shop.test' } })

  t.equal(response.statusCode, 204)
  t.equal(response.headers['access-control-allow-origin'], 'https://shop.test')
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 1, 'the POST only')
  t.equal(stats.excluded, 0)
})

test('with the plugin registered first, the preflight is a request to a route and counts', async (t) => {
  const { app } = await setup(t, {
    routes: async (app) => {
      await app.register(cors, { origin: true })
      app.post('/items', async () => ({ ok: true }))
    }
  })

  const response = await app.inject(preflight)

  t.equal(response.statusCode, 204)
  t.equal((await app.bugsnagSessions.stats()).started, 1)
})
