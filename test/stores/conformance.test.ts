// The conformance suite itself: a correct store passes it, and the odd answers of case C4
// (bugsnag-laravel PRs #376/#378) fail it with messages that name the call.
import { test } from 'tap'
import { MemorySessionStore, type SessionStore } from '../../index.js'
import { describeSessionStore, type CreateStore } from '../../lib/store-conformance.js'

/** Runs the suite with a test function of its own; resolves with each test's failure, or null. */
async function runSuite (createStore: CreateStore): Promise<Map<string, string | null>> {
  const results = new Map<string, Promise<string | null>>()
  describeSessionStore('store', createStore, {
    test: (name, fn) => results.set(name.replace(/^store: /, ''), fn().then(() => null, (error: Error) => error.message))
  })
  const settled = new Map<string, string | null>()
  for (const [name, result] of results) settled.set(name, await result)
  return settled
}

function failures (results: Map<string, string | null>): string[] {
  return [...results.values()].filter((message): message is string => message !== null)
}

/** A memory store whose every answer comes late, through a promise, as a remote store's would. */
function asyncStore (): SessionStore {
  const memory = new MemorySessionStore()
  const later = <T>(value: T) => new Promise<T>((resolve) => setImmediate(resolve, value))
  return {
    configure: (settings) => memory.configure(settings),
    add: (buckets, now) => later(memory.add(buckets, now)),
    take: (now) => later(memory.take(now)),
    giveBack: (buckets, now) => later(memory.giveBack(buckets, now)),
    pending: (now) => later(memory.pending(now))
  }
}

function oddStore (answer: () => unknown): SessionStore {
  return {
    add () {},
    take: () => answer() as never,
    giveBack: () => answer() as never,
    pending: () => answer() as never
  }
}

test('a store that keeps the contract passes every test, whether it answers at once or later', async (t) => {
  t.same(failures(await runSuite(() => new MemorySessionStore())), [])
  const results = await runSuite(asyncStore)
  t.equal(results.size, 13)
  t.same(failures(results), [])
})

test('C4: odd answers fail the suite, each with a message that names the call', async (t) => {
  const cases: Array<[string, () => unknown, string]> = [
    ['undefined', () => undefined, 'take() must answer { buckets, expired } with buckets an array; got undefined'],
    ['null', () => null, 'take() must answer { buckets, expired } with buckets an array; got null'],
    ['a string', () => '{"buckets":[]}', 'take() must answer { buckets, expired } with buckets an array; got the string "{\\"buckets\\":[]}"'],
    ['malformed buckets', () => ({ buckets: [{ minute: 'soon', sessions: -1 }], expired: 0 }),
      'take() must answer buckets of { minute: a multiple of 60000, sessions: a positive integer }; got {"minute":"soon","sessions":-1}'],
    ['a malformed count', () => ({ buckets: [], expired: 'many' }), 'take().expired must be an integer of at least 0; got the string "many"'],
    ['a rejection', () => Promise.reject(new Error('store down')), 'store down']
  ]
  for (const [name, answer, message] of cases) {
    const results = await runSuite(() => oddStore(answer))
    t.equal(results.get('answers in the shapes the contract documents, even when empty'), message, name)
  }

  const pendingOnly = await runSuite(() => ({ ...new MemorySessionStore(), ...asyncStore(), pending: () => ({ sessions: '12', expired: 0 }) as never }))
  t.equal(pendingOnly.get('answers in the shapes the contract documents, even when empty'), 'pending().sessions must be an integer of at least 0; got the string "12"')
  const giveBackOnly = await runSuite(() => ({ ...asyncStore(), giveBack: () => null as never }))
  t.equal(giveBackOnly.get('answers in the shapes the contract documents, even when empty'), 'giveBack() must be an integer of at least 0; got null')
  const twice = await runSuite(() => ({ ...asyncStore(), take: () => ({ buckets: [{ minute: 0, sessions: 1 }, { minute: 0, sessions: 2 }], expired: 0 }) }))
  t.match(twice.get('adds to the bucket of each minute and takes every bucket at once'), /^take\(\) answers each minute once/)
  t.equal((await runSuite(() => null as never)).get('answers in the shapes the contract documents, even when empty'), 'createStore returns a store')
})

test('C5: a store that reads the TTL as milliseconds, or never expires, fails the TTL tests', async (t) => {
  const milliseconds = await runSuite(() => {
    const memory = new MemorySessionStore()
    return Object.assign(memory, { configure: (settings: { cacheExpiresAfter: number, namespace: string }) => MemorySessionStore.prototype.configure.call(memory, { ...settings, cacheExpiresAfter: settings.cacheExpiresAfter / 1000 }) })
  })
  t.match(milliseconds.get('cacheExpiresAfter is seconds: a bucket exists at 3,599 s and is counted expired, once, at 3,601 s'), /Expected values to be strictly deep-equal/)
  t.match(milliseconds.get('the TTL handed to configure is seconds too (900 s)'), /Expected values to be strictly deep-equal/)
})

test('claims and sharing: a store that says it is shared must behave so', async (t) => {
  const notShared = await runSuite(() => Object.assign(new MemorySessionStore(), { shared: true }) as never)
  t.match(notShared.get('instances of a shared store see the same counts, and counts outlive an instance'), /strictly deep-equal/)

  const wrongClaims = await runSuite(() => Object.assign(asyncStore(), { claimDelivery: () => 'yes' as never }))
  t.equal(wrongClaims.get('claimDelivery grants one delivery per interval'), 'claimDelivery() must answer true or false; got the string "yes"')
  const everyTime = await runSuite(() => Object.assign(asyncStore(), {
    claimDelivery: () => true
  }))
  t.match(everyTime.get('claimDelivery grants one delivery per interval'), /^within the interval/)
  const odd = await runSuite(() => Object.assign(asyncStore(), { shared: 'yes' as never }))
  t.equal(odd.get('answers in the shapes the contract documents, even when empty'), 'shared is a boolean when present')
})

test('the suite registers its tests through any framework\'s test function, here tap\'s t.test', async (t) => {
  describeSessionStore('MemorySessionStore in a subtest', () => new MemorySessionStore(), { test: t.test.bind(t) })
})
