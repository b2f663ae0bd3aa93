// The package as users get it: `npm pack`, installed from the tarball into a fresh project,
// offline (from the npm cache that `npm ci` filled), then used from ESM, CommonJS and strict
// TypeScript. No network: `--offline` makes npm fail instead of asking the registry.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { assertBuilt } from './built.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)
const pkg = require('../package.json') as {
  version: string
  bin: Record<string, string>
  exports: Record<string, string | Record<string, string>>
  peerDependencies: Record<string, string>
}
const versionOf = (name: string): string => (require(`${name}/package.json`) as { version: string }).version

// The versions this repository's lockfile holds, hence the ones in the npm cache.
const FASTIFY = versionOf('fastify')
const BUGSNAG = versionOf('@bugsnag/js')
const BUGSNAG_8 = versionOf('bugsnag-js-8')
const TYPESCRIPT = versionOf('typescript')
const TYPES_NODE = versionOf('@types/node')

const API_KEY = '0123456789abcdef0123456789abcdef'

// Everything that may be in the tarball; anything else fails the test.
const ALLOWED =
  /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/(index|bin\/cli|lib\/(stores\/)?[a-z-]+)\.(js|d\.ts|js\.map))$/

t.setTimeout(120_000)

interface Run { stdout: string, stderr: string, code: number }

function run (command: string, args: string[], cwd: string, timeout = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    // The npm_* variables of an outer `npm test` would point npm at this repository.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
    execFile(command, args, { cwd, timeout, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ stdout, stderr, code })
    })
  })
}

async function npmInstall (t: Test, directory: string, specs: string[]): Promise<void> {
  const flags = ['--offline', '--no-audit', '--no-fund', '--no-update-notifier']
  const installed = await run('npm', ['install', ...flags, ...specs], directory)
  t.equal(installed.code, 0, `npm install --offline ${specs.join(' ')}`, { stderr: installed.stderr })
}

/** A fresh project outside this repository, so that nothing resolves to the repository's node_modules. */
async function project (t: Test, name: string): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), `easy-bugsnag-${name}-`))
  t.teardown(() => rm(directory, { recursive: true, force: true }))
  await writeFile(path.join(directory, 'package.json'), JSON.stringify({
    name: `consumer-${name}`, version: '1.0.0', private: true, type: 'module'
  }))
  return directory
}

// Registers the plugin, sends two requests (one excluded, one reporting a handled error),
// flushes, and prints what the plugin and the collector saw.
const CONSUMER_BODY = `
const collector = await Collector.start()
const app = Fastify()
await app.register(easyBugsnag, {
  apiKey: '${API_KEY}',
  endpoints: collector.endpoints,
  logger: null,
  sessionTracking: { enabled: true, excludeUrls: ['^/ping$'] }
})
app.get('/', async (request) => {
  request.bugsnag.notify(new Error('handled in a consumer'))
  return { ok: true }
})
app.get('/ping', async () => 'pong')
const home = await app.inject('/')
await app.inject('/ping')
const stats = await app.bugsnagSessions.stats()
await app.bugsnagSessions.flush()
await collector.waitFor(() => collector.eventPayloads.length === 1)
const event = collector.eventPayloads[0].body.events[0]
await app.close()
await collector.close()
console.log(JSON.stringify({
  status: home.statusCode,
  started: stats.started,
  excluded: stats.excluded,
  delivered: collector.sessionsStarted,
  eventSession: event.session.events,
  decorators: [typeof app.bugsnag.notify, typeof app.bugsnagSessions.wrapJob],
  bugsnag: requireFromHere('@bugsnag/js/package.json').version
}))
`

const ESM_CONSUMER = `
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import easyBugsnag, { easyBugsnag as named } from 'fastify-easy-bugsnag'
import { Collector } from 'fastify-easy-bugsnag/collector'
if (named !== easyBugsnag) throw new Error('the named export is not the default export')
const requireFromHere = createRequire(import.meta.url)
${CONSUMER_BODY}
`

// CommonJS gets the module namespace: the plugin is its \`default\` (Fastify also accepts the
// namespace itself, as it does for any ES module with a default export).
const CJS_CONSUMER = `
const Fastify = require('fastify')
const namespace = require('fastify-easy-bugsnag')
const { Collector } = require('fastify-easy-bugsnag/collector')
const requireFromHere = require
const easyBugsnag = namespace
async function main () {
  ${CONSUMER_BODY}
  console.log(JSON.stringify({
    requireModule: process.features.require_module,
    defaultIsFunction: typeof namespace.default === 'function',
    namedIsDefault: namespace.easyBugsnag === namespace.default,
    exports: Object.keys(namespace).sort()
  }))
}
main().catch((error) => { console.error(error); process.exitCode = 1 })
`

const TS_GOOD = `
import type { Client } from '@bugsnag/js'
import Fastify from 'fastify'
import easyBugsnag, {
  EasyBugsnagError, RedisSessionStore, type BugsnagSessions, type EasyBugsnagOptions, type SessionStats
} from 'fastify-easy-bugsnag'
import { Collector } from 'fastify-easy-bugsnag/collector'

const collector: Collector = await Collector.start()
const options: EasyBugsnagOptions = {
  apiKey: '${API_KEY}',
  endpoints: collector.endpoints,
  releaseStage: 'production',
  sessionTracking: {
    enabled: true,
    excludeUrls: ['^/ping$', /^\\/health$/],
    excludeUrlsDelimiter: '#',
    excludeUrlsMatch: 'url',
    cache: 'file',
    cacheDirectory: '/tmp',
    cacheExpiresAfter: 3600,
    jobCountForSessions: true
  }
}
const app = Fastify()
await app.register(easyBugsnag, options)
app.get('/internal', { config: { bugsnagSessions: false } }, async (request) => {
  const client: Client = request.bugsnag
  client.notify(new Error('typed'))
  return { ok: true }
})
const base: Client = app.bugsnag
const sessions: BugsnagSessions = app.bugsnagSessions
const stats: SessionStats = await sessions.stats()
const started: number = stats.started
const excluded: boolean = sessions.isExcluded('/ping')
const job: (name: string) => Promise<number> = sessions.wrapJob(async (name: string) => name.length)
const store = new RedisSessionStore({ connection: 'redis://127.0.0.1:1', namespace: 'typed' })
export { base, started, excluded, job, store, EasyBugsnagError }
`

const TS_BAD = `
import Fastify from 'fastify'
import easyBugsnag from 'fastify-easy-bugsnag'

const app = Fastify()
await app.register(easyBugsnag, { apiKey: 'key', sessionTracking: { enabled: true, excludeUrlsMatch: 'host' } })
`

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    // Checking every dependency's declarations triples the run; the consumer's code is what is tested.
    skipLibCheck: true,
    types: ['node']
  },
  include: ['good.ts', 'bad.ts']
}

interface Consumed {
  status: number
  started: number
  excluded: number
  delivered: number
  eventSession: { handled: number, unhandled: number }
  decorators: string[]
  bugsnag: string
}

function assertConsumed (t: Test, consumed: Consumed, bugsnag: string): void {
  t.equal(consumed.status, 200)
  t.equal(consumed.started, 1, 'one session: the excluded /ping starts none')
  t.equal(consumed.excluded, 1)
  t.equal(consumed.delivered, 1, 'the collector received the session')
  t.same(consumed.eventSession, { handled: 1, unhandled: 0 }, 'the event carries the request\'s session')
  t.same(consumed.decorators, ['function', 'function'])
  t.equal(consumed.bugsnag, bugsnag)
}

interface PackInfo { filename: string, size: number, unpackedSize: number, files: Array<{ path: string }> }

let tarball = ''
let packInfo: PackInfo

t.before(async () => {
  await assertBuilt()
  const destination = await mkdtemp(path.join(os.tmpdir(), 'easy-bugsnag-pack-'))
  t.teardown(() => rm(destination, { recursive: true, force: true }))
  const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', destination], root)
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`)
  const [info] = JSON.parse(packed.stdout) as PackInfo[]
  tarball = path.join(destination, info!.filename)
  packInfo = info!
})

t.test('the tarball holds only what users need', async (t) => {
  const files = packInfo.files.map((file) => file.path).sort()
  t.comment(`${packInfo.filename}: ${files.length} files, ${packInfo.size} bytes packed, ${packInfo.unpackedSize} unpacked`)

  t.same(files.filter((file) => !ALLOWED.test(file)), [], 'nothing outside dist/, the docs and package.json')
  t.same(files.filter((file) => /^(test|bench|examples|scripts|types|lib|bin|\.)|fixtures|\.tap|coverage/.test(file)), [])
  t.same(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')), [], 'no TypeScript sources')
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) t.ok(files.includes(needed), needed)

  const targets = [
    ...Object.values(pkg.bin),
    ...Object.values(pkg.exports).flatMap((target) => typeof target === 'string' ? [target] : Object.values(target))
  ].map((target) => path.normalize(target))
  for (const target of new Set(targets)) t.ok(files.includes(target), `${target} (from bin or exports) is in the tarball`)
  for (const declaration of files.filter((file) => file.endsWith('.d.ts'))) {
    t.ok(files.includes(declaration.replace(/\.d\.ts$/, '.js')), `${declaration} comes with its JavaScript`)
  }
})

t.test('the peer dependency ranges are the versions tested here', async (t) => {
  t.equal(pkg.peerDependencies.fastify, '^5.0.0')
  t.match(FASTIFY, /^5\./)
  t.equal(pkg.peerDependencies['@bugsnag/js'], '^8.0.0 || ^9.0.0')
  t.match(BUGSNAG, /^9\./, 'the ESM, CommonJS and TypeScript consumers use @bugsnag/js 9')
  t.match(BUGSNAG_8, /^8\./, 'a second ESM consumer uses @bugsnag/js 8')
})

t.test('installed from the tarball, offline', async (t) => {
  const [current, previous] = await Promise.all([project(t, 'current'), project(t, 'bugsnag8')])
  await Promise.all([
    npmInstall(t, current, [
      tarball, `fastify@${FASTIFY}`, `@bugsnag/js@${BUGSNAG}`, `typescript@${TYPESCRIPT}`, `@types/node@${TYPES_NODE}`
    ]),
    npmInstall(t, previous, [tarball, `fastify@${FASTIFY}`, `@bugsnag/js@${BUGSNAG_8}`])
  ])
  const installed = JSON.parse(await readFile(path.join(current, 'node_modules/fastify-easy-bugsnag/package.json'), 'utf8'))
  t.equal(installed.version, pkg.version)

  t.test('an ES module imports it and registers it', async (t) => {
    await writeFile(path.join(current, 'consumer.mjs'), ESM_CONSUMER)
    const result = await run(process.execPath, ['consumer.mjs'], current, 20_000)
    t.equal(result.code, 0, 'runs', { stderr: result.stderr })
    assertConsumed(t, JSON.parse(result.stdout) as Consumed, BUGSNAG)
  })

  t.test('with @bugsnag/js 8 too', async (t) => {
    await writeFile(path.join(previous, 'consumer.mjs'), ESM_CONSUMER)
    const result = await run(process.execPath, ['consumer.mjs'], previous, 20_000)
    t.equal(result.code, 0, 'runs', { stderr: result.stderr })
    assertConsumed(t, JSON.parse(result.stdout) as Consumed, BUGSNAG_8)
  })

  t.test('a CommonJS module requires it, without a flag or a warning (require(esm), Node 20.19+)', async (t) => {
    await writeFile(path.join(current, 'consumer.cjs'), CJS_CONSUMER)
    const result = await run(process.execPath, ['consumer.cjs'], current, 20_000)
    t.equal(result.code, 0, 'runs', { stderr: result.stderr })
    t.equal(result.stderr, '', 'no ExperimentalWarning')
    const [consumed, shape] = result.stdout.trim().split('\n').map((line) => JSON.parse(line))
    assertConsumed(t, consumed as Consumed, BUGSNAG)
    t.same(shape, {
      requireModule: true,
      defaultIsFunction: true,
      namedIsDefault: true,
      exports: [
        'ALREADY_REGISTERED', 'EasyBugsnagError', 'FileSessionStore', 'INVALID_EXCLUSION', 'INVALID_OPTION',
        'MemorySessionStore', 'NO_CLIENT', 'RedisSessionStore', '__esModule', 'default', 'easyBugsnag'
      ]
    })

    const refused = await run(process.execPath, ['--no-experimental-require-module', 'consumer.cjs'], current, 20_000)
    t.not(refused.code, 0, 'needs require(esm): with it turned off, require fails')
    t.match(refused.stderr, /ERR_REQUIRE_ESM/)
  })

  t.test('strict TypeScript (NodeNext) compiles the decorators and typed options, and refuses a wrong option', async (t) => {
    await writeFile(path.join(current, 'good.ts'), TS_GOOD)
    await writeFile(path.join(current, 'bad.ts'), TS_BAD)
    await writeFile(path.join(current, 'tsconfig.json'), JSON.stringify(TSCONFIG))
    const tsc = path.join(current, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], current, 60_000)

    const errors = result.stdout.trim().split('\n').filter((line) => /error TS\d+/.test(line))
    t.equal(result.code, 2, 'tsc reports errors')
    t.same(errors.filter((line) => !line.startsWith('bad.ts(')), [], 'good.ts compiles')
    t.equal(errors.length, 1, 'one error, in bad.ts')
    t.match(errors[0], /^bad\.ts\(6,\d+\): error TS2769: No overload matches this call/)
    t.match(result.stdout, /Type '"host"' is not assignable to type '"(path|url)" \| "(path|url)" \| undefined'/)
  })
})
