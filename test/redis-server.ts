import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import type { Test } from 'tap'

/** A redis-server of the test's own, on a free port of 127.0.0.1, without persistence. */
export interface RedisServer {
  port: number
  url: string
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop (): Promise<void>
  /** Starts it again on the same port, empty. */
  start (): Promise<void>
  /** The server's process, e.g. to pause it with SIGSTOP. */
  readonly process: ChildProcess
}

const MISSING = 'redis-server is not installed, and the Redis store tests need a real one: ' +
  'install the Debian package redis-server (.ci/run does)'

/** Starts a redis-server for the test and stops it at teardown. Fails, never skips, when there is none. */
export async function startRedis (t: Test): Promise<RedisServer> {
  const port = await freePort()
  let child = await spawnServer(port)
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get process () { return child },
    stop: () => stopServer(child),
    async start () {
      child = await spawnServer(port)
    }
  }
  t.teardown(() => stopServer(child))
  return server
}

async function spawnServer (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (!output.includes('Ready to accept connections')) return
      child.stdout?.off('data', onData)
      // Keep draining, so that a full pipe never stalls the server.
      child.stdout?.resume()
      resolve()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new Error(MISSING) : error)
    })
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`)))
  })
  return child
}

async function stopServer (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // A paused server would never act on SIGTERM.
  child.kill('SIGCONT')
  child.kill('SIGTERM')
  await exited
}

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}
