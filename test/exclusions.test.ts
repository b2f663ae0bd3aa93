import { test } from 'tap'
import { compileExclusions, pathOf, type ExclusionOptions } from '../lib/exclusions.js'
import { INVALID_EXCLUSION } from '../lib/errors.js'
import { toByteString, translate } from '../lib/pcre.js'

function compile (patterns: ExclusionOptions['patterns'], extra: Partial<ExclusionOptions> = {}) {
  return compileExclusions({ patterns, match: 'path', ...extra })
}

test('typical patterns in path mode', async (t) => {
  const exclusions = compile(['^/health/?$', '/ping', /^\/metrics$/, '#^/STATUS$#i'])
  const rows: Array<[string, boolean, number]> = [
    ['/health', true, 0], ['/health/', true, 0], ['/healthz', false, -1], ['/api/ping', true, 1],
    ['/metrics', true, 2], ['/metrics/x', false, -1], ['/status', true, 3], ['/users/1', false, -1]
  ]
  for (const [path, excluded, index] of rows) {
    t.equal(exclusions.isExcluded(path), excluded, path)
    t.same(exclusions.explain(path), { excluded, index, pattern: index === -1 ? null : String(['^/health/?$', '/ping', /^\/metrics$/, '#^/STATUS$#i'][index]) }, path)
  }
  t.equal(exclusions.size, 4)
  t.same(exclusions.warnings, [])
})

test('a single string or RegExp is a list of one', async (t) => {
  t.equal(compile('/ping').isExcluded('/ping'), true)
  t.equal(compile(/ping/).isExcluded('/ping'), true)
  t.equal(compile([]).isExcluded('/ping'), false)
})

test('g and y flags never make identical requests decide differently', async (t) => {
  const exclusions = compile([/^\/health$/g, /ping/y])
  for (let i = 0; i < 3; i++) {
    t.equal(exclusions.isExcluded('/health'), true)
    t.equal(exclusions.explain('/health').index, 0)
    t.equal(exclusions.isExcluded('ping'), true)
  }
})

test('RegExp objects with backreferences or named groups run alone, others combined by flags', async (t) => {
  const exclusions = compile([/(a)\1/, /(?<n>b)\k<n>/, /C/i, /d/i, 'e'])
  t.same(['aa', 'bb', 'c', 'D', 'e', 'x'].map((s) => exclusions.isExcluded(s)), [true, true, true, true, true, false])
  t.equal(exclusions.explain('D').index, 3)
})

test('backreferences stay right when patterns are combined', async (t) => {
  const exclusions = compile(['(x)\\1', '(?>y)(z)\\1', 'a++(b)\\1', '/(?P<seg>[a-z]+)/(?P=seg)$'])
  t.same(['xx', 'yzz', 'aabb', '/ab/ab', '/ab/ac', 'xy'].map((s) => exclusions.isExcluded(s)), [true, true, true, true, false, false])
})

test('delimiters the original could never use fail registration', async (t) => {
  for (const delimiter of ['##', 'a', '1', '\\', ' ', '\t', '(', '{', '[', '<', '\u00e9']) {
    t.throws(() => compile(['/ping'], { delimiter }), { code: INVALID_EXCLUSION, message: /excludeUrlsDelimiter/ }, JSON.stringify(delimiter))
  }
  t.equal(compile(['/ping'], { delimiter: '~' }).isExcluded('/ping'), true)
  t.equal(compile(['~/PING~i', '(/x)'], { delimiter: '' }).isExcluded('/ping'), true)
  t.equal(compile(['(/x)'], { delimiter: '' }).isExcluded('/x'), true)
  t.equal(compile(['(/x)'], { delimiter: '' }).isExcluded('/'), false)
  t.equal(compile(['/ping']).isExcluded('/ping'), true, 'the default delimiter is #')
  t.equal(compile(['(?#comment)a'], { delimiter: '~' }).isExcluded('a'), true)
  t.throws(() => compile(['(?#abc'], { delimiter: '~' }), { message: /missing \) after \(\?# comment/ })
})

test('refusals name the option, the index, the pattern and the construct', async (t) => {
  const rows: Array<[string, RegExp]> = [
    ['/docs#x', /excludeUrls\[1\] "\/docs#x": unknown modifier '#': the pattern contains the delimiter '#' unescaped/],
    ['(?R)', /excludeUrls\[1\] "\(\?R\)": recursion or a subroutine call cannot be read the same way in JavaScript/],
    ['(', /excludeUrls\[1\] "\(": is not a valid PCRE pattern \(missing closing parenthesis\)/],
    ['(a+)+$', /catastrophic backtracking \(a quantifier nested inside another\).*allowUnsafePatterns/],
    ['(a|a)*', /alternatives that can match the same text/],
    ['(\\d+|\\w+)*', /alternatives that can match the same text/],
    ['\\d+\\d+x', /adjacent quantifiers/],
    ['(?:a+\\R)+', /nested/],
    ['(x)(?:\\1b+)+', /nested/]
  ]
  for (const [pattern, message] of rows) {
    t.throws(() => compile(['/ok', pattern]), { code: INVALID_EXCLUSION, message }, pattern)
  }
  t.throws(() => compile([/(a+)+$/]), { code: INVALID_EXCLUSION, message: /excludeUrls\[0\] \/\(a\+\)\+\$\/: is open to catastrophic/ })
})

test('patterns whose backtracking grows without bound are refused, string or RegExp', async (t) => {
  const rows: Array<[string, string]> = [
    ['(a|a?)+$', 'alternatives that can match the same text'],
    ['(a|aa)+$', 'alternatives that can split the same text in more than one way'],
    ['(ab|a|ba)+$', 'alternatives that can split the same text in more than one way'],
    ['(a|b|ab)*c', 'alternatives that can split the same text in more than one way'],
    ['(a|abc|b|c)+$', 'alternatives that can split the same text in more than one way'],
    ['(a?a)+$', 'a quantifier nested inside another'],
    ['(a{1,3})+$', 'a quantifier nested inside another'],
    ['(\\w+/?)+$', 'a quantifier nested inside another'],
    // Bounded, but each round multiplies the ways: a polynomial of degree 12.
    ['(.*a){12}$', 'a quantifier nested inside another'],
    ['(.*,){8}x', 'a quantifier nested inside another'],
    // Groups around the repetitions, and separators the first repetition takes too.
    ['(\\d+)(\\d+)x', 'adjacent quantifiers over overlapping characters'],
    ['(?:\\d+\\d+)x', 'adjacent quantifiers over overlapping characters'],
    ['\\d+0\\d+x', 'adjacent quantifiers over overlapping characters'],
    ['.*a.*a.*a.*b', 'adjacent quantifiers over overlapping characters'],
    ['^/api/.*/.*/.*/.*/x$', 'adjacent quantifiers over overlapping characters'],
    ['(\\d+\\.\\d+)+$', 'rounds that end and start with quantifiers over overlapping characters'],
    ['^/([a-z]+-[a-z]+)+$', 'rounds that end and start with quantifiers over overlapping characters']
  ]
  for (const [pattern, reason] of rows) {
    t.throws(() => compile([pattern]), { code: INVALID_EXCLUSION, message: `is open to catastrophic backtracking (${reason}` }, pattern)
  }
  t.throws(() => compile([/(a|a)*$/]), { code: INVALID_EXCLUSION, message: 'excludeUrls[0] /(a|a)*$/: is open to catastrophic backtracking (alternatives that can match the same text' })
  t.throws(() => compile([/(?:a|A)+$/i]), { code: INVALID_EXCLUSION }, 'read case-insensitively, as the flag says')
  // A source the PCRE reader refuses (a lookbehind of varying length) still gets the simpler check.
  t.throws(() => compile([/(?<=a+)(b+)+$/]), { code: INVALID_EXCLUSION, message: 'a quantifier nested inside another' })
  t.doesNotThrow(() => compile([/(?<=a+)b/]))
  t.doesNotThrow(() => compile([/[^]+x/, /^\/health$/, /(x|y)+$/i, /\p{L}+/u]))
  // u-flag sources, \\u escapes and [^] are read for their shape.
  for (const pattern of [/\w+\w+x/u, /(\w|\w)*x/u, /(a|a)*\u0062/, /[^]*[^]*x/, /(?<a>\d+)(?<b>\d+)x/]) {
    t.throws(() => compile([pattern]), { code: INVALID_EXCLUSION }, String(pattern))
  }
  t.doesNotThrow(() => compile([/^\/users(?:\/\d+)+$/u, /^\/[\w-]+(?:\/[\w-]+)*$/u, /^\/(?:\d+\.){3}\d+$/u]))
  // Conservative where a branch's length varies: two branches that start alike are refused.
  t.throws(() => compile(['(/[a-z]+|/[0-9]+)*$']), { code: INVALID_EXCLUSION })
})

test('patterns that are safe under repetition are accepted', async (t) => {
  const safe = ['(/[a-z]+)+$', '(?:\\.\\d+)+', '(a+b)+', '(?>a+)+b', '(a++)+b', '(ab|cd)+', '(a|b)*c', '(\\w+\\.)*\\w+$', '.*foo.*', '[a-z]+\\d+', 'a{1,3}a{1,3}', '(?:a+){2}',
    '(?:(?:(?=x)y)a+)+', '(?:(?:(*F)y)a+)+', '(\\d+\\.){3}\\d+', '(\\.[a-z]{2,4})+$', '(a|ab)*$', '(a|abc|b)+$', '(a|ab|bb)+$', '^/static/.*\\.(css|js)$', '^/api/.*/health$', '^(/[\\w-]+)*/?$', '([a-z]+-)*[a-z]+$']
  for (const pattern of safe) t.doesNotThrow(() => compile([pattern]), pattern)
})

test('translation corners', async (t) => {
  const refused = ['\\p{1x}', '(*UTF)\ud800', 'a(*', '(?J)(?<n>a)|(?<n>b)\\k<n>', '(?<=\\R)a', '(?<=(a)\\1)b',
    '(*UTF)(?:[^a]+)+', '(x)(?:(?:\\1y)b+)+', '(?:(?=a)a+|b)*', '(?:(?(?=a)a+|b)|c)*', '(?:(a+)|ab)*']
  for (const pattern of refused) t.throws(() => compile([pattern]), { code: INVALID_EXCLUSION }, pattern)
  const decided: Array<[string, string, boolean]> = [
    ['(*UTF)(?x) a b', 'ab', true], ['(?:(?(?=a)a|b)c+)+', 'bcc', true], ['(?:ab+|cd)*x', 'abbcdx', true],
    ['(?:a(?=b)|c)*b', 'acb', true], ['x(?:(a)\\1)', 'xaa', true], ['x(?:(a)\\1)', 'xab', false], ['(?:(?(?=a)a|b)c+)+', 'dc', false]
  ]
  for (const [pattern, subject, excluded] of decided) t.equal(compile([pattern]).isExcluded(subject), excluded, pattern)
})

test('allowUnsafePatterns accepts them knowingly', async (t) => {
  t.equal(compile(['(a+)+$', /(b+)+$/], { allowUnsafePatterns: true }).isExcluded('/aaa'), true)
})

test('path mode reports patterns that can only match a query string, a scheme or a host', async (t) => {
  const exclusions = compile(['\\?probe=1', '^https?://internal\\.', '/ping', '^/x', '(?:^a|^b)', '(^c)', '^'])
  t.equal(exclusions.warnings.length, 4)
  t.match(exclusions.warnings[0], /excludeUrls\[0\] "\\\\\?probe=1" can only match a query string.*'url'/)
  t.match(exclusions.warnings[1], /excludeUrls\[1\] .* can only match a scheme or a host/)
  t.same(compile(['\\?probe=1'], { match: 'url' }).warnings, [])
  t.equal(compile(['~x~A'], { delimiter: '' }).warnings.length, 1)
  t.equal(compile(['~/x~A'], { delimiter: '' }).warnings.length, 0)
})

test('nothing a client sends makes the check throw or hang', async (t) => {
  const exclusions = compile(['/ping', '(*UTF)/caf\\p{L}', '/\\x{e9}/u', /x/])
  const targets = ['*', '/%ff%fe', '/%', 'http://evil/ping', '/caf\u00e9', '/\ud800', '/' + 'a'.repeat(100000), '']
  for (const target of targets) t.type(exclusions.isExcluded(target), 'boolean')
  t.equal(exclusions.isExcluded('/caf\u00e9'), true)
  t.equal(exclusions.isExcluded('/caf\ud800'), false, 'a lone surrogate never matches a UTF-8 pattern')
  t.equal(exclusions.explain('/caf\ud800').excluded, false)
  t.equal(exclusions.isExcluded(undefined as unknown as string), false)
  t.same(exclusions.explain(null as unknown as string), { excluded: false, index: -1, pattern: null })
})

test('a regex engine failure decides "not excluded"', async (t) => {
  const exclusions = compile([/x/])
  const original = RegExp.prototype.test
  let decision: boolean
  // eslint-disable-next-line no-extend-native
  RegExp.prototype.test = function () { throw new RangeError('Maximum call stack size exceeded') }
  try {
    decision = exclusions.isExcluded('x')
  } finally {
    // eslint-disable-next-line no-extend-native
    RegExp.prototype.test = original
  }
  t.equal(decision, false)
})

test('the cache remembers decisions for short targets only', async (t) => {
  const patterns = Array.from({ length: 8 }, (_, i) => `^/p${i}$`)
  const exclusions = compile(patterns, { cacheSize: 4 })
  for (let round = 0; round < 2; round++) {
    t.equal(exclusions.isExcluded('/p3'), true)
    t.equal(exclusions.isExcluded('/q'), false)
  }
  t.equal(exclusions.isExcluded('/' + 'p'.repeat(600)), false)
})

test('bytes: subjects are matched as their UTF-8 bytes', async (t) => {
  t.equal(toByteString('/ping'), '/ping')
  t.equal(toByteString('/\u00e9'), '/\u00c3\u00a9')
  t.equal(compile(['/caf.$']).isExcluded('/caf\u00e9'), false)
  t.equal(compile(['/caf..$']).isExcluded('/caf\u00e9'), true)
  t.equal(compile(['/caf\u00e9$']).isExcluded('/caf\u00e9'), true)
})

test('a byte-mode pattern that reads only ASCII decides the characters as it decides their UTF-8 bytes', async (t) => {
  const asciiOnly = ['^/health$', '\\.(css|js)$', '(?i)^/ADMIN', '^/v\\d+/', '\\bping\\b', '(?<=/)x', '(?=a)a', '^/(x)\\1$', '(a|)', '']
  const notAsciiOnly = ['.', '[^/]', '\\B', '(?!a)', '(?<!a)', 'é', '\\x{e9}', '\\W', '\\R', '(?(?=a)b|c)']
  for (const pattern of asciiOnly) t.equal(translate(pattern, '').asciiOnly, true, pattern)
  for (const pattern of notAsciiOnly) t.equal(translate(pattern, '').asciiOnly, false, pattern)
  t.equal(translate('abc', 'u').asciiOnly, false, 'UTF-8 mode reads characters anyway')

  // Runs of non-ASCII units of every length, next to word characters, slashes and newlines.
  const targets = ['aéb', 'é', '/é/', 'x\u00e9\u00e9y', '/\ud83d\ude00/x', '\ud800', 'a\ud800b', 'é\n', '\né', '/ping/é', 'é/ping', '/health', 'xx/xx', '/ADMIN\u00ff']
  for (const pattern of asciiOnly) {
    const regex = new RegExp(translate(pattern, '').source)
    for (const target of targets) {
      t.equal(regex.test(target), regex.test(toByteString(target)), `${JSON.stringify(pattern)} on ${JSON.stringify(target)}`)
    }
  }
  // What the exceptions are for: between the two bytes of é, \B holds and (?<![\x00-\x7f]) too.
  t.equal(compile(['\\B']).isExcluded('aéb'), true)
  t.equal(compile(['(?<![\\x00-\\x7f])(?![\\x00-\\x7f])']).isExcluded('aéb'), true)
})

test('a RegExp combined with string patterns: their groups are numbered after its own', async (t) => {
  const exclusions = compile([/^\/(a|b)$/, '^/(x)\\1$'])
  t.same(['/a', '/xx', '/x', '/xa'].map((target) => exclusions.isExcluded(target)), [true, true, false, false])
})

test('pathOf', async (t) => {
  const rows: Array<[string, string]> = [
    ['/ping?x=1', '/ping'], ['/ping#f', '/ping'], ['/ping', '/ping'], ['*', '*'],
    ['http://h/ping?x', '/ping'], ['HTTPS://h:8443', '/'], ['weird', 'weird']
  ]
  for (const [raw, path] of rows) t.equal(pathOf(raw), path, raw)
})
