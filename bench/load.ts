/**
 * Load from autocannon, in the parent process, against one server on
 * 127.0.0.1. Every run is bounded: by its duration, or for a fixed amount of
 * requests by a time limit after which it is stopped.
 */
import autocannon from 'autocannon'

export interface LoadOptions {
  url: string
  connections: number
  /** Requests in flight per connection; default 1. */
  pipelining?: number
  /** Seconds; ignored when `amount` is given. */
  duration?: number
  /** Requests to complete. */
  amount?: number
  /** Seconds after which a run for an `amount` is stopped, finished or not. */
  limit?: number
}

export interface LoadResult {
  requestsPerSecond: number
  /** 99th percentile latency, ms. */
  p99: number
  requests: number
  non2xx: number
  errors: number
  seconds: number
}

export function load (options: LoadOptions): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(options.url)) {
    return Promise.reject(new Error(`bench: load goes to 127.0.0.1 only, not ${options.url}`))
  }
  return new Promise((resolve, reject) => {
    let limit: NodeJS.Timeout | undefined
    const instance = autocannon({
      url: options.url,
      connections: options.connections,
      pipelining: options.pipelining ?? 1,
      ...(options.amount === undefined ? { duration: options.duration ?? 1 } : { amount: options.amount }),
      // autocannon's own bound, in case `stop()` below never runs.
      timeout: 10
    }, (error, result) => {
      clearTimeout(limit)
      if (error !== null && error !== undefined) return reject(error)
      resolve({
        requestsPerSecond: result.requests.total / result.duration,
        p99: result.latency.p99,
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        seconds: result.duration
      })
    })
    if (options.amount !== undefined) {
      limit = setTimeout(() => instance.stop(), (options.limit ?? 120) * 1000)
    }
  })
}
