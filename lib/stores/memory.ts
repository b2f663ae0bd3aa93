import { LRUCache } from 'lru-cache'
import type { PendingSessions, SessionBucket, SessionStore, StoreSettings, TakenBuckets } from '../store.js'

export interface MemorySessionStoreOptions {
  /** Seconds a bucket is kept after the minute it describes. Default: the plugin's `cacheExpiresAfter`. */
  cacheExpiresAfter?: number
  /** Most buckets kept; the oldest is dropped past it. Default `10000`. */
  maxBuckets?: number
}

/**
 * Counts in this process's memory: the default store. An lru-cache keyed by
 * minute, bounded in size, each bucket expiring a fixed time after the
 * minute it describes.
 */
export class MemorySessionStore implements SessionStore {
  readonly shared = false
  #ttl: number
  #ownTtl: boolean
  #buckets: LRUCache<number, number>
  #expired = 0
  #now = 0

  constructor (options: MemorySessionStoreOptions = {}) {
    this.#ownTtl = options.cacheExpiresAfter !== undefined
    this.#ttl = (options.cacheExpiresAfter ?? 3600) * 1000
    this.#buckets = new LRUCache<number, number>({
      max: options.maxBuckets ?? 10_000,
      // The time the tracker passes in, so that expiry follows the minute a bucket
      // describes and every call sees one clock.
      perf: { now: () => this.#now },
      // No cached clock: caching it would keep a timer of its own.
      ttlResolution: 0,
      ttl: this.#ttl,
      dispose: (sessions, _minute, reason) => {
        if (reason === 'expire' || reason === 'evict') this.#expired += sessions
      }
    })
  }

  configure (settings: StoreSettings): void {
    if (!this.#ownTtl) this.#ttl = settings.cacheExpiresAfter * 1000
  }

  add (buckets: SessionBucket[], now: number): void {
    this.#now = now
    for (const { minute, sessions } of buckets) {
      const ttl = minute + this.#ttl - now
      // Expired strictly after minute + TTL, as lru-cache judges the buckets it holds.
      if (ttl < 0) {
        this.#expired += sessions
        continue
      }
      // A TTL of 0 would mean "never" to lru-cache.
      this.#buckets.set(minute, (this.#buckets.get(minute) ?? 0) + sessions, { ttl: Math.max(ttl, 1), start: now })
    }
  }

  take (now: number): TakenBuckets {
    this.#now = now
    this.#buckets.purgeStale()
    const buckets: SessionBucket[] = []
    for (const [minute, sessions] of this.#buckets.entries()) buckets.push({ minute, sessions })
    buckets.sort((a, b) => a.minute - b.minute)
    this.#buckets.clear()
    return { buckets, expired: this.#takeExpired(now) }
  }

  giveBack (buckets: SessionBucket[], now: number): number {
    this.add(buckets, now)
    return this.#takeExpired(now)
  }

  pending (now: number): PendingSessions {
    const expired = this.#takeExpired(now)
    let sessions = 0
    for (const count of this.#buckets.values()) sessions += count
    return { sessions, expired }
  }

  #takeExpired (now: number): number {
    this.#now = now
    this.#buckets.purgeStale()
    const expired = this.#expired
    this.#expired = 0
    return expired
  }
}
