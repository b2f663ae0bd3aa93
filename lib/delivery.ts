import http from 'node:http'
import https from 'node:https'
import type { SessionBucket } from './store.js'

/** Where and how session payloads go, read from the Bugsnag client. */
export interface DeliveryTarget {
  url: string
  apiKey: string
  agent: http.Agent | undefined
  /** Milliseconds before an unanswered delivery is abandoned. */
  timeout: number
}

export type DeliveryOutcome =
  | { ok: true, status: number }
  | {
    ok: false
    /** Whether the same payload may succeed later (network, timeout, 5xx, 408, 429). */
    retry: boolean
    status: number | null
    reason: string
    /** Milliseconds the endpoint asked us to wait (Retry-After), or null. */
    retryAfter: number | null
  }

export interface SessionPayload {
  notifier: { name: string, version: string, url: string }
  device: { hostname: string, runtimeVersions: Record<string, string> }
  app: { releaseStage?: string, version?: string, type?: string }
  sessionCounts: Array<{ startedAt: string, sessionsStarted: number }>
}

export interface PayloadSource {
  notifier: { name: string, version: string, url: string }
  hostname: string
  releaseStage: string | undefined
  appVersion: string | undefined
  appType: string | undefined
  fastifyVersion: string
}

/** The body Bugsnag's sessions API expects (payload version 1). */
export function sessionPayload (source: PayloadSource, buckets: readonly SessionBucket[]): SessionPayload {
  return {
    notifier: source.notifier,
    device: {
      hostname: source.hostname,
      runtimeVersions: { node: process.versions.node, fastify: source.fastifyVersion }
    },
    app: { releaseStage: source.releaseStage, version: source.appVersion, type: source.appType },
    sessionCounts: buckets.map(({ minute, sessions }) => ({
      startedAt: new Date(minute).toISOString(),
      sessionsStarted: sessions
    }))
  }
}

const RETRYABLE_STATUS = new Set([408, 429])

/**
 * POSTs one payload. Never rejects: every way the attempt can end is an
 * outcome, so that no failure can escape into a request or the process.
 */
export function postSessions (
  target: DeliveryTarget,
  payload: SessionPayload,
  signal?: AbortSignal
): Promise<DeliveryOutcome> {
  return new Promise((resolve) => {
    let url: URL | null = null
    try {
      url = new URL(target.url)
    } catch {}
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      resolve({ ok: false, retry: false, status: null, reason: 'the sessions endpoint is not an http or https URL', retryAfter: null })
      return
    }
    const body = JSON.stringify(payload)
    const transport = url.protocol === 'http:' ? http : https
    const request = transport.request(url, {
      method: 'POST',
      // Without an agent of the app's, each delivery uses its own connection,
      // so that nothing stays open between deliveries or after close.
      agent: target.agent ?? false,
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        'Bugsnag-Api-Key': target.apiKey,
        'Bugsnag-Payload-Version': '1',
        'Bugsnag-Sent-At': new Date().toISOString()
      },
      signal
    })

    let settled = false
    const settle = (outcome: DeliveryOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      resolve(outcome)
    }
    const fail = (reason: string) => settle({ ok: false, retry: true, status: null, reason, retryAfter: null })

    // A deadline for the whole exchange: a socket timeout alone would let an
    // endpoint that trickles bytes hold the delivery for ever.
    const deadline = setTimeout(() => {
      fail(`no answer within ${target.timeout} ms`)
      request.destroy()
    }, target.timeout)
    deadline.unref()
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') return fail('abandoned at close')
      // Node's HTTP client gives every network failure a code; the message is a fallback.
      /* c8 ignore next */
      fail(error.code ?? error.message)
    })
    request.on('response', (response) => {
      const status = response.statusCode as number
      // The body is of no use; reading it lets the socket close.
      response.resume()
      response.on('error', () => fail(`connection lost while reading the ${status} answer`))
      response.on('end', () => {
        if (status >= 200 && status < 300) {
          settle({ ok: true, status })
          return
        }
        settle({
          ok: false,
          retry: status >= 500 || RETRYABLE_STATUS.has(status),
          status,
          reason: `HTTP ${status}`,
          retryAfter: parseRetryAfter(response.headers['retry-after'])
        })
      })
    })
    request.end(body)
  })
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now. */
export function parseRetryAfter (value: string | undefined): number | null {
  if (value === undefined || value === '') return null
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now())
}
