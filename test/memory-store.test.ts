import { test } from 'tap'
import { MemorySessionStore } from '../index.js'

const M = 60_000
const T0 = Date.UTC(2026, 11, 4, 15, 0, 0)

test('adds to buckets and takes them all, oldest first', async (t) => {
  const store = new MemorySessionStore({ cacheExpiresAfter: 3600 })

  store.add([{ minute: T0 + M, sessions: 2 }, { minute: T0, sessions: 1 }], T0 + M)
  store.add([{ minute: T0 + M, sessions: 3 }], T0 + M)

  t.same(store.pending(T0 + M), { sessions: 6, expired: 0 })
  t.same(store.take(T0 + M), { buckets: [{ minute: T0, sessions: 1 }, { minute: T0 + M, sessions: 5 }], expired: 0 })
  t.same(store.pending(T0 + M), { sessions: 0, expired: 0 })
  t.same(store.take(T0 + M), { buckets: [], expired: 0 })
})

test('a bucket expires cacheExpiresAfter seconds after its minute, given back or not', async (t) => {
  const store = new MemorySessionStore()
  store.configure({ cacheExpiresAfter: 3600, namespace: 'x' })
  store.add([{ minute: T0, sessions: 4 }], T0)
  const taken = store.take(T0 + 3_599_000)
  t.same(taken, { buckets: [{ minute: T0, sessions: 4 }], expired: 0 })
  t.equal(store.giveBack(taken.buckets, T0 + 3_599_000), 0)
  t.same(store.pending(T0 + 3_599_000), { sessions: 4, expired: 0 })

  t.same(store.pending(T0 + 3_601_000), { sessions: 0, expired: 4 })
  t.same(store.pending(T0 + 3_601_000), { sessions: 0, expired: 0 }, 'reported once')
  t.equal(store.giveBack([{ minute: T0, sessions: 2 }], T0 + 3_601_000), 2, 'given back too late')
})

test('its own TTL wins over the plugin\'s, and the oldest bucket goes past maxBuckets', async (t) => {
  const store = new MemorySessionStore({ cacheExpiresAfter: 120, maxBuckets: 2 })
  store.configure({ cacheExpiresAfter: 3600, namespace: 'x' })

  store.add([{ minute: T0, sessions: 1 }], T0 + 119_000)
  // The bucket added before expired too.
  t.equal(store.giveBack([{ minute: T0, sessions: 5 }], T0 + 121_000), 6)

  store.add([{ minute: T0 + M, sessions: 1 }, { minute: T0 + 2 * M, sessions: 2 }, { minute: T0 + 3 * M, sessions: 3 }], T0 + 3 * M)
  t.same(store.take(T0 + 3 * M).buckets.map((bucket) => bucket.sessions), [2, 3])
})
