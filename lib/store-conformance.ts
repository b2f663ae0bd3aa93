import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { MINUTE, isBucket, type PendingSessions, type SessionBucket, type SessionStore, type StoreSettings, type TakenBuckets } from './store.js'

/**
 * Registers one test with the app's test framework: tap's `test` or
 * `t.test`, `node:test`'s `test`, vitest's or jest's `test`, mocha's `it`.
 * The test fails when the function rejects.
 */
export type RegisterTest = (name: string, fn: () => Promise<void>) => unknown

/**
 * Opens a store for one test. It must take its TTL and namespace from the
 * settings (or from `configure`, which the suite calls too). For a shared
 * store, two calls with the same settings must give two instances that see
 * the same counts, as two processes would.
 */
export type CreateStore = (settings: StoreSettings) => SessionStore | Promise<SessionStore>

export interface ConformanceOptions {
  /** The framework's function that registers a test. */
  test: RegisterTest
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const SECOND = 1000
const TTL = 3600

/**
 * The behaviour the plugin relies on from every `SessionStore`, as a set of
 * tests registered with the caller's framework (the package itself depends
 * on none). Each test opens fresh stores in a namespace of its own and
 * closes them. Stores whose `shared` is true are also checked across
 * instances (concurrent adds and takes, expiry reported once, counts that
 * outlive an instance); stores with `claimDelivery` are checked for one
 * delivery per interval.
 *
 * Every answer is checked against the contract's shapes, so a store that
 * answers `undefined`, `null`, a string or malformed data fails here with a
 * message naming the call, rather than being read as empty in production.
 */
export function describeSessionStore (name: string, createStore: CreateStore, options: ConformanceOptions): void {
  const { test } = options
  const define = (title: string, body: (stores: Stores) => Promise<void>) => {
    test(`${name}: ${title}`, () => withStores(createStore, body))
  }

  define('answers in the shapes the contract documents, even when empty', async ({ open }) => {
    const store = await open()
    assert.ok(store.shared === undefined || typeof store.shared === 'boolean', 'shared is a boolean when present')
    assert.deepEqual(await take(store, T0), { buckets: [], expired: 0 })
    assert.deepEqual(await pending(store, T0), { sessions: 0, expired: 0 })
    assert.equal(await giveBack(store, [], T0), 0)
    await store.add([], T0)
    assert.deepEqual(await pending(store, T0), { sessions: 0, expired: 0 })
  })

  define('adds to the bucket of each minute and takes every bucket at once', async ({ open }) => {
    const store = await open()
    await store.add([{ minute: T0 + MINUTE, sessions: 2 }, { minute: T0, sessions: 1 }], T0 + MINUTE)
    await store.add([{ minute: T0 + MINUTE, sessions: 3 }], T0 + MINUTE)

    assert.deepEqual(await pending(store, T0 + MINUTE), { sessions: 6, expired: 0 })
    assert.deepEqual(await take(store, T0 + MINUTE), {
      buckets: [{ minute: T0, sessions: 1 }, { minute: T0 + MINUTE, sessions: 5 }],
      expired: 0
    })
    assert.deepEqual(await pending(store, T0 + MINUTE), { sessions: 0, expired: 0 }, 'take leaves nothing behind')
    assert.deepEqual(await take(store, T0 + MINUTE), { buckets: [], expired: 0 })
  })

  define('concurrent adds lose and double nothing', async ({ open }) => {
    const store = await open()
    const adds = []
    const expected = [0, 0]
    for (let i = 0; i < 40; i++) {
      const sessions = 1 + (i % 3)
      expected[i % 2] = (expected[i % 2] as number) + sessions
      adds.push(store.add([{ minute: T0 + (i % 2) * MINUTE, sessions }], T0 + MINUTE))
    }
    await Promise.all(adds)
    assert.deepEqual(await take(store, T0 + MINUTE), {
      buckets: [{ minute: T0, sessions: expected[0] }, { minute: T0 + MINUTE, sessions: expected[1] }],
      expired: 0
    })
  })

  define('buckets given back after a failed delivery join the counts added meanwhile', async ({ open }) => {
    const store = await open()
    await store.add([{ minute: T0, sessions: 4 }], T0)
    const taken = await take(store, T0 + MINUTE)
    await store.add([{ minute: T0, sessions: 1 }, { minute: T0 + MINUTE, sessions: 2 }], T0 + MINUTE)

    assert.equal(await giveBack(store, taken.buckets, T0 + MINUTE), 0)
    assert.deepEqual(await pending(store, T0 + MINUTE), { sessions: 7, expired: 0 })
    assert.deepEqual((await take(store, T0 + MINUTE)).buckets, [{ minute: T0, sessions: 5 }, { minute: T0 + MINUTE, sessions: 2 }])
  })

  define('cacheExpiresAfter is seconds: a bucket exists at 3,599 s and is counted expired, once, at 3,601 s', async ({ open }) => {
    const store = await open({ cacheExpiresAfter: 3600 })
    await store.add([{ minute: T0, sessions: 4 }], T0)

    assert.deepEqual(await pending(store, T0 + 3599 * SECOND), { sessions: 4, expired: 0 })
    assert.deepEqual(await pending(store, T0 + 3601 * SECOND), { sessions: 0, expired: 4 })
    assert.deepEqual(await pending(store, T0 + 3601 * SECOND), { sessions: 0, expired: 0 }, 'reported once')
    assert.deepEqual(await take(store, T0 + 3601 * SECOND), { buckets: [], expired: 0 })
  })

  define('the TTL handed to configure is seconds too (900 s)', async ({ open }) => {
    const store = await open({ cacheExpiresAfter: 900 })
    await store.add([{ minute: T0, sessions: 3 }, { minute: T0 + MINUTE, sessions: 1 }], T0 + MINUTE)

    assert.deepEqual(await pending(store, T0 + 899 * SECOND), { sessions: 4, expired: 0 })
    assert.deepEqual(await take(store, T0 + 901 * SECOND), { buckets: [{ minute: T0 + MINUTE, sessions: 1 }], expired: 3 })
  })

  define('a bucket expires after its minute whether or not it was given back', async ({ open }) => {
    const store = await open()
    await store.add([{ minute: T0, sessions: 4 }], T0)
    const taken = await take(store, T0 + (TTL - 1) * SECOND)
    assert.deepEqual(taken, { buckets: [{ minute: T0, sessions: 4 }], expired: 0 })
    assert.equal(await giveBack(store, taken.buckets, T0 + (TTL - 1) * SECOND), 0)

    assert.deepEqual(await take(store, T0 + TTL * SECOND + 1), { buckets: [], expired: 4 })
  })

  define('sessions given back or added after their TTL are counted expired, once', async ({ open }) => {
    const store = await open()
    const late = T0 + TTL * SECOND + 1
    assert.equal(await giveBack(store, [{ minute: T0, sessions: 2 }, { minute: late - (late % MINUTE), sessions: 1 }], late), 2)
    await store.add([{ minute: T0, sessions: 5 }], late)

    assert.deepEqual(await pending(store, late), { sessions: 1, expired: 5 })
    assert.deepEqual(await take(store, late), { buckets: [{ minute: late - (late % MINUTE), sessions: 1 }], expired: 0 })
  })

  define('claimDelivery grants one delivery per interval', async ({ open }) => {
    const store = await open()
    if (store.claimDelivery === undefined) return
    const interval = 30 * SECOND
    assert.equal(await claim(store, T0, interval), true, 'the first claim')
    assert.equal(await claim(store, T0 + interval - 1, interval), false, 'within the interval')
    assert.equal(await claim(store, T0 + interval, interval), true, 'once the interval has passed')
    assert.equal(await claim(store, T0 + interval + 1, interval), false, 'the claim was recorded')
  })

  define('instances of a shared store see the same counts, and counts outlive an instance', async ({ open, close }) => {
    const first = await open()
    if (first.shared !== true) return
    const second = await open()
    await first.add([{ minute: T0, sessions: 3 }], T0)
    assert.deepEqual(await pending(second, T0), { sessions: 3, expired: 0 })
    await second.add([{ minute: T0, sessions: 2 }], T0)
    await close(first)

    const third = await open()
    assert.deepEqual(await take(third, T0), { buckets: [{ minute: T0, sessions: 5 }], expired: 0 })
    assert.deepEqual(await pending(second, T0), { sessions: 0, expired: 0 })
  })

  define('a shared store: concurrent adds and takes from several instances hand each session to one taker', async ({ open }) => {
    const first = await open()
    if (first.shared !== true) return
    const stores = [first, await open(), await open()]
    const now = T0 + 2 * MINUTE
    const adds: Array<Promise<unknown> | unknown> = []
    const takes: Array<Promise<TakenBuckets>> = []
    for (let round = 0; round < 10; round++) {
      for (const [index, store] of stores.entries()) {
        adds.push(store.add([{ minute: T0 + (round % 3) * MINUTE, sessions: index + 1 }], now))
        if (round % 4 === index) takes.push(take(store, now))
      }
    }
    await Promise.all(adds)
    const taken = await Promise.all(takes)
    taken.push(await take(first, now))

    let total = 0
    for (const answer of taken) total += answer.buckets.reduce((sum, bucket) => sum + bucket.sessions, 0)
    assert.equal(total, 10 * (1 + 2 + 3), 'every session taken exactly once')
    assert.equal(taken.reduce((sum, answer) => sum + answer.expired, 0), 0)
  })

  define('a shared store: expired sessions are reported once, whichever instance finds them', async ({ open }) => {
    const first = await open()
    if (first.shared !== true) return
    const stores = [first, await open(), await open()]
    await first.add([{ minute: T0, sessions: 7 }], T0)
    const late = T0 + TTL * SECOND + 1
    const answers = await Promise.all(stores.map((store, index) =>
      index === 0 ? take(store, late).then((taken) => taken.expired) : pending(store, late).then((found) => found.expired)))

    assert.equal(answers.reduce((sum, expired) => sum + expired, 0), 7)
  })

  define('a shared store: of concurrent claims, exactly one wins', async ({ open }) => {
    const first = await open()
    if (first.shared !== true || first.claimDelivery === undefined) return
    const stores = [first, await open(), await open()]
    const interval = 30 * SECOND
    const claims = await Promise.all(stores.map((store) => claim(store, T0, interval)))
    assert.equal(claims.filter(Boolean).length, 1)
    assert.equal(await claim(stores[1] as SessionStore, T0 + interval / 2, interval), false, 'the claim is seen by every instance')
  })
}

interface Stores {
  /** Opens an instance in the test's namespace, with the suite's settings unless overridden. */
  open (settings?: Partial<StoreSettings>): Promise<SessionStore>
  /** Closes an instance before the test ends. */
  close (store: SessionStore): Promise<void>
}

/** Runs one test with a namespace of its own, closing every store it opened. */
async function withStores (createStore: CreateStore, body: (stores: Stores) => Promise<void>): Promise<void> {
  const namespace = `conformance_${randomBytes(6).toString('hex')}`
  const opened = new Set<SessionStore>()
  const stores: Stores = {
    async open (settings = {}) {
      const complete: StoreSettings = { cacheExpiresAfter: TTL, namespace, ...settings }
      const store = await createStore(complete)
      assert.ok(typeof store === 'object' && store !== null, 'createStore returns a store')
      store.configure?.(complete)
      opened.add(store)
      return store
    },
    async close (store) {
      opened.delete(store)
      await store.close?.()
    }
  }
  try {
    await body(stores)
  } finally {
    for (const store of opened) await store.close?.()
  }
}

async function take (store: SessionStore, now: number): Promise<TakenBuckets> {
  const answer: unknown = await store.take(now)
  assert.ok(isObject(answer) && Array.isArray(answer.buckets),
    `take() must answer { buckets, expired } with buckets an array; got ${describe(answer)}`)
  const buckets = answer.buckets as unknown[]
  const bad = buckets.find((bucket) => !isBucket(bucket))
  assert.ok(bad === undefined,
    `take() must answer buckets of { minute: a multiple of 60000, sessions: a positive integer }; got ${describe(bad)}`)
  assertCount(answer.expired, 'take().expired')
  const sorted = [...buckets as SessionBucket[]].sort((a, b) => a.minute - b.minute)
  assert.equal(new Set(sorted.map((bucket) => bucket.minute)).size, sorted.length, 'take() answers each minute once')
  return { buckets: sorted.map(({ minute, sessions }) => ({ minute, sessions })), expired: answer.expired as number }
}

async function pending (store: SessionStore, now: number): Promise<PendingSessions> {
  const answer: unknown = await store.pending(now)
  assert.ok(isObject(answer), `pending() must answer { sessions, expired }; got ${describe(answer)}`)
  assertCount(answer.sessions, 'pending().sessions')
  assertCount(answer.expired, 'pending().expired')
  return { sessions: answer.sessions as number, expired: answer.expired as number }
}

async function giveBack (store: SessionStore, buckets: SessionBucket[], now: number): Promise<number> {
  const answer: unknown = await store.giveBack(buckets, now)
  assertCount(answer, 'giveBack()')
  return answer as number
}

async function claim (store: SessionStore, now: number, interval: number): Promise<boolean> {
  const answer: unknown = await store.claimDelivery?.(now, interval)
  assert.ok(typeof answer === 'boolean', `claimDelivery() must answer true or false; got ${describe(answer)}`)
  return answer
}

function assertCount (value: unknown, what: string): void {
  assert.ok(Number.isSafeInteger(value) && (value as number) >= 0, `${what} must be an integer of at least 0; got ${describe(value)}`)
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function describe (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  return JSON.stringify(value)
}
