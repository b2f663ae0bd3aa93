import { createRequire } from 'node:module'
// Captured at load: a command's deadline is a real deadline, even where a test fakes the global timers.
import { clearTimeout, setTimeout } from 'node:timers'
import { MINUTE, type PendingSessions, type SessionBucket, type SessionStore, type StoreSettings, type TakenBuckets } from '../store.js'

/**
 * What the store needs of an ioredis client (v5 or v6, a `Redis` or a
 * `Cluster`), such as the one `@fastify/redis` decorates. Described here
 * rather than imported, so that the package's types do not need ioredis.
 */
export interface RedisClient {
  readonly status: string
  eval (script: string, numkeys: number, ...args: Array<string | number>): Promise<unknown>
  once (event: 'ready', listener: () => void): unknown
  removeListener (event: 'ready', listener: () => void): unknown
}

/** What the store uses of a client it creates. */
interface OwnedClient extends RedisClient {
  on (event: 'error', listener: (error: Error) => void): unknown
  quit (): Promise<unknown>
  disconnect (): void
}

/** ioredis `RedisOptions` (host, port, password, tls, ...): typed loosely so that the package's types do not need ioredis. */
export type RedisConnectionOptions = object

export interface RedisSessionStoreOptions {
  /** An ioredis client the app opened (the one `@fastify/redis` decorates). The store never closes it. */
  client?: RedisClient
  /**
   * ioredis connection options or a `redis://` URL: the store opens its own
   * client, which fails commands at once while disconnected, and closes it.
   */
  connection?: RedisConnectionOptions | string
  /** Prefix of the store's keys. Default: the plugin's `cacheNamespace`. */
  namespace?: string
  /** Seconds a bucket is kept after the minute it describes. Default: the plugin's `cacheExpiresAfter`. */
  cacheExpiresAfter?: number
  /** Seconds a command may take before the call fails (the tracker keeps its counts and tries again). Default `1`. */
  commandTimeout?: number
}

// Every script expires buckets against the `now` the tracker passes, so that expiry follows
// the minute a bucket describes and every process sees one rule. KEYS: buckets hash, expired
// counter. ARGV: now, TTL (ms), how long the keys are kept when nobody writes (ms).
const EXPIRE = `
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = redis.call('HGETALL', KEYS[1])
local kept, expired = {}, tonumber(redis.call('GET', KEYS[2]) or '0') or 0
for i = 1, #fields, 2 do
  local minute, sessions = tonumber(fields[i]), tonumber(fields[i + 1])
  if minute == nil or sessions == nil or sessions < 1 or minute % 60000 ~= 0 then
    redis.call('HDEL', KEYS[1], fields[i])
  elseif now >= minute + ttl then
    redis.call('HDEL', KEYS[1], fields[i])
    expired = expired + sessions
  else
    kept[#kept + 1] = fields[i]
    kept[#kept + 1] = fields[i + 1]
  end
end
`

// ARGV from 4 on: minute, sessions pairs.
const PUT = `
local added = 0
for i = 4, #ARGV, 2 do
  local minute, sessions = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if now >= minute + ttl then
    expired = expired + sessions
  else
    redis.call('HINCRBY', KEYS[1], ARGV[i], sessions)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
`

const ADD = `${EXPIRE}${PUT}
redis.call('SET', KEYS[2], expired, 'PX', ARGV[3])
return 1
`

const TAKE = `${EXPIRE}
redis.call('DEL', KEYS[1], KEYS[2])
return { expired, kept }
`

const GIVE_BACK = `${EXPIRE}${PUT}
redis.call('DEL', KEYS[2])
return expired
`

const PENDING = `${EXPIRE}
redis.call('DEL', KEYS[2])
local sessions = 0
for i = 2, #kept, 2 do sessions = sessions + tonumber(kept[i]) end
return { sessions, expired }
`

// KEYS: the claim. ARGV: now, interval (ms). The key expires after an interval of Redis's own
// time, so that a replica whose clock runs far ahead cannot hold the others off for long.
const CLAIM = `
local last = tonumber(redis.call('GET', KEYS[1]) or '')
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
if last ~= nil and math.abs(now - last) < interval then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`

/** How long keys outlive the last write beyond the TTL, for clocks that differ between replicas. */
const KEEP_MARGIN = 10 * MINUTE

/**
 * Counts in Redis, shared by every replica that uses the same server and
 * namespace. Buckets live in one hash (`{namespace}:buckets`, a field per
 * minute); every operation is one Lua script, so a take, a give-back or an
 * expiry is atomic across replicas. Sessions found expired are added to
 * `{namespace}:expired` and reported once, by whichever call finds them.
 * The keys themselves expire when nobody has written for longer than the
 * TTL, so an abandoned namespace does not stay in Redis.
 */
export class RedisSessionStore implements SessionStore {
  readonly shared = true
  #client: RedisClient
  #owned: OwnedClient | null = null
  #namespace: string
  #ownNamespace: boolean
  #ttl: number
  #ownTtl: boolean
  #timeout: number
  #wasReady = false
  #closed = false

  constructor (options: RedisSessionStoreOptions) {
    const { client, connection } = options ?? {}
    if ((client === undefined) === (connection === undefined)) {
      throw new TypeError('fastify-easy-bugsnag: RedisSessionStore takes either { client } (an ioredis client) or { connection } (ioredis options or a URL)')
    }
    this.#ownNamespace = options.namespace !== undefined
    this.#namespace = options.namespace ?? 'easy_bugsnag_sessions'
    this.#ownTtl = options.cacheExpiresAfter !== undefined
    this.#ttl = (options.cacheExpiresAfter ?? 3600) * 1000
    this.#timeout = (options.commandTimeout ?? 1) * 1000
    if (client !== undefined) {
      this.#client = client
      return
    }
    this.#owned = openClient(connection as RedisConnectionOptions | string)
    this.#client = this.#owned
  }

  configure (settings: StoreSettings): void {
    if (!this.#ownNamespace) this.#namespace = settings.namespace
    if (!this.#ownTtl) this.#ttl = settings.cacheExpiresAfter * 1000
  }

  /** The keys the store uses; one hash tag, so that they live on one node of a cluster. */
  get keys (): { buckets: string, expired: string, claim: string } {
    const tag = `{${this.#namespace}}`
    return { buckets: `${tag}:buckets`, expired: `${tag}:expired`, claim: `${tag}:delivery` }
  }

  async add (buckets: SessionBucket[], now: number): Promise<void> {
    await this.#eval(ADD, now, buckets)
  }

  async take (now: number): Promise<TakenBuckets> {
    const [expired, fields] = await this.#eval(TAKE, now, []) as [number, string[]]
    const buckets: SessionBucket[] = []
    for (let i = 0; i < fields.length; i += 2) {
      buckets.push({ minute: Number(fields[i]), sessions: Number(fields[i + 1]) })
    }
    buckets.sort((a, b) => a.minute - b.minute)
    return { buckets, expired }
  }

  async giveBack (buckets: SessionBucket[], now: number): Promise<number> {
    return await this.#eval(GIVE_BACK, now, buckets) as number
  }

  async pending (now: number): Promise<PendingSessions> {
    const [sessions, expired] = await this.#eval(PENDING, now, []) as [number, number]
    return { sessions, expired }
  }

  async claimDelivery (now: number, interval: number): Promise<boolean> {
    const claimed = await this.#run(() => this.#client.eval(CLAIM, 1, this.keys.claim, now, Math.max(1, Math.ceil(interval))))
    return claimed === 1
  }

  /** Closes the client the store opened; a client the app passed in stays open. */
  async close (): Promise<void> {
    this.#closed = true
    const owned = this.#owned
    if (owned === null) return
    this.#owned = null
    if (owned.status === 'ready') {
      await withTimeout(owned.quit(), this.#timeout).catch(ignore)
    }
    owned.disconnect()
  }

  #eval (script: string, now: number, buckets: SessionBucket[]): Promise<unknown> {
    const { buckets: bucketsKey, expired } = this.keys
    const args: Array<string | number> = [now, this.#ttl, this.#ttl + KEEP_MARGIN]
    for (const { minute, sessions } of buckets) args.push(minute, sessions)
    return this.#run(() => this.#client.eval(script, 2, bucketsKey, expired, ...args))
  }

  /**
   * Runs one command, failing at once while the client is disconnected
   * (commands queued for later could land after the tracker gave up on them
   * and counted twice), and after `commandTimeout` when Redis does not answer.
   */
  async #run (command: () => Promise<unknown>): Promise<unknown> {
    if (this.#closed) throw new Error('fastify-easy-bugsnag: the Redis session store is closed')
    if (this.#client.status !== 'ready') {
      // Only the first connection is waited for: later, a client that is not ready is one that lost Redis.
      if (this.#wasReady || !STARTING.has(this.#client.status)) {
        throw new Error(`fastify-easy-bugsnag: Redis is not connected (client status "${this.#client.status}")`)
      }
      await this.#firstConnection()
    }
    this.#wasReady = true
    return await withTimeout(command(), this.#timeout)
  }

  async #firstConnection (): Promise<void> {
    const client = this.#client
    let onReady = ignore
    const ready = new Promise<void>((resolve) => {
      onReady = resolve
      client.once('ready', onReady)
    })
    try {
      await withTimeout(ready, this.#timeout)
    } finally {
      client.removeListener('ready', onReady)
    }
  }
}

// A client in 'wait' (lazyConnect) is the app's to connect, as @fastify/redis does at registration.
const STARTING = new Set(['connecting', 'connect'])

/** Opens a client that never queues commands while disconnected and never resends them after a reconnection. */
function openClient (connection: RedisConnectionOptions | string): OwnedClient {
  const Redis = loadRedis()
  const settings = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, lazyConnect: false }
  const client = typeof connection === 'string'
    ? new Redis(connection, settings)
    : new Redis({ ...connection, ...settings })
  // Failures reach the tracker through the commands; this only keeps ioredis from printing each one.
  client.on('error', ignore)
  return client
}

type RedisConstructor = new (...args: unknown[]) => OwnedClient

/** ioredis is loaded only by a store that opens its own client, so that apps without Redis never need it. */
function loadRedis (): RedisConstructor {
  const require = createRequire(import.meta.url)
  let ioredis: { Redis?: RedisConstructor }
  try {
    ioredis = require('ioredis')
  /* c8 ignore start: ioredis is installed wherever this package's tests run */
  } catch (error) {
    throw new Error('fastify-easy-bugsnag: RedisSessionStore with { connection } needs the ioredis package (npm install ioredis)', { cause: error })
  }
  /* c8 ignore stop */
  return ioredis.Redis as RedisConstructor
}

function withTimeout<T> (promise: Promise<T>, timeout: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`fastify-easy-bugsnag: Redis did not answer within ${timeout} ms`)), timeout)
    timer.unref()
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

function ignore (): void {}
