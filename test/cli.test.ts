import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { run, targetOf } from '../bin/cli.js'

function cli (argv: string[], files: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const code = run(argv, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    readFile: (path) => {
      const text = files[path]
      if (text === undefined) throw new Error('ENOENT: no such file')
      return text
    }
  })
  return { code, out, err }
}

test('check-exclusions with patterns and URLs as arguments', async (t) => {
  const result = cli(['check-exclusions', '--pattern', '^/health/?$', '--pattern', '\\.js$', '/health?x=1', '/app.js', '/users'])
  t.equal(result.code, 0)
  t.same(result.out, [
    'excluded  /health?x=1  (tested "/health"; excludeUrls[0] "^/health/?$")',
    'excluded  /app.js  (tested "/app.js"; excludeUrls[1] "\\\\.js$")',
    'counted   /users  (tested "/users"; no pattern matched)'
  ])
  t.same(result.err, [])
})

test('check-exclusions with a JSON config in url mode', async (t) => {
  const config = JSON.stringify({ excludeUrls: ['~\\?a=1&b=2$~'], excludeUrlsDelimiter: '', excludeUrlsMatch: 'url', urls: ['https://API.example.com:443/l?b=2&a=1'] })
  const result = cli(['check-exclusions', '--config', 'c.json', '/l?a=1&b=2'], { 'c.json': config })
  t.equal(result.code, 0)
  t.same(result.out, [
    'excluded  https://API.example.com:443/l?b=2&a=1  (tested "https://api.example.com/l?a=1&b=2"; excludeUrls[0] "~\\\\?a=1&b=2$~")',
    'excluded  /l?a=1&b=2  (tested "http://localhost/l?a=1&b=2"; excludeUrls[0] "~\\\\?a=1&b=2$~")'
  ])
})

test('refusals, warnings and usage errors', async (t) => {
  const refused = cli(['check-exclusions', '--pattern', '(a+)+$', '/x'])
  t.equal(refused.code, 1)
  t.match(refused.err[0], /excludeUrls\[0\] "\(a\+\)\+\$": is open to catastrophic backtracking/)
  t.equal(cli(['check-exclusions', '--allow-unsafe', '--pattern', '(a+)+$', '/aa']).code, 0)
  t.match(cli(['check-exclusions', '--pattern', '\\?x', '/a']).err[0], /^warning: .*can only match a query string/)
  t.equal(cli(['check-exclusions', '--pattern', '/x', '--delimiter', '##']).code, 1)
  t.match(cli(['check-exclusions', '--match', 'host']).err[0], /--match must be 'path' or 'url'/)
  t.match(cli(['check-exclusions', '--config', 'missing.json']).err[0], /Cannot read missing.json/)
  t.match(cli(['check-exclusions', '--bogus']).err[0], /Unknown option/)
  t.match(cli([]).err[0], /^No command given/)
  t.match(cli(['frobnicate']).err[0], /^Unknown command "frobnicate"/)
  const help = cli(['--help'])
  t.equal(help.code, 0)
  t.match(help.out[0], /^Usage: fastify-easy-bugsnag check-exclusions/)
  t.equal(cli(['check-exclusions']).code, 0)
})

test('targetOf', async (t) => {
  t.equal(targetOf('https://h/p?q', 'path'), '/p')
  t.equal(targetOf('/p?b=1&a=1', 'url'), 'http://localhost/p?a=1&b=1')
})

test('the built bin runs', { skip: !existsSync('dist/bin/cli.js') && 'run `npm run build` first' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'easy-bugsnag-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = join(dir, 'config.json')
  writeFileSync(config, JSON.stringify({ excludeUrls: ['/ping'], urls: ['/ping'] }))
  const result = spawnSync(process.execPath, ['dist/bin/cli.js', 'check-exclusions', '--config', config, '/users'], { encoding: 'utf8' })
  t.equal(result.status, 0)
  t.equal(result.stdout, 'excluded  /ping  (tested "/ping"; excludeUrls[0] "/ping")\ncounted   /users  (tested "/users"; no pattern matched)\n')
  const refused = spawnSync(process.execPath, ['dist/bin/cli.js', 'check-exclusions', '--pattern', '('], { encoding: 'utf8' })
  t.equal(refused.status, 1)
  t.match(refused.stderr, /missing closing parenthesis/)
})
