import { test } from 'tap'
import { Collector } from '../lib/collector.js'

async function post (url: string, body: string): Promise<number> {
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
  await response.text()
  return response.status
}

test('records what it acknowledges, and everything that arrived', async (t) => {
  const seen: string[] = []
  const collector = await Collector.start({
    onRequest: (request) => seen.push(request.path),
    answer: (request) => request.path === '/notify' ? { status: 500 } : { delay: 20 }
  })
  t.teardown(() => collector.close())

  t.equal(await post(collector.endpoints.sessions + '?x=1', '{"sessionCounts":[{"startedAt":"t","sessionsStarted":3}]}'), 202)
  t.equal(await post(collector.endpoints.sessions, 'not json'), 202)
  t.equal(await post(collector.endpoints.notify, '{"events":[]}'), 500)

  t.equal(collector.received.length, 3)
  t.equal(collector.requests.length, 2)
  t.same(seen, ['/sessions', '/sessions'])
  t.equal(collector.requests[1]?.body, null)
  t.equal(collector.sessionsStarted, 3)
  t.equal(collector.eventPayloads.length, 0)
  t.match(collector.url, /^http:\/\/127\.0\.0\.1:\d+$/)
})

test('waitFor rejects when the condition does not come true in time', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())

  await t.rejects(collector.waitFor(() => collector.requests.length > 0, 30), {
    message: 'collector: condition not met within 30 ms'
  })
  await collector.waitFor(() => true)
})
