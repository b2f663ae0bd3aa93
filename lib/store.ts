/**
 * The contract every session store implements. The tracker counts sessions
 * in memory and hands them to the store in batches; the store keeps them
 * until a delivery takes them. A store may answer synchronously or with a
 * promise; the tracker treats any other answer (undefined, null, malformed
 * data) as empty and never lets a store failure reach a request.
 */

/** Sessions started in one UTC minute. */
export interface SessionBucket {
  /** Start of the minute in milliseconds since the epoch (a multiple of 60,000). */
  minute: number
  /** Sessions started in that minute; a positive integer. */
  sessions: number
}

/** What the plugin hands a store at registration. */
export interface StoreSettings {
  /**
   * Seconds a bucket is kept after the minute it describes, given back or
   * not (`sessionTracking.cacheExpiresAfter`).
   */
  cacheExpiresAfter: number
  /** Prefix for the store's keys or files (`sessionTracking.cacheNamespace`). */
  namespace: string
}

export interface TakenBuckets {
  /** Every bucket that had not expired, now removed from the store. */
  buckets: SessionBucket[]
  /** Sessions found expired and discarded: the tracker counts them as dropped. */
  expired: number
}

export interface PendingSessions {
  /** Sessions waiting, expired buckets left out. */
  sessions: number
  /** Sessions found expired and discarded: the tracker counts them as dropped. */
  expired: number
}

type Awaitable<T> = T | Promise<T>

export interface SessionStore {
  /** True when other processes see the same counts (file, Redis). */
  readonly shared?: boolean
  /** Receives the plugin's TTL and namespace unless the store was given its own. */
  configure?(settings: StoreSettings): void
  /** Adds sessions to their buckets. */
  add(buckets: SessionBucket[], now: number): Awaitable<void>
  /** Removes and returns every bucket, atomically. */
  take(now: number): Awaitable<TakenBuckets>
  /** Puts back buckets whose delivery failed; returns the sessions that had expired meanwhile. */
  giveBack(buckets: SessionBucket[], now: number): Awaitable<number>
  /** Sessions waiting in the store, and those found expired since the store last reported any. */
  pending(now: number): Awaitable<PendingSessions>
  /**
   * For a shared store: claims this interval's delivery for the calling
   * process, atomically. True when no process sharing the store claimed one
   * within `interval` ms before `now`, and then records `now`; false
   * otherwise. This is how short-lived processes deliver at most once per
   * interval between them, as EasyBugsnag did.
   */
  claimDelivery?(now: number, interval: number): Awaitable<boolean>
  /** Releases what the store opened. */
  close?(): Awaitable<void>
}

export const MINUTE = 60_000

/** The minute a timestamp falls in, as the start of that minute in ms. */
export function minuteOf (time: number): number {
  return time - (time % MINUTE)
}

/** Whether a bucket returned by a store can be trusted. */
export function isBucket (value: unknown): value is SessionBucket {
  if (typeof value !== 'object' || value === null) return false
  const { minute, sessions } = value as SessionBucket
  return Number.isSafeInteger(minute) && minute % MINUTE === 0 &&
    Number.isSafeInteger(sessions) && sessions > 0
}

export function sumSessions (buckets: readonly SessionBucket[]): number {
  let total = 0
  for (const bucket of buckets) total += bucket.sessions
  return total
}
