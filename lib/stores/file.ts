import { randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
// Captured at load: the lock's waits are real waits, even where a test fakes the global timers.
import { setTimeout as sleep } from 'node:timers/promises'
import { MINUTE, type PendingSessions, type SessionBucket, type SessionStore, type StoreSettings, type TakenBuckets } from '../store.js'

export interface FileSessionStoreOptions {
  /** Directory that holds the store's own folder. Default: the OS temp dir (`os.tmpdir()`). */
  directory?: string
  /** Name of the store's folder inside `directory`. Default: the plugin's `cacheNamespace`. */
  namespace?: string
  /** Seconds a bucket is kept after the minute it describes. Default: the plugin's `cacheExpiresAfter`. */
  cacheExpiresAfter?: number
  /** Seconds a call waits for the lock before it fails (the tracker keeps its counts and tries again). Default `5`. */
  lockTimeout?: number
  /** Seconds after which a lock is taken for abandoned even though its holder still runs. Default `5`. */
  staleLockAfter?: number
}

/** What the store's file holds. */
interface State {
  buckets: Map<number, number>
  /** Sessions found expired and not yet reported by take, giveBack or pending. */
  expired: number
  /** When a process last claimed a delivery (ms since the epoch), or null. */
  claimedAt: number | null
}

interface LockHolder {
  /** The lock file's text, compared before the lock is removed. */
  text: string
  /** The holder's pid, when it runs on this host (in this pid namespace, as far as its hostname tells). */
  pid: number | null
  at: number | null
}

const STATE_FILE = 'sessions.json'
const LOCK_FILE = 'sessions.lock'
const BREAK_FILE = 'sessions.lock.break'
const FORMAT = 1

/**
 * Counts in files under `<directory>/<namespace>/`, shared by the processes
 * of one host and kept across restarts. Every change is a read-modify-write
 * of one JSON file under a lock file created with O_EXCL; the new content is
 * written to a temporary file, synced and renamed over the old one, so that a
 * process killed at any point leaves either the old or the new content. The
 * folder is readable by the service's user only.
 */
export class FileSessionStore implements SessionStore {
  readonly shared = true
  #directory: string
  #namespace: string
  #ownNamespace: boolean
  #ttl: number
  #ownTtl: boolean
  #lockTimeout: number
  #staleLockAfter: number
  #prepared: Promise<void> | null = null

  constructor (options: FileSessionStoreOptions = {}) {
    this.#directory = path.resolve(options.directory ?? os.tmpdir())
    this.#ownNamespace = options.namespace !== undefined
    this.#namespace = checkNamespace(options.namespace ?? 'easy_bugsnag_sessions')
    this.#ownTtl = options.cacheExpiresAfter !== undefined
    this.#ttl = (options.cacheExpiresAfter ?? 3600) * 1000
    this.#lockTimeout = (options.lockTimeout ?? 5) * 1000
    this.#staleLockAfter = (options.staleLockAfter ?? 5) * 1000
  }

  configure (settings: StoreSettings): void {
    if (!this.#ownNamespace) this.#namespace = checkNamespace(settings.namespace)
    if (!this.#ownTtl) this.#ttl = settings.cacheExpiresAfter * 1000
  }

  /** The folder that holds the store's files. */
  get path (): string {
    return path.join(this.#directory, this.#namespace)
  }

  add (buckets: SessionBucket[], now: number): Promise<void> {
    return this.#transaction((state) => {
      this.#expire(state, now)
      this.#put(state, buckets, now)
    })
  }

  take (now: number): Promise<TakenBuckets> {
    return this.#transaction((state) => {
      this.#expire(state, now)
      const buckets = [...state.buckets].sort(([a], [b]) => a - b).map(([minute, sessions]) => ({ minute, sessions }))
      state.buckets.clear()
      return { buckets, expired: reportExpired(state) }
    })
  }

  giveBack (buckets: SessionBucket[], now: number): Promise<number> {
    return this.#transaction((state) => {
      this.#expire(state, now)
      this.#put(state, buckets, now)
      return reportExpired(state)
    })
  }

  pending (now: number): Promise<PendingSessions> {
    return this.#transaction((state) => {
      this.#expire(state, now)
      let sessions = 0
      for (const count of state.buckets.values()) sessions += count
      return { sessions, expired: reportExpired(state) }
    })
  }

  claimDelivery (now: number, interval: number): Promise<boolean> {
    return this.#transaction((state) => {
      // A claim "ahead" of now by more than an interval is a clock that jumped back: it blocks nothing.
      if (state.claimedAt !== null && Math.abs(now - state.claimedAt) < interval) return false
      state.claimedAt = now
      return true
    })
  }

  /** Nothing stays open between calls. */
  close (): void {}

  #put (state: State, buckets: SessionBucket[], now: number): void {
    for (const { minute, sessions } of buckets) {
      if (now >= minute + this.#ttl) state.expired += sessions
      else state.buckets.set(minute, (state.buckets.get(minute) ?? 0) + sessions)
    }
  }

  #expire (state: State, now: number): void {
    for (const [minute, sessions] of state.buckets) {
      if (now < minute + this.#ttl) continue
      state.buckets.delete(minute)
      state.expired += sessions
    }
  }

  /** Reads the state, lets `change` work on it and writes it back if it changed, all under the lock. */
  async #transaction<T> (change: (state: State) => T): Promise<T> {
    await this.#prepare()
    const release = await this.#lock()
    let result: T
    let written = false
    try {
      const state = await this.#read()
      const before = serialise(state)
      result = change(state)
      const after = serialise(state)
      if (after !== before) {
        await this.#write(after)
        written = true
      }
    } finally {
      await release()
    }
    // Outside the lock, so that the processes waiting for it do not wait for the disk too.
    if (written) await this.#syncFolder()
    return result
  }

  #prepare (): Promise<void> {
    this.#prepared ??= this.#makeFolder().catch((error: unknown) => {
      this.#prepared = null
      throw error
    })
    return this.#prepared
  }

  async #makeFolder (): Promise<void> {
    const folder = this.path
    await mkdir(folder, { recursive: true, mode: 0o700 })
    const info = await lstat(folder)
    if (!info.isDirectory()) throw new Error(`fastify-easy-bugsnag: ${folder} is not a directory`)
    // In a shared temp dir, a folder made by someone else could be read or fed by them.
    const uid = process.getuid?.() ?? info.uid
    if (info.uid !== uid) {
      throw new Error(`fastify-easy-bugsnag: ${folder} belongs to another user (uid ${info.uid}); the file store keeps its counts where only this service's user can read them`)
    }
    if ((info.mode & 0o077) !== 0) await chmod(folder, 0o700)
  }

  async #read (): Promise<State> {
    const file = path.join(this.path, STATE_FILE)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return emptyState()
      throw error
    }
    const state = parseState(text)
    if (state !== null) return state

    // Kept for a person to look at; the store goes on empty. The call fails once, so the tracker logs it.
    const aside = `${file}.malformed-${Date.now()}`
    await rename(file, aside)
    throw new Error(`fastify-easy-bugsnag: ${file} held malformed data; moved to ${aside}, the file store starts empty`)
  }

  async #write (text: string): Promise<void> {
    const file = path.join(this.path, STATE_FILE)
    const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
    try {
      const handle = await open(temporary, 'wx', 0o600)
      try {
        await handle.writeFile(text)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(temporary, file)
    } catch (error) {
      await unlink(temporary).catch(ignore)
      throw error
    }
  }

  /** A rename survives a power loss only once its folder is synced; other processes see it before. */
  async #syncFolder (): Promise<void> {
    const folder = await open(this.path, 'r')
    try {
      await folder.sync()
    } finally {
      await folder.close()
    }
  }

  /** Takes the lock file; resolves with the function that releases it. */
  async #lock (): Promise<() => Promise<void>> {
    const file = path.join(this.path, LOCK_FILE)
    const token = randomBytes(6).toString('hex')
    const deadline = performance.now() + this.#lockTimeout
    for (let wait = 1; ; wait = Math.min(wait * 2, 25)) {
      const text = JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now(), token })
      if (await createExclusive(file, text)) return () => releaseLock(file, text)
      if (await this.#breakIfStale(file)) continue
      if (performance.now() >= deadline) {
        throw new Error(`fastify-easy-bugsnag: the file store's lock ${file} stayed taken for ${this.#lockTimeout} ms`)
      }
      // Jitter, so that waiting processes do not retry in step.
      await sleep(wait + Math.random() * wait)
    }
  }

  /**
   * Removes the lock when its holder is gone (its process no longer runs) or
   * held it for longer than `staleLockAfter`. True when the caller should
   * try again at once.
   */
  async #breakIfStale (file: string): Promise<boolean> {
    const holder = await readLock(file)
    if (holder === null) return true
    if (!this.#isStale(holder, await ageOf(file))) return false

    // One breaker at a time: a lock created after the stale one was removed must never be removed in turn.
    const breakFile = path.join(this.path, BREAK_FILE)
    if (!await createExclusive(breakFile, String(process.pid))) {
      // A breaker killed in these few lines leaves its file behind.
      if ((await ageOf(breakFile)) > this.#staleLockAfter) await unlink(breakFile).catch(ignore)
      return false
    }
    try {
      const again = await readLock(file)
      if (again !== null && again.text === holder.text) {
        await unlink(file).catch(ignore)
        if (holder.pid !== null) await this.#removeTemporaryFiles(holder.pid)
      }
    } finally {
      await unlink(breakFile).catch(ignore)
    }
    return true
  }

  #isStale (holder: LockHolder, fileAge: number): boolean {
    if (holder.pid !== null && holder.pid !== process.pid && !isRunning(holder.pid)) return true
    const age = holder.at === null ? fileAge : Date.now() - holder.at
    return age > this.#staleLockAfter
  }

  /** Temporary files a killed holder left half-written. */
  async #removeTemporaryFiles (pid: number): Promise<void> {
    const names = await readdir(this.path)
    const prefix = `${STATE_FILE}.${pid}.`
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) await unlink(path.join(this.path, name)).catch(ignore)
    }
  }
}

function checkNamespace (namespace: string): string {
  if (namespace === '' || namespace === '.' || namespace === '..' || /[/\\\0]/.test(namespace)) {
    throw new TypeError(`fastify-easy-bugsnag: the file store's namespace must be usable as a folder name; got ${JSON.stringify(namespace)}`)
  }
  return namespace
}

function emptyState (): State {
  return { buckets: new Map(), expired: 0, claimedAt: null }
}

function reportExpired (state: State): number {
  const expired = state.expired
  state.expired = 0
  return expired
}

function serialise (state: State): string {
  return JSON.stringify({
    format: FORMAT,
    buckets: [...state.buckets].sort(([a], [b]) => a - b),
    expired: state.expired,
    claimedAt: state.claimedAt
  })
}

/** The state a file holds, or null when it is not what this store writes. */
function parseState (text: string): State | null {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof data !== 'object' || data === null) return null
  const { format, buckets, expired, claimedAt } = data as Record<string, unknown>
  if (format !== FORMAT || !Array.isArray(buckets) || !isCount(expired, 0)) return null
  if (claimedAt !== null && !Number.isSafeInteger(claimedAt)) return null
  const state: State = { buckets: new Map(), expired, claimedAt: claimedAt as number | null }
  for (const entry of buckets) {
    if (!Array.isArray(entry) || entry.length !== 2) return null
    const [minute, sessions] = entry as unknown[]
    if (!Number.isSafeInteger(minute) || (minute as number) % MINUTE !== 0 || !isCount(sessions, 1)) return null
    state.buckets.set(minute as number, sessions)
  }
  return state
}

function isCount (value: unknown, least: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= least
}

/** Creates `file` with `text` only if it does not exist; false when it does. */
async function createExclusive (file: string, text: string): Promise<boolean> {
  let handle
  try {
    handle = await open(file, 'wx', 0o600)
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    await handle.writeFile(text)
  } catch (error) {
    await handle.close()
    await unlink(file).catch(ignore)
    throw error
  }
  await handle.close()
  return true
}

async function releaseLock (file: string, text: string): Promise<void> {
  // A lock broken as stale may already belong to another process.
  const holder = await readLock(file)
  if (holder?.text === text) await unlink(file).catch(ignore)
}

/** Who holds the lock; null when nobody does. A lock still being written has no pid yet. */
async function readLock (file: string): Promise<LockHolder | null> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null
    throw error
  }
  let pid: number | null = null
  let at: number | null = null
  try {
    const data = JSON.parse(text) as { pid?: unknown, host?: unknown, at?: unknown }
    // A pid from another host, or another container on this one, says nothing about this host's processes.
    if (Number.isSafeInteger(data.pid) && (data.pid as number) > 0 && data.host === os.hostname()) pid = data.pid as number
    if (Number.isSafeInteger(data.at)) at = data.at as number
  } catch {}
  return { text, pid, at }
}

/** Milliseconds since `file` was last written; 0 when it is gone. */
async function ageOf (file: string): Promise<number> {
  try {
    return Date.now() - (await stat(file)).mtimeMs
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 0
    throw error
  }
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, under another user.
    return errorCode(error) === 'EPERM'
  }
}

function errorCode (error: unknown): unknown {
  return (error as NodeJS.ErrnoException | null)?.code
}

function ignore (): void {}
