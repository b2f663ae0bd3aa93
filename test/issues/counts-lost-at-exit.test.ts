// Case C3: counts lost at exit, and timers that keep the process alive (bugsnag-js #477, bugsnag-php PR #586).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import Fastify from 'fastify'
import easyBugsnag from '../../index.js'
import { Collector } from '../../lib/collector.js'
import { createClient, until } from '../helpers.js'

const service = fileURLToPath(new URL('../fixtures/short-lived-service.ts', import.meta.url))

test('a process that closes the app delivers its counts and exits on its own', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())

  // The child loads TypeScript the way this process does.
  const child = spawn(process.execPath, [...process.execArgv, service, collector.url, '5'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exitCode = await new Promise<number | null>((resolve) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('exit', (code) => {
      clearTimeout(guard)
      resolve(code)
    })
  })

  t.equal(exitCode, 0, 'exited by itself, before the guard')
  t.equal(collector.sessionPayloads.length, 1)
  t.equal(collector.sessionsStarted, 5)
})

test('a process ended by an uncaught exception delivers its counts first', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const crashing = fileURLToPath(new URL('../fixtures/crashing-service.ts', import.meta.url))

  const child = spawn(process.execPath, [...process.execArgv, crashing, collector.url], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))

  t.equal(exitCode, 1, "Bugsnag's handler ends the process")
  t.equal(collector.sessionsStarted, 4)
  const [event] = collector.eventPayloads
  t.equal((event?.body as { events: Array<{ unhandled: boolean, session: { events: { unhandled: number } } }> }).events[0]?.session.events.unhandled, 1)
})

test('the crash path and close() deliver once between them', async (t) => {
  const collector = await Collector.start()
  t.teardown(() => collector.close())
  const client = createClient(collector) as unknown as { _config: { onUncaughtException: (...args: unknown[]) => void } }
  const exits: unknown[] = []
  // Stands for Bugsnag's default, which would end the process.
  client._config.onUncaughtException = (error) => { exits.push(error) }
  const app = Fastify()
  await app.register(easyBugsnag, { client: client as never, sessionTracking: { enabled: true, deliveryInterval: 60 } })
  app.get('/ok', async () => 'ok')
  for (let i = 0; i < 3; i++) await app.inject('/ok')

  const crash = new Error('crash')
  client._config.onUncaughtException(crash, {}, console)
  await until(() => exits.length === 1)
  await app.close()

  t.same(exits, [crash])
  t.equal(collector.sessionsStarted, 3)
  t.equal(collector.sessionPayloads.length, 1)
})
