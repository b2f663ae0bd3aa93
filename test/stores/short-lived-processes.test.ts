// Evidence for the file store with short-lived processes (serverless invocations, CLI runs):
// they deliver at most once per interval between them, and what one leaves in the store is
// delivered by the next that runs.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t0, { test } from 'tap'
import { FileSessionStore } from '../../index.js'
import { Collector } from '../../lib/collector.js'
import { runWorker, senders, type Run } from '../workers.js'

const root = await mkdtemp(path.join(os.tmpdir(), 'easy-bugsnag-short-'))
t0.teardown(() => rm(root, { recursive: true, force: true }))

test('20 short-lived processes, one request each, deliveryInterval 1: all 20 delivered in far fewer deliveries', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const directory = await mkdtemp(path.join(root, 'twenty-'))

  // Five at a time, as invocations under a burst of traffic are, without booting twenty at once on two cores.
  const runs: Run[] = []
  for (let wave = 0; wave < 4; wave++) {
    runs.push(...await Promise.all([0, 1, 2, 3, 4].map((n) => runWorker([collector.url, directory, '1', '1', `short-${wave * 5 + n}`]))))
  }
  t.same(runs.map((run) => run.code), new Array(20).fill(0))
  const left = (await new FileSessionStore({ directory }).pending(Date.now())).sessions
  const byThe20 = collector.sessionsStarted

  // The next process to run, once the interval has passed, delivers what they left.
  await sleep(1100)
  const after = await runWorker([collector.url, directory, '0', '1', 'after'])
  t.equal(after.code, 0)

  t.equal(collector.sessionsStarted, 20)
  t.equal(byThe20 + left, 20)
  const deliveries = senders(collector)
  t.ok(deliveries.length <= 10, `${deliveries.length} deliveries for 20 processes`)
  t.equal(deliveries.filter((sender) => sender === 'after').length, left > 0 ? 1 : 0, 'what was left, delivered by the next process')
  const counts = collector.sessionPayloads.map((request) =>
    (request.body as { sessionCounts: Array<{ sessionsStarted: number }> }).sessionCounts.reduce((sum, count) => sum + count.sessionsStarted, 0))
  t.ok(counts.some((count) => count > 1), 'a process delivered sessions that processes before it had left in the store')
  t.comment(`20 sessions in ${deliveries.length} deliveries carrying ${counts.join(', ')}; ${left} left by the 20 and delivered by the process after them`)
})
