// @fastify/websocket: the upgrade request is an HTTP request that goes through onRequest, so an
// upgraded connection is one session, counted when it opens, however many messages it carries
// and however long it lasts. Messages are not requests: they start no session of their own.
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import WebSocket from 'ws'
import type { InternalClient } from '../../lib/bugsnag.js'
import { eventsOf, setup } from '../helpers.js'

function open (url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('open', () => resolve(socket))
    socket.once('error', reject)
  })
}

function reply (socket: WebSocket, message: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('message', (data) => resolve(String(data)))
    socket.send(message)
  })
}

/** The status of an upgrade the server refused. */
function upgradeStatus (url: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    // Aborting the handshake below emits an error; the status is what this test reads.
    socket.on('error', () => {})
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0)
      socket.terminate()
    })
  })
}

function closed (socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve())
    socket.close()
  })
}

test('an upgraded connection is one session, whatever it carries, and leaves nothing behind', async (t) => {
  const { app, collector, client } = await setup(t, {
    plugin: { sessionTracking: { excludeUrls: '^/live$' } },
    routes: async (app) => {
      await app.register(websocket)
      app.get('/echo', { websocket: true }, (socket, request) => {
        socket.on('message', (data) => {
          const text = String(data)
          if (text === 'report') request.bugsnag.notify(new Error('reported from a message'))
          if (text === 'static') app.bugsnag.notify(new Error('reported through the base client'))
          if (text === 'breadcrumb') request.bugsnag.leaveBreadcrumb('from a message')
          socket.send(`echo ${text}`)
        })
      })
      app.get('/live', { websocket: true }, (socket) => {
        socket.on('message', (data) => socket.send(String(data)))
      })
    }
  })
  const base = client as unknown as InternalClient
  const before = { onError: base._cbs.e.length, breadcrumbs: base._breadcrumbs.length, session: base._session }
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo

  const first = await open(`ws://127.0.0.1:${port}/echo`)
  const second = await open(`ws://127.0.0.1:${port}/echo`)
  const excluded = await open(`ws://127.0.0.1:${port}/live`)
  const answers = []
  for (let i = 0; i < 10; i++) answers.push(await reply(first, `m${i}`))
  answers.push(await reply(first, 'breadcrumb'))
  answers.push(await reply(first, 'report'))
  answers.push(await reply(second, 'hello'), await reply(excluded, 'alive'))
  await collector.waitFor(() => collector.eventPayloads.length === 1)
  const kept = { onError: base._cbs.e.length, breadcrumbs: base._breadcrumbs.length, session: base._session }
  // Message events are emitted by the socket, outside the request's async context.
  answers.push(await reply(second, 'static'))
  await collector.waitFor(() => collector.eventPayloads.length === 2)
  await Promise.all([closed(first), closed(second), closed(excluded)])

  t.equal(answers.length, 15)
  t.equal(answers[11], 'echo report')
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 2, 'one per connection to /echo, none per message')
  t.equal(stats.excluded, 1, 'the excluded /live connection')
  t.equal(stats.handledErrors, 1)
  const [event, inherited] = eventsOf(collector)
  t.same(event?.session?.events, { handled: 1, unhandled: 0 }, 'the event carries its connection\'s session')
  t.equal(event?.request?.httpMethod, 'GET')
  t.match(event?.request?.url, /\/echo$/)
  t.same(kept, before, 'the base client kept nothing of the connections')
  t.equal(inherited?.exceptions[0]?.errorMessage, 'reported through the base client')
  t.equal(inherited?.session, undefined, 'a static call in a message handler is not on the connection\'s session')
  t.same(inherited?.request, {}, 'nor does it carry the upgrade request')

  await app.bugsnagSessions.flush()
  t.equal(collector.sessionsStarted, 2)
})

test('an upgrade request refused before the handler is still one session (it reached a route)', async (t) => {
  const { app } = await setup(t, {
    routes: async (app) => {
      await app.register(websocket)
      app.get('/private', {
        websocket: true,
        preValidation: async (_request, reply) => { await reply.code(401).send({ error: 'unauthorised' }) }
      }, () => {})
    }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo

  const refused = await upgradeStatus(`ws://127.0.0.1:${port}/private`)
  const missing = await upgradeStatus(`ws://127.0.0.1:${port}/nowhere`)

  t.equal(refused, 401)
  t.equal(missing, 404)
  const stats = await app.bugsnagSessions.stats()
  t.equal(stats.started, 1, 'the refused upgrade; the one to no route starts none')
})
