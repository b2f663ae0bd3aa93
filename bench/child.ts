/**
 * The parent's side of a benchmarked server (bench/server.ts): spawns it with
 * --expose-gc, and asks it over IPC for its CPU time and heap.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Row } from './rows.js'

export type ParentMessage = { type: 'begin' } | { type: 'end' } | { type: 'heap' } | { type: 'stop' }

export type ChildMessage =
  | { type: 'ready', port: number, pid: number }
  | { type: 'begun', at: number }
  | { type: 'cpu', user: number, system: number, served: number, at: number }
  | { type: 'heap', heapUsed: number, served: number }
  | { type: 'stopped' }

type Reply<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url))
// Long enough for four full GCs of a large heap, short enough to notice a hung child.
const ANSWER_TIMEOUT = 30_000

export interface ChildOptions {
  /** Extra environment: the collector's URL, a file store's directory, a Redis port. */
  env: Record<string, string>
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[]
}

export class ServerChild {
  readonly row: Row
  readonly port: number
  readonly pid: number
  #process: ChildProcess
  #waiting: { type: string, resolve: (message: ChildMessage) => void, reject: (error: Error) => void } | null = null

  private constructor (row: Row, process: ChildProcess, ready: Reply<'ready'>) {
    this.row = row
    this.#process = process
    this.port = ready.port
    this.pid = ready.pid
    process.on('message', (message: ChildMessage) => this.#receive(message))
    process.on('exit', (code, signal) => this.#fail(new Error(`bench: server ${row.id} exited (${signal ?? code})`)))
    process.on('error', (error) => this.#fail(error))
  }

  static async start (row: Row, options: ChildOptions): Promise<ServerChild> {
    const child = spawn(process.execPath, [
      '--expose-gc',
      ...(options.nodeArgs ?? []),
      '--import', 'tsx',
      SERVER
    ], {
      cwd: ROOT,
      env: { ...process.env, ...options.env, BENCH_ROW: JSON.stringify(row) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    const ready = await new Promise<Reply<'ready'>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill()
        reject(new Error(`bench: server ${row.id} did not start within ${ANSWER_TIMEOUT} ms`))
      }, ANSWER_TIMEOUT)
      child.once('message', (message: ChildMessage) => {
        clearTimeout(timer)
        if (message.type === 'ready') resolve(message)
        else reject(new Error(`bench: server ${row.id} said ${message.type} before ready`))
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`bench: server ${row.id} exited with ${code} before it was ready`))
      })
    })
    child.removeAllListeners('exit')
    return new ServerChild(row, child, ready)
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Marks the start of a measured round. */
  begin (): Promise<Reply<'begun'>> {
    return this.#ask({ type: 'begin' }, 'begun')
  }

  /** CPU time (µs) and requests served since `begin`. */
  end (): Promise<Reply<'cpu'>> {
    return this.#ask({ type: 'end' }, 'cpu')
  }

  /** Heap used after forced GC, and requests served since the start. */
  heap (): Promise<Reply<'heap'>> {
    return this.#ask({ type: 'heap' }, 'heap')
  }

  /** Closes the server (the plugin delivers what is pending) and waits for the process to exit. */
  async stop (): Promise<void> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return
    this.#process.removeAllListeners('exit')
    const exited = new Promise<void>((resolve) => this.#process.once('exit', () => resolve()))
    this.#process.send({ type: 'stop' } satisfies ParentMessage)
    const timer = setTimeout(() => this.#process.kill('SIGKILL'), ANSWER_TIMEOUT)
    await exited
    clearTimeout(timer)
  }

  #ask<T extends ChildMessage['type']> (message: ParentMessage, type: T): Promise<Reply<T>> {
    if (this.#waiting !== null) return Promise.reject(new Error('bench: one question at a time'))
    return new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`bench: server ${this.row.id} did not answer ${message.type}`)), ANSWER_TIMEOUT)
      this.#waiting = {
        type,
        resolve: (answer) => { clearTimeout(timer); resolve(answer as Reply<T>) },
        reject: (error) => { clearTimeout(timer); reject(error) }
      }
      this.#process.send(message)
    })
  }

  #receive (message: ChildMessage): void {
    const waiting = this.#waiting
    if (waiting === null || waiting.type !== message.type) return
    this.#waiting = null
    waiting.resolve(message)
  }

  #fail (error: Error): void {
    const waiting = this.#waiting
    this.#waiting = null
    waiting?.reject(error)
  }
}
