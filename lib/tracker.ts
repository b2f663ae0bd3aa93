import type { FastifyBaseLogger } from 'fastify'
import { postSessions, sessionPayload, type DeliveryOutcome, type DeliveryTarget, type PayloadSource } from './delivery.js'
import type { Exclusions } from './exclusions.js'
import type { WrapJobOptions } from './jobs.js'
import type { SessionSettings } from './options.js'
import { isBucket, MINUTE, minuteOf, sumSessions, type SessionBucket, type SessionStore } from './store.js'
import { within } from './time-limit.js'

/** A plain, JSON-serialisable snapshot of what this process did and what waits. */
export interface SessionStats {
  /** Whether sessions are counted. */
  enabled: boolean
  /** Why not, when they are not. */
  disabledReason: string | null
  /** Sessions started since the plugin registered, jobs' included. */
  started: number
  /** Of those, the sessions of background jobs (`wrapJob`). */
  jobSessions: number
  /** Requests that started no session because an exclusion matched. */
  excluded: number
  /** Handled events counted against sessions. */
  handledErrors: number
  /** Unhandled events counted against sessions. */
  unhandledErrors: number
  /** Sessions in deliveries that Bugsnag acknowledged with a 2xx. */
  delivered: number
  /** Sessions given up: expired, or refused for good. */
  dropped: number
  /** Sessions counted and neither delivered nor dropped yet (for a shared store, the store's total). */
  pending: number
  /**
   * Share of the sessions started since the plugin registered that had no
   * unhandled error (the stability score Bugsnag computes), or null before
   * the first session.
   */
  stability: number | null
  /** The same for the sessions that started in the last complete minute, or null when there were none. */
  lastMinuteStability: number | null
  /** Failed delivery attempts. */
  deliveryFailures: number
  /** Why the last attempt failed, or null. */
  lastFailure: string | null
  /** Last acknowledged delivery, as an ISO string, or null. */
  lastDeliveryAt: string | null
}

/** `fastify.bugsnagSessions`: what the app may ask of the tracker. */
export interface BugsnagSessions {
  /** A snapshot of what this process did and what waits. */
  stats (): Promise<SessionStats>
  /** Delivers what is pending now, whatever the interval; resolves when that attempt ends. */
  flush (): Promise<void>
  /** Whether a request to this URL (a path, or an absolute URL in 'url' mode) would start no session. */
  isExcluded (url: string): boolean
  /**
   * Wraps a background job's handler: each run gets its own client and async
   * context, a session when `jobCountForSessions` is on, and what it throws
   * is reported as unhandled and thrown again.
   */
  wrapJob<Args extends unknown[], Result> (
    handler: (...args: Args) => Result | Promise<Result>,
    options?: WrapJobOptions
  ): (...args: Args) => Promise<Result>
}

/** The share of `started` sessions that had no unhandled error, rounded to 4 places; null with none. */
function share (started: number, crashed: number): number | null {
  return started === 0 ? null : Math.round((1 - crashed / started) * 10_000) / 10_000
}

export interface TrackerParts {
  settings: SessionSettings
  store: SessionStore
  exclusions: Exclusions
  /** Null when sessions are counted; otherwise why not. */
  disabledReason: string | null
  target: DeliveryTarget
  payload: PayloadSource
  log: FastifyBaseLogger
}

const FIRST_RETRY = 1000
// Node's timers fire at once past this many milliseconds.
const MAX_TIMER = 2_147_483_647
// How long stats() and close() wait on a store that does not answer.
const STORE_READ_LIMIT = 1000
const PERSIST_INTERVAL = 1000
// How often the minute is looked at, at most: the longest a wall clock step goes unseen.
const MINUTE_CHECK = 1000
const RETRY_CEILING = 60_000

/**
 * Counts sessions and delivers them. The request path only ever touches
 * `countRequest()`: two increments, no clock read. Everything else (the
 * minute's end, the store, the network) happens on unref'd timers.
 */
export class SessionTracker {
  readonly enabled: boolean

  #settings: SessionSettings
  #store: SessionStore
  #exclusions: Exclusions
  #target: DeliveryTarget
  #payload: PayloadSource
  #log: FastifyBaseLogger
  #disabledReason: string | null

  // The current minute's count, kept in two integers for the request path. A
  // timer moves the minute on, so that counting a request never reads the
  // clock: Date.now() and the minute's arithmetic would cost more than all the
  // rest of the count.
  #bufferMinute: number
  #bufferCount = 0
  #minuteTimer: NodeJS.Timeout | undefined
  // Counts on their way to the store (older minutes, or a store that failed).
  #unstored: SessionBucket[] = []
  #inFlight = 0
  // Counts handed to the store whose add() has not answered yet.
  #toStore = 0

  #started = 0
  #jobSessions = 0
  #excluded = 0
  #handled = 0
  #unhandled = 0
  #delivered = 0
  #dropped = 0
  #failures = 0
  #crashed = 0
  // Sessions started, and sessions with an unhandled error, by minute of start: the last few minutes.
  #recentStarted = new Map<number, number>()
  #recentCrashed = new Map<number, number>()
  #consecutiveFailures = 0
  // What the endpoint last asked us to wait (ms), and the last refusal logged.
  #retryAfter = 0
  #refusal: string | null = null
  #lastFailure: string | null = null
  #lastDeliveryAt: number | null = null
  #storeFailing = false

  #delivery: Promise<void> | null = null
  #timer: NodeJS.Timeout | undefined
  #persistTimer: NodeJS.Timeout | undefined
  #persisting: Promise<void> | null = null
  #shared: boolean
  #abort = new AbortController()
  #closed = false

  constructor (parts: TrackerParts) {
    this.#settings = parts.settings
    this.#store = parts.store
    this.#exclusions = parts.exclusions
    this.#target = parts.target
    this.#payload = parts.payload
    this.#log = parts.log
    this.#disabledReason = parts.disabledReason
    this.enabled = parts.disabledReason === null
    this.#shared = parts.store.shared === true
    this.#bufferMinute = minuteOf(Date.now())
    if (!this.enabled) return
    this.#scheduleMinute()
    this.#schedule(this.#settings.deliveryInterval)
    if (this.#shared) this.#schedulePersist()
  }

  /**
   * Counts the session of a request starting now, and returns the minute it
   * is counted in (ms since the epoch), which is the session's `startedAt`.
   */
  countRequest (): number {
    this.#bufferCount++
    this.#started++
    return this.#bufferMinute
  }

  /** Counts one session started at `now` (ms since the epoch). */
  start (now: number): void {
    const minute = minuteOf(now)
    if (minute !== this.#bufferMinute) this.#rollOver(minute)
    this.countRequest()
  }

  /** Counts the session of one run of a background job. */
  startJob (now: number): void {
    this.start(now)
    this.#jobSessions++
  }

  /** Counts a request that an exclusion kept from starting a session. */
  exclude (): void {
    this.#excluded++
  }

  /** Counts an event reported against one of this tracker's sessions. */
  countEvent (unhandled: boolean, crashedSince: number | null): void {
    if (unhandled) this.#unhandled++
    else this.#handled++
    if (crashedSince === null) return
    this.#crashed++
    const minute = minuteOf(crashedSince)
    this.#recentCrashed.set(minute, (this.#recentCrashed.get(minute) ?? 0) + 1)
  }

  /** The decision the plugin takes for a request to this target. */
  isExcluded (target: string): boolean {
    return this.#exclusions.isExcluded(target)
  }

  async stats (): Promise<SessionStats> {
    const now = Date.now()
    const stored = await within(this.#readPending(now), STORE_READ_LIMIT, 0)
    const stability = this.#stability(now)
    return {
      enabled: this.enabled,
      disabledReason: this.#disabledReason,
      started: this.#started,
      jobSessions: this.#jobSessions,
      excluded: this.#excluded,
      handledErrors: this.#handled,
      unhandledErrors: this.#unhandled,
      delivered: this.#delivered,
      dropped: this.#dropped,
      pending: this.#local() + stored,
      stability: stability.overall,
      lastMinuteStability: stability.lastMinute,
      deliveryFailures: this.#failures,
      lastFailure: this.#lastFailure,
      lastDeliveryAt: this.#lastDeliveryAt === null ? null : new Date(this.#lastDeliveryAt).toISOString()
    }
  }

  /**
   * Delivers what is pending now, whatever the interval and the last
   * delivery, and resolves when that attempt ends. Never rejects.
   */
  async flush (): Promise<void> {
    if (!this.enabled) return
    // A delivery in flight took its buckets before the latest counts came in.
    if (this.#delivery !== null) await this.#delivery
    await this.#deliver(true)
  }

  /**
   * Stops the timer and delivers what is pending within `closeTimeout`.
   * What cannot be delivered by then is logged once and stays pending.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    clearTimeout(this.#persistTimer)
    clearTimeout(this.#minuteTimer)
    if (!this.enabled) return

    const started = Date.now()
    const finished = await within(this.#lastDelivery().then(() => true), this.#settings.closeTimeout, false)
    // Abandon what is still in flight; nothing below waits on it.
    if (!finished) this.#abort.abort()

    // With a shared store, what reached the store is not lost: another process delivers it.
    const left = this.#local() + (this.#shared ? 0 : await within(this.#readPending(Date.now()), STORE_READ_LIMIT, 0))
    if (left > 0) {
      this.#log.warn(
        { pending: left, reason: finished ? this.#lastFailure : `close took longer than ${this.#settings.closeTimeout} ms` },
        'fastify-easy-bugsnag: sessions not delivered at close'
      )
    }
    const remaining = Math.max(STORE_READ_LIMIT, this.#settings.closeTimeout - (Date.now() - started))
    const closed = await within(Promise.resolve().then(() => this.#store.close?.()).then(() => true), remaining, false)
      .catch((error: unknown) => {
        this.#log.error({ err: error }, 'fastify-easy-bugsnag: the session store failed to close')
        return true
      })
    if (!closed) this.#log.error('fastify-easy-bugsnag: the session store did not close in time')
  }

  /**
   * At close: the memory store delivers everything; a shared store receives
   * the buffered counts and delivers only when this interval is still
   * unclaimed, so that short-lived processes deliver once per interval.
   */
  async #lastDelivery (): Promise<void> {
    await this.#persisting
    if (this.#delivery !== null) await this.#delivery
    await this.#deliver(!this.#shared)
    // A store that would not take the counts: the last chance is to send them directly.
    if (this.#unstored.length > 0) await this.#send(this.#unstored.splice(0))
  }

  /** Sessions this process holds outside the store. */
  #local (): number {
    return this.#bufferCount + sumSessions(this.#unstored) + this.#toStore + this.#inFlight
  }

  /** With a shared store, counts reach it within a second, off the request path. */
  #schedulePersist (): void {
    this.#persistTimer = setTimeout(() => {
      this.#persisting = this.#moveToStore(Date.now()).then(() => {
        this.#persisting = null
        if (!this.#closed) this.#schedulePersist()
      })
    }, PERSIST_INTERVAL)
    this.#persistTimer.unref()
  }

  /**
   * Moves the count on to the minute that has begun. It looks every second,
   * not only at the minute's end: timers run on the monotonic clock, and a
   * wall clock stepped forward (or a machine waking from sleep) would
   * otherwise leave up to a minute of sessions in a minute long past.
   */
  #scheduleMinute (): void {
    const now = Date.now()
    const minute = minuteOf(now)
    if (minute !== this.#bufferMinute) this.#rollOver(minute)
    this.#minuteTimer = setTimeout(() => this.#scheduleMinute(), Math.min(MINUTE_CHECK, minute + MINUTE - now))
    this.#minuteTimer.unref()
  }

  #rollOver (minute: number): void {
    if (this.#bufferCount > 0) {
      this.#unstored.push({ minute: this.#bufferMinute, sessions: this.#bufferCount })
      this.#recentStarted.set(this.#bufferMinute, (this.#recentStarted.get(this.#bufferMinute) ?? 0) + this.#bufferCount)
      // Only the last complete minute is ever asked for.
      for (const recent of [this.#recentStarted, this.#recentCrashed]) {
        for (const key of recent.keys()) if (key < minute - 60_000) recent.delete(key)
      }
    }
    this.#bufferMinute = minute
    this.#bufferCount = 0
  }

  #stability (now: number): { overall: number | null, lastMinute: number | null } {
    const lastMinute = minuteOf(now) - 60_000
    const started = (this.#recentStarted.get(lastMinute) ?? 0) +
      (this.#bufferMinute === lastMinute ? this.#bufferCount : 0)
    return {
      overall: share(this.#started, this.#crashed),
      lastMinute: share(started, this.#recentCrashed.get(lastMinute) ?? 0)
    }
  }

  #schedule (delay: number): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => {
      // Whatever a delivery does, the next one is scheduled.
      this.#deliver(false)
        .catch((error: unknown) => this.#log.error({ err: error }, 'fastify-easy-bugsnag: a delivery failed unexpectedly'))
        .finally(() => this.#schedule(this.#nextDelay()))
    }, delay)
    this.#timer.unref()
  }

  #nextDelay (): number {
    if (this.#consecutiveFailures === 0) return this.#settings.deliveryInterval
    const backoff = Math.min(FIRST_RETRY * 2 ** (this.#consecutiveFailures - 1), Math.max(RETRY_CEILING, this.#settings.deliveryInterval))
    // Waiting longer than the buckets live would only let them expire.
    return Math.min(Math.max(backoff, this.#retryAfter), this.#settings.cacheExpiresAfter, MAX_TIMER)
  }

  /** One delivery at a time: a second caller shares the attempt in flight. */
  #deliver (force: boolean): Promise<void> {
    if (this.#delivery === null) {
      this.#delivery = this.#deliverPending(force).finally(() => { this.#delivery = null })
    }
    return this.#delivery
  }

  async #deliverPending (force: boolean): Promise<void> {
    const now = Date.now()
    if (!await this.#moveToStore(now)) return
    if (!force && !await this.#claimDelivery(now)) return

    const buckets = await this.#takeFromStore(now)
    if (buckets.length === 0) return
    await this.#send(buckets)
  }

  /** Hands every buffered count to the store; false when the store failed. */
  async #moveToStore (now: number): Promise<boolean> {
    this.#rollOver(minuteOf(now))
    if (this.#unstored.length === 0) return true
    const batch = this.#unstored
    const sessions = sumSessions(batch)
    this.#unstored = []
    this.#toStore += sessions
    try {
      await this.#store.add(batch, now)
      this.#toStore -= sessions
      this.#storeRecovered()
      return true
    } catch (error) {
      // Kept in memory until the store answers again.
      this.#toStore -= sessions
      this.#unstored = batch.concat(this.#unstored)
      this.#storeFailed(error)
      return false
    }
  }

  /** With a shared store, one process delivers per interval. */
  async #claimDelivery (now: number): Promise<boolean> {
    if (this.#store.claimDelivery === undefined) return true
    try {
      return await this.#store.claimDelivery(now, this.#settings.deliveryInterval) === true
    } catch (error) {
      this.#storeFailed(error)
      return false
    }
  }

  async #takeFromStore (now: number): Promise<SessionBucket[]> {
    try {
      const taken = await this.#store.take(now)
      this.#storeRecovered()
      if (typeof taken !== 'object' || taken === null) return []
      this.#dropExpired(taken.expired)
      return Array.isArray(taken.buckets) ? taken.buckets.filter(isBucket) : []
    } catch (error) {
      this.#storeFailed(error)
      return []
    }
  }

  async #readPending (now: number): Promise<number> {
    try {
      const pending = await this.#store.pending(now)
      if (typeof pending !== 'object' || pending === null) return 0
      this.#dropExpired(pending.expired)
      return Number.isSafeInteger(pending.sessions) && pending.sessions > 0 ? pending.sessions : 0
    } catch (error) {
      this.#storeFailed(error)
      return 0
    }
  }

  #dropExpired (expired: unknown): void {
    if (typeof expired === 'number' && Number.isSafeInteger(expired) && expired > 0) this.#dropped += expired
  }

  /** Sends buckets; a payload too large for the endpoint is split in halves. */
  async #send (buckets: SessionBucket[]): Promise<void> {
    const sessions = sumSessions(buckets)
    this.#inFlight += sessions
    const outcome = await postSessions(this.#target, sessionPayload(this.#payload, buckets), this.#abort.signal)
    this.#inFlight -= sessions

    if (outcome.ok) return this.#acknowledged(sessions)
    if (outcome.status === 413 && buckets.length > 1) {
      const half = Math.ceil(buckets.length / 2)
      await this.#send(buckets.slice(0, half))
      await this.#send(buckets.slice(half))
      return
    }
    await this.#failed(buckets, sessions, outcome)
  }

  #acknowledged (sessions: number): void {
    const now = Date.now()
    this.#delivered += sessions
    this.#lastDeliveryAt = now
    if (this.#consecutiveFailures > 0) {
      this.#log.info({ attempts: this.#consecutiveFailures + 1 }, 'fastify-easy-bugsnag: session delivery recovered')
    }
    this.#consecutiveFailures = 0
    this.#retryAfter = 0
    this.#refusal = null
    this.#log.debug({ sessions }, 'fastify-easy-bugsnag: sessions delivered')
  }

  async #failed (buckets: SessionBucket[], sessions: number, outcome: Exclude<DeliveryOutcome, { ok: true }>): Promise<void> {
    this.#failures++
    this.#lastFailure = outcome.reason

    if (!outcome.retry) {
      this.#dropped += sessions
      // A refusal repeats every interval (a revoked key); say it once until it changes.
      if (this.#refusal !== outcome.reason) {
        this.#refusal = outcome.reason
        this.#log.warn(
          { sessions, status: outcome.status, reason: outcome.reason },
          'fastify-easy-bugsnag: sessions refused by the endpoint and dropped'
        )
      }
      return
    }

    // At close, the one warning is the one that says what was not delivered.
    if (this.#consecutiveFailures === 0 && !this.#closed) {
      this.#log.warn({ sessions, reason: outcome.reason }, 'fastify-easy-bugsnag: session delivery failing; will retry')
    }
    this.#consecutiveFailures++
    this.#retryAfter = outcome.retryAfter ?? 0
    try {
      this.#dropExpired(await this.#store.giveBack(buckets, Date.now()))
    } catch (error) {
      this.#unstored = buckets.concat(this.#unstored)
      this.#storeFailed(error)
    }
  }

  #storeFailed (error: unknown): void {
    if (this.#storeFailing) return
    this.#storeFailing = true
    this.#log.error({ err: error }, 'fastify-easy-bugsnag: session store failing; counts kept in memory')
  }

  #storeRecovered (): void {
    if (!this.#storeFailing) return
    this.#storeFailing = false
    this.#log.info('fastify-easy-bugsnag: session store recovered')
  }
}
