import http from 'node:http'
import type { AddressInfo } from 'node:net'
// Real timers even where a test fakes the global ones: the collector stands for a remote service.
import { clearTimeout, setTimeout } from 'node:timers'

/** One POST the collector received. */
export interface CollectedRequest {
  method: string
  /** `/sessions` or `/notify`. */
  path: string
  headers: http.IncomingHttpHeaders
  /** The JSON body, parsed; null when it was not JSON. */
  body: unknown
  receivedAt: number
}

/** How the collector answers one request. */
export interface CollectorAnswer {
  status?: number
  headers?: Record<string, string>
  /** Milliseconds to wait before answering. */
  delay?: number
  /** Never answer and keep nothing of it, like an endpoint that hangs. */
  hang?: boolean
  /** Close the connection without an answer. */
  reset?: boolean
  /** Send the status line and part of the body, then close the connection. */
  truncate?: boolean
}

export interface CollectorOptions {
  /** Port on 127.0.0.1; default: any free port. */
  port?: number
  /** Called with each recorded request, e.g. to print it. */
  onRequest?: (request: CollectedRequest) => void
  /** Decides each answer; default 202 at once. */
  answer?: (request: CollectedRequest) => CollectorAnswer
}

interface SessionCountsBody {
  sessionCounts?: Array<{ startedAt: string, sessionsStarted: number }>
}

/**
 * A Bugsnag-compatible collector on 127.0.0.1: it accepts session and event
 * payloads as Bugsnag's endpoints do, records their headers and JSON bodies,
 * and answers as told. It stands in for Bugsnag in the example service and
 * in the tests; requests that hang or are reset are not recorded, as Bugsnag
 * would not have processed them.
 */
export class Collector {
  /** Requests answered with a 2xx: what Bugsnag would have processed. */
  readonly requests: CollectedRequest[] = []
  /** Every request that arrived, whatever the answer. */
  readonly received: CollectedRequest[] = []
  answer: (request: CollectedRequest) => CollectorAnswer
  #server: http.Server
  #onRequest: ((request: CollectedRequest) => void) | undefined
  #waiters = new Set<() => void>()

  private constructor (server: http.Server, options: CollectorOptions) {
    this.#server = server
    this.#onRequest = options.onRequest
    this.answer = options.answer ?? (() => ({ status: 202 }))
  }

  static async start (options: CollectorOptions = {}): Promise<Collector> {
    const server = http.createServer()
    const collector = new Collector(server, options)
    server.on('request', (request, response) => collector.#handle(request, response))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
    })
    return collector
  }

  get url (): string {
    const { port } = this.#server.address() as AddressInfo
    return `http://127.0.0.1:${port}`
  }

  /** Both endpoints, in the form Bugsnag's `endpoints` setting takes. */
  get endpoints (): { notify: string, sessions: string } {
    return { notify: `${this.url}/notify`, sessions: `${this.url}/sessions` }
  }

  /** Session payloads received and acknowledged. */
  get sessionPayloads (): CollectedRequest[] {
    return this.requests.filter((request) => request.path === '/sessions')
  }

  /** Event payloads received and acknowledged. */
  get eventPayloads (): CollectedRequest[] {
    return this.requests.filter((request) => request.path === '/notify')
  }

  /** Every session counted in the session payloads received with a 2xx answer. */
  get sessionsStarted (): number {
    let total = 0
    for (const request of this.sessionPayloads) {
      for (const count of (request.body as SessionCountsBody | null)?.sessionCounts ?? []) total += count.sessionsStarted
    }
    return total
  }

  /** Resolves once `predicate` holds, checked after each request; rejects after `timeout` ms. */
  waitFor (predicate: () => boolean, timeout = 5000): Promise<void> {
    if (predicate()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`collector: condition not met within ${timeout} ms`))
      }, timeout)
      this.#waiters.add(check)
    })
  }

  async close (): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #handle (request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown = null
      try {
        body = JSON.parse(text)
      } catch {}
      const collected: CollectedRequest = {
        // A server's requests always have both.
        method: request.method as string,
        path: (request.url as string).split('?')[0] as string,
        headers: request.headers,
        body,
        receivedAt: Date.now()
      }
      this.received.push(collected)
      const answer = this.answer(collected)
      if (answer.hang === true) return
      if (answer.reset === true) {
        request.socket.destroy()
        return
      }
      if (answer.truncate === true) {
        response.writeHead(answer.status ?? 202, { 'content-length': '100' })
        response.write('{"status":', () => request.socket.destroy())
        return
      }
      const reply = () => {
        const status = answer.status ?? 202
        if (status >= 200 && status < 300) this.#record(collected)
        response.writeHead(status, { 'content-type': 'application/json', ...answer.headers })
        response.end(status >= 200 && status < 300 ? '{"status":"accepted"}' : '{"errors":["refused"]}')
      }
      if ((answer.delay ?? 0) > 0) setTimeout(reply, answer.delay)
      else reply()
    })
  }

  #record (request: CollectedRequest): void {
    this.requests.push(request)
    this.#onRequest?.(request)
    for (const waiter of [...this.#waiters]) waiter()
  }
}
