/**
 * Reads a PHP preg pattern (delimiters, modifiers, PCRE2 10.42 syntax) and
 * writes a JavaScript regular expression that decides every subject the same
 * way. Whatever cannot be translated with certainty is refused with a
 * `PcreError` naming the construct, so that no pattern is ever accepted and
 * then decided differently from PHP.
 *
 * Without the `u` modifier PHP matches the bytes of the UTF-8 subject. The
 * translation keeps that: such a pattern is compiled over bytes (every byte
 * one JavaScript character from \x00 to \xff) and is tested against the
 * subject's UTF-8 bytes (see `toByteString`). With `u` or `(*UTF)` the
 * pattern is compiled with the JavaScript `u` flag and tested on characters.
 */

export type PcreErrorKind = 'invalid' | 'unsupported' | 'unsafe'

/**
 * `invalid`: PHP itself rejects the pattern (the original failed every request
 * that reached it). `unsupported`: valid PCRE that JavaScript cannot be made to
 * read the same way. `unsafe`: open to catastrophic backtracking.
 */
export class PcreError extends Error {
  readonly kind: PcreErrorKind

  constructor (kind: PcreErrorKind, message: string) {
    super(message)
    this.name = 'PcreError'
    this.kind = kind
  }
}

const invalid = (message: string): PcreError => new PcreError('invalid', message)
const unsupported = (message: string): PcreError => new PcreError('unsupported', message)

export interface DelimitedRegex {
  body: string
  modifiers: string
}

const OPENING: Record<string, string> = { '(': ')', '[': ']', '{': '}', '<': '>' }
const PHP_SPACE = /^[ \t\n\v\f\r]*/

/** Splits `/body/flags` the way PHP's preg functions do, with PHP's own errors. */
export function splitDelimited (regex: string): DelimitedRegex {
  const text = regex.replace(PHP_SPACE, '')
  if (text === '') throw invalid('empty regular expression')
  const start = text[0] as string
  if (/[A-Za-z0-9\\\0]/.test(start)) {
    throw invalid('delimiter must not be alphanumeric, backslash, or NUL')
  }
  const end = OPENING[start] ?? start
  let depth = 1
  let pos = 1
  for (; pos < text.length; pos++) {
    const c = text[pos]
    if (c === '\\' && pos + 1 < text.length) {
      pos++
    } else if (c === end && --depth === 0) {
      break
    } else if (c === start && end !== start) {
      depth++
    }
  }
  if (pos >= text.length) {
    throw invalid(end === start
      ? `no ending delimiter '${start}' found`
      : `no ending matching delimiter '${end}' found`)
  }
  return { body: text.slice(1, pos), modifiers: text.slice(pos + 1) }
}

/* ------------------------------------------------------------------ sets */

type Range = [number, number]

/** A set of characters: code point ranges plus, in UTF mode, \p escapes. */
interface CharSet {
  ranges: Range[]
  props: string[]
  negated: boolean
}

const MAX_CP = 0x10ffff

function normalise (ranges: Range[]): Range[] {
  const sorted = ranges.slice().sort((a, b) => a[0] - b[0])
  const out: Range[] = []
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && lo <= last[1] + 1) {
      last[1] = Math.max(last[1], hi)
    } else {
      out.push([lo, hi])
    }
  }
  return out
}

function complement (ranges: Range[], max: number): Range[] {
  const out: Range[] = []
  let next = 0
  for (const [lo, hi] of normalise(ranges)) {
    if (lo > next) out.push([next, lo - 1])
    next = hi + 1
  }
  if (next <= max) out.push([next, max])
  return out
}

function rangesOf (spec: string): Range[] {
  const out: Range[] = []
  for (let i = 0; i < spec.length; i++) {
    const lo = spec.charCodeAt(i)
    if (spec[i + 1] === '-' && i + 2 < spec.length) {
      out.push([lo, spec.charCodeAt(i + 2)])
      i += 2
    } else {
      out.push([lo, lo])
    }
  }
  return out
}

// PCRE2's default (C locale) tables, which PHP uses.
const ASCII: Record<string, Range[]> = {
  d: rangesOf('0-9'),
  w: rangesOf('0-9A-Z_a-z'),
  s: rangesOf('\t-\r '),
  alpha: rangesOf('A-Za-z'),
  digit: rangesOf('0-9'),
  alnum: rangesOf('0-9A-Za-z'),
  upper: rangesOf('A-Z'),
  lower: rangesOf('a-z'),
  space: rangesOf('\t-\r '),
  blank: rangesOf('\t '),
  cntrl: [[0, 0x1f], [0x7f, 0x7f]],
  graph: [[0x21, 0x7e]],
  print: [[0x20, 0x7e]],
  punct: rangesOf('!-/:-@[-`{-~'),
  xdigit: rangesOf('0-9A-Fa-f'),
  word: rangesOf('0-9A-Z_a-z'),
  ascii: [[0, 0x7f]]
}
const H_BYTES: Range[] = [[9, 9], [0x20, 0x20], [0xa0, 0xa0]]
const H_UTF: Range[] = [...H_BYTES, [0x1680, 0x1680], [0x180e, 0x180e], [0x2000, 0x200a],
  [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000]]
const V_BYTES: Range[] = [[0x0a, 0x0d], [0x85, 0x85]]
const V_UTF: Range[] = [...V_BYTES, [0x2028, 0x2029]]

const GENERAL_CATEGORIES = new Set(['C', 'Cc', 'Cf', 'Cn', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt',
  'Lu', 'M', 'Mc', 'Me', 'Mn', 'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po',
  'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs'])

/**
 * The JavaScript spelling of a PCRE2 property name, or null. Script names
 * match script extensions, as in PCRE2 10.40 and later.
 */
function jsProperty (name: string): string | null {
  if (name === 'Any') return 'Any'
  if (name === 'L&' || name === 'LC') return 'LC'
  // PCRE2 10.40 and later read category names without regard to case.
  const category = [...GENERAL_CATEGORIES].find((known) => known.toLowerCase() === name.toLowerCase())
  if (category !== undefined) return category
  if (!/^[A-Z][A-Za-z_]*$/.test(name)) return null
  try {
    // eslint-disable-next-line no-new
    new RegExp(`\\p{Script_Extensions=${name}}`, 'u')
    return `Script_Extensions=${name}`
  } catch {
    return null
  }
}

/** The bytes 0..255 (read as Latin-1 code points, as PCRE2 does) having a property. */
function propertyBytes (js: string, negated: boolean): Range[] {
  const test = new RegExp(`^\\p{${js}}$`, 'u')
  const out: Range[] = []
  for (let c = 0; c < 256; c++) {
    if (test.test(String.fromCharCode(c)) !== negated) out.push([c, c])
  }
  return normalise(out)
}

function foldAscii (ranges: Range[]): Range[] {
  const out = ranges.slice()
  for (const [lo, hi] of ranges) {
    const upLo = Math.max(lo, 0x41)
    const upHi = Math.min(hi, 0x5a)
    if (upLo <= upHi) out.push([upLo + 32, upHi + 32])
    const lowLo = Math.max(lo, 0x61)
    const lowHi = Math.min(hi, 0x7a)
    if (lowLo <= lowHi) out.push([lowLo - 32, lowHi - 32])
  }
  return normalise(out)
}

/* ------------------------------------------------------------------- ast */

type Node =
  | { t: 'seq', items: Node[] }
  | { t: 'alt', branches: Node[] }
  | { t: 'set', set: CharSet }
  | { t: 'group', kind: GroupKind, num: number, body: Node }
  | { t: 'quant', body: Node, min: number, max: number, mode: 'greedy' | 'lazy' | 'possessive' }
  | { t: 'assert', kind: AssertKind }
  | { t: 'backref', num: number, name: string | null, caseless: boolean }
  | { t: 'cond', test: Node & { t: 'group' }, yes: Node, no: Node }
  | { t: 'raw', js: string, width: number | null }

type GroupKind = 'capture' | 'plain' | 'atomic' | 'ahead' | 'notAhead' | 'behind' | 'notBehind'
type AssertKind = 'start' | 'end' | 'endOrNewline' | 'lineStart' | 'lineEnd' | 'word' | 'notWord'

const EMPTY: Node = { t: 'seq', items: [] }

interface Flags {
  i: boolean
  m: boolean
  s: boolean
  x: boolean
  xx: boolean
  U: boolean
  n: boolean
}

export interface Translation {
  /** JavaScript source; capture groups numbered from `groupBase + 1`. */
  source: string
  /** '' (bytes), 'u' or 'iu' (UTF mode). */
  flags: string
  /** True when the pattern reads UTF-8 characters instead of bytes. */
  utf: boolean
  /** Capture groups the source uses. */
  groups: number
  /** Why the pattern is open to catastrophic backtracking, or null. */
  unsafe: string | null
  /**
   * The pattern reads nothing but ASCII (see `readsOnlyAscii`): testing it on
   * a subject's characters decides as testing it on their UTF-8 bytes.
   */
  asciiOnly: boolean
  /** Every match contains a literal '?' (it can only match a query string). */
  needsQuery: boolean
  /** Every match starts at the subject's start with a character other than '/' or '*'. */
  anchoredBeforePath: boolean
}

const MODIFIERS = 'imsxADSUXJun'

/** Translates the body and modifiers of a PHP regex. */
export function translate (body: string, modifiers: string, groupBase = 0): Translation {
  const flags: Flags = { i: false, m: false, s: false, x: false, xx: false, U: false, n: false }
  const opts = { dollarEndOnly: false, anchored: false, dupNames: false, utf: false, ucp: false }
  for (const c of modifiers) {
    if (c === ' ' || c === '\n' || c === '\r' || c === 'S' || c === 'X') continue
    if (!MODIFIERS.includes(c)) throw invalid(`unknown modifier '${c}'`)
    if (c === 'A') opts.anchored = true
    else if (c === 'D') opts.dollarEndOnly = true
    else if (c === 'J') opts.dupNames = true
    else if (c === 'u') opts.utf = opts.ucp = true
    else flags[c as 'i' | 'm' | 's' | 'x' | 'U' | 'n'] = true
  }
  const parser = new Parser(body, flags, opts)
  const tree = parser.parse()
  checkBackrefs(tree, parser.referenced)
  const emitter = new Emitter(parser, groupBase)
  let source = emitter.emit(tree)
  if (opts.anchored) source = `^(?:${source})`
  if (source === '') source = '(?:)'
  const caseless = parser.caseless.has(true)
  return {
    source,
    flags: parser.utf ? (caseless ? 'iu' : 'u') : '',
    utf: parser.utf,
    groups: emitter.groups,
    unsafe: backtrackingRisk(tree),
    asciiOnly: !parser.utf && readsOnlyAscii(tree),
    needsQuery: requires(tree, 0x3f),
    anchoredBeforePath: opts.anchored ? startsOutsidePath(tree) : anchoredOutsidePath(tree)
  }
}

/* ---------------------------------------------------------------- parser */

const START_VERBS_IGNORED = /^(?:LIMIT_(?:MATCH|DEPTH|HEAP|RECURSION)=\d+|NO_AUTO_POSSESS|NO_DOTSTAR_ANCHOR|NO_JIT|NO_START_OPT|LF)$/
const EXTENDED_SPACE = new Set([9, 10, 11, 12, 13, 32, 0x85])
const EXTENDED_SPACE_UTF = new Set([...EXTENDED_SPACE, 0x200e, 0x200f, 0x2028, 0x2029])

function isDigit (c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39
}

class Parser {
  cps: number[] = []
  pos = 0
  groupCount = 0
  utf: boolean
  ucp: boolean
  readonly caseless = new Set<boolean>()
  readonly names = new Map<string, number[]>()
  readonly refs: Array<Node & { t: 'backref' }> = []
  readonly groups = new Map<number, Node & { t: 'group' }>()
  readonly ambiguous = new Set<number>()
  readonly referenced = new Set<number>()
  private readonly body: string
  private readonly flags: Flags
  private readonly opts: { dollarEndOnly: boolean, anchored: boolean, dupNames: boolean }

  constructor (body: string, flags: Flags, opts: { dollarEndOnly: boolean, anchored: boolean, dupNames: boolean, utf: boolean, ucp: boolean }) {
    this.body = body
    this.flags = flags
    this.opts = opts
    this.utf = opts.utf
    this.ucp = opts.ucp
  }

  parse (): Node {
    let text = this.body
    for (let verb = /^\(\*([A-Z_]+(?:=\d+)?)\)/.exec(text); verb !== null; verb = /^\(\*([A-Z_]+(?:=\d+)?)\)/.exec(text)) {
      const name = verb[1] as string
      if (name === 'UTF') this.utf = true
      else if (name === 'UCP') this.ucp = true
      else if (!START_VERBS_IGNORED.test(name)) break
      text = text.slice(verb[0].length)
    }
    if (this.ucp && !this.utf) throw unsupported('(*UCP) without UTF-8 mode')
    if (this.utf) {
      if (/\p{Cs}/u.test(text)) throw invalid('UTF-8 error in the pattern')
      this.cps = Array.from(text, (c) => c.codePointAt(0) as number)
    } else {
      this.cps = Array.from(toByteString(text), (c) => c.charCodeAt(0))
    }

    const tree = this.parseAlt({ ...this.flags })
    if (this.pos < this.cps.length) throw invalid('unmatched closing parenthesis')
    this.resolveRefs()
    return tree
  }

  private peek (offset = 0): number | undefined {
    return this.cps[this.pos + offset]
  }

  private lookingAt (text: string): boolean {
    for (let i = 0; i < text.length; i++) {
      if (this.cps[this.pos + i] !== text.charCodeAt(i)) return false
    }
    return true
  }

  private skipExtended (flags: Flags): void {
    if (!flags.x) return
    const space = this.utf ? EXTENDED_SPACE_UTF : EXTENDED_SPACE
    for (;;) {
      const c = this.peek()
      if (c !== undefined && space.has(c)) {
        this.pos++
      } else if (c === 0x23) {
        while (this.pos < this.cps.length && this.peek() !== 0x0a) this.pos++
      } else {
        return
      }
    }
  }

  private parseAlt (flags: Flags, onBranch?: () => void): Node {
    const branches: Node[] = []
    for (;;) {
      onBranch?.()
      branches.push(this.parseSeq(flags))
      if (this.peek() !== 0x7c) break
      this.pos++
    }
    return branches.length === 1 ? branches[0] as Node : { t: 'alt', branches }
  }

  private parseSeq (flags: Flags): Node {
    const items: Node[] = []
    for (;;) {
      this.skipExtended(flags)
      const c = this.peek()
      if (c === undefined || c === 0x7c || c === 0x29) break
      if (c === 0x5c && this.peek(1) === 0x51) {
        this.pos += 2
        const quoted = this.readQuoted()
        if (quoted.length === 0) continue
        for (const q of quoted.slice(0, -1)) items.push(this.literal(q, flags))
        items.push(this.quantified(this.literal(quoted[quoted.length - 1] as number, flags), flags))
        continue
      }
      const atom = this.parseAtom(flags)
      if (atom !== null) items.push(this.quantified(atom, flags))
    }
    return items.length === 1 ? items[0] as Node : { t: 'seq', items }
  }

  private readQuoted (): number[] {
    const out: number[] = []
    while (this.pos < this.cps.length) {
      if (this.lookingAt('\\E')) {
        this.pos += 2
        return out
      }
      out.push(this.cps[this.pos++] as number)
    }
    return out
  }

  private quantifierAt (): { min: number, max: number, length: number } | null {
    const c = this.peek()
    if (c === 0x2a) return { min: 0, max: Infinity, length: 1 }
    if (c === 0x2b) return { min: 1, max: Infinity, length: 1 }
    if (c === 0x3f) return { min: 0, max: 1, length: 1 }
    if (c !== 0x7b) return null
    const rest = String.fromCharCode(...this.cps.slice(this.pos, this.pos + 16))
    const m = /^\{(\d+)(,(\d*))?\}/.exec(rest)
    if (m === null) return null
    const min = Number(m[1])
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
    if (min > 65535 || (max !== Infinity && max > 65535)) throw invalid('number too big in {} quantifier')
    if (max < min) throw invalid('numbers out of order in {} quantifier')
    return { min, max, length: m[0].length }
  }

  private quantified (atom: Node, flags: Flags): Node {
    this.skipExtended(flags)
    const q = this.quantifierAt()
    if (q === null) return atom
    if (atom.t === 'assert') throw invalid('quantifier does not follow a repeatable item')
    if (atom.t === 'group' && atom.kind !== 'capture' && atom.kind !== 'plain' && atom.kind !== 'atomic') {
      throw unsupported('a quantifier on a lookaround assertion')
    }
    this.pos += q.length
    let mode: 'greedy' | 'lazy' | 'possessive' = flags.U ? 'lazy' : 'greedy'
    if (this.peek() === 0x3f) {
      mode = flags.U ? 'greedy' : 'lazy'
      this.pos++
    } else if (this.peek() === 0x2b) {
      mode = 'possessive'
      this.pos++
    }
    this.skipExtended(flags)
    if (this.quantifierAt() !== null) throw invalid('quantifier does not follow a repeatable item')
    return { t: 'quant', body: atom, min: q.min, max: q.max, mode }
  }

  private literal (c: number, flags: Flags): Node {
    this.noteCase(flags)
    return { t: 'set', set: this.charSet([[c, c]], flags) }
  }

  /** UTF-8 patterns rely on JavaScript's `i` flag, which cannot change midway. */
  private noteCase (flags: Flags): void {
    this.caseless.add(flags.i)
    if (this.caseless.size > 1 && this.utf) {
      throw unsupported('case sensitivity changing inside a UTF-8 pattern')
    }
  }

  private charSet (ranges: Range[], flags: Flags, negated = false): CharSet {
    const folded = flags.i && !this.utf ? foldAscii(ranges) : normalise(ranges)
    return { ranges: negated ? complement(folded, this.utf ? MAX_CP : 0xff) : folded, props: [], negated: false }
  }

  private parseAtom (flags: Flags): Node | null {
    const c = this.cps[this.pos] as number
    switch (c) {
      case 0x28: return this.parseGroup(flags)
      case 0x5b: return this.parseClass(flags)
      case 0x2e:
        this.pos++
        return { t: 'set', set: this.charSet(flags.s ? [[0, MAX_CP]] : [[0x0a, 0x0a]], { ...flags, i: false }, !flags.s) }
      case 0x5e:
        this.pos++
        return { t: 'assert', kind: flags.m ? 'lineStart' : 'start' }
      case 0x24:
        this.pos++
        return { t: 'assert', kind: flags.m ? 'lineEnd' : this.opts.dollarEndOnly ? 'end' : 'endOrNewline' }
      case 0x5c: return this.parseEscape(flags)
      case 0x2a: case 0x2b: case 0x3f:
        throw invalid('quantifier does not follow a repeatable item')
      case 0x7b:
        if (this.quantifierAt() !== null) throw invalid('quantifier does not follow a repeatable item')
    }
    this.pos++
    return this.literal(c, flags)
  }

  private parseGroup (flags: Flags): Node | null {
    const open = this.pos
    this.pos++
    if (this.peek() === 0x2a) {
      const verb = /^\(\*([A-Za-z_:]*)[^)]*\)/.exec(String.fromCodePoint(...this.cps.slice(open, open + 40)))
      const name = verb?.[1] ?? ''
      if (name === 'FAIL' || name === 'F') {
        this.pos = open + (verb as RegExpExecArray)[0].length
        return { t: 'raw', js: '(?!)', width: 0 }
      }
      if (name === '') throw invalid('quantifier does not follow a repeatable item')
      throw unsupported(`the backtracking control verb (*${name})`)
    }
    let kind: GroupKind = flags.n ? 'plain' : 'capture'
    let name: string | null = null
    let inner = flags
    let branchReset = false
    if (this.peek() === 0x3f) {
      this.pos++
      const rest = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 40))
      const named = /^(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')/.exec(rest)
      if (rest.startsWith('#')) {
        while (this.pos < this.cps.length && this.peek() !== 0x29) this.pos++
        if (this.pos >= this.cps.length) throw invalid('missing ) after (?# comment')
        this.pos++
        return null
      } else if (rest.startsWith(':')) {
        kind = 'plain'
        this.pos++
      } else if (rest.startsWith('|')) {
        kind = 'plain'
        branchReset = true
        this.pos++
      } else if (rest.startsWith('>')) {
        kind = 'atomic'
        this.pos++
      } else if (rest.startsWith('=') || rest.startsWith('!')) {
        kind = rest.startsWith('=') ? 'ahead' : 'notAhead'
        this.pos++
      } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
        kind = rest.startsWith('<=') ? 'behind' : 'notBehind'
        this.pos += 2
      } else if (named !== null) {
        kind = 'capture'
        name = (named[1] ?? named[2]) as string
        this.pos += named[0].length
      } else if (rest.startsWith('P=')) {
        const ref = /^P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest)
        if (ref === null) throw invalid('syntax error in subpattern name')
        this.pos += ref[0].length
        return this.backref(0, ref[1] as string, flags)
      } else if (rest.startsWith('(')) {
        return this.parseConditional(flags)
      } else if (/^(?:R|[+-]?\d|&|P>)/.test(rest)) {
        throw unsupported('recursion or a subroutine call')
      } else {
        const set = /^(\^)?([imnsxUJ]*)(?:-([imnsxUJ]*))?([:)])/.exec(rest)
        if (set === null) throw invalid(`unrecognized character after (? near "${rest.slice(0, 10)}"`)
        this.pos += set[0].length
        inner = this.applyFlags(flags, set)
        if (set[4] === ')') {
          Object.assign(flags, inner)
          return null
        }
        kind = 'plain'
      }
    }

    const num = kind === 'capture' ? ++this.groupCount : 0
    if (name !== null) this.nameGroup(name, num)
    const base = this.groupCount
    let highest = base
    const body = this.parseAlt({ ...inner }, branchReset
      ? () => {
          highest = Math.max(highest, this.groupCount)
          this.groupCount = base
        }
      : undefined)
    if (branchReset) {
      highest = Math.max(highest, this.groupCount)
      for (let g = base + 1; g <= highest; g++) this.ambiguous.add(g)
      this.groupCount = highest
    }
    if (this.peek() !== 0x29) throw invalid('missing closing parenthesis')
    this.pos++
    if (kind === 'behind' || kind === 'notBehind') checkLookbehind(body)
    const group = { t: 'group' as const, kind, num, body }
    if (num > 0) this.groups.set(num, group)
    return group
  }

  private applyFlags (flags: Flags, set: RegExpExecArray): Flags {
    const next = { ...flags }
    if (set[1] !== undefined) {
      if (set[3] !== undefined) throw invalid('(?^ cannot be combined with -')
      Object.assign(next, { i: false, m: false, n: false, s: false, x: false, xx: false })
    }
    for (const [letters, on] of [[set[2] as string, true], [set[3] ?? '', false]] as const) {
      for (const letter of letters) {
        if (letter === 'J') this.opts.dupNames = on
        else next[letter as 'i' | 'm' | 'n' | 's' | 'x' | 'U'] = on
      }
      if (letters.includes('xx')) next.xx = on
    }
    return next
  }

  private nameGroup (name: string, num: number): void {
    const nums = this.names.get(name)
    if (nums === undefined) {
      this.names.set(name, [num])
      return
    }
    if (!this.opts.dupNames) throw invalid(`two named subpatterns have the same name "${name}"`)
    nums.push(num)
  }

  private parseConditional (flags: Flags): Node {
    if (!['(?=', '(?!', '(?<=', '(?<!'].some((opening) => this.lookingAt(opening))) {
      throw unsupported('a conditional group tested on a capture group, recursion or DEFINE')
    }
    const test = this.parseGroup(flags) as Node & { t: 'group' }
    const body = this.parseAlt({ ...flags })
    if (this.peek() !== 0x29) throw invalid('missing closing parenthesis')
    this.pos++
    const branches = body.t === 'alt' ? body.branches : [body]
    if (branches.length > 2) throw invalid('conditional subpattern contains more than two branches')
    return { t: 'cond', test, yes: branches[0] as Node, no: branches[1] ?? EMPTY }
  }

  private backref (num: number, name: string | null, flags: Flags): Node {
    if (flags.i) throw unsupported('a backreference under case-insensitive matching')
    const node = { t: 'backref' as const, num, name, caseless: flags.i }
    this.refs.push(node)
    return node
  }

  private resolveRefs (): void {
    for (const ref of this.refs) {
      if (ref.name !== null) {
        const nums = this.names.get(ref.name)
        if (nums === undefined) throw invalid(`reference to non-existent subpattern "${ref.name}"`)
        if (nums.length > 1) throw unsupported(`a backreference to the duplicated name "${ref.name}"`)
        ref.num = nums[0] as number
      }
      if (ref.num > this.groupCount) throw invalid('reference to non-existent subpattern')
      if (this.ambiguous.has(ref.num)) throw unsupported('a backreference into a branch reset group (?|')
      this.referenced.add(ref.num)
    }
  }

  private parseEscape (flags: Flags): Node | null {
    const c = this.peek(1)
    if (c === undefined) throw invalid('\\ at end of pattern')
    const ch = String.fromCodePoint(c)
    switch (ch) {
      case 'A': case 'G': case 'z': case 'Z': case 'b': case 'B': case 'K': case 'E': case 'R':
      case 'X': case 'C': case 'N': case 'g': case 'k':
        this.pos += 2
        return this.specialEscape(ch, flags)
    }
    if (c >= 0x31 && c <= 0x39) {
      this.pos += 2
      if (isDigit(this.peek())) throw unsupported('a multi-digit backreference or octal escape')
      return this.backref(c - 0x30, null, flags)
    }
    const member = this.classEscape(flags, false)
    return typeof member === 'number' ? this.literal(member, flags) : { t: 'set', set: member }
  }

  private specialEscape (ch: string, flags: Flags): Node | null {
    switch (ch) {
      case 'A': case 'G': return { t: 'assert', kind: 'start' }
      case 'z': return { t: 'assert', kind: 'end' }
      case 'Z': return { t: 'assert', kind: 'endOrNewline' }
      case 'b': case 'B':
        if (this.ucp || (flags.i && this.utf)) throw unsupported(`\\${ch} in UTF-8 mode`)
        return { t: 'assert', kind: ch === 'b' ? 'word' : 'notWord' }
      // \K only moves the start of the reported match; the decision is the same.
      case 'K': case 'E': return null
      case 'R': {
        const extra = this.utf ? '\\u2028\\u2029' : ''
        return { t: 'raw', js: `(?:\\r\\n|\\r(?!\\n)|[\\n\\x0b\\f\\x85${extra}])`, width: null }
      }
      case 'X': throw unsupported('\\X (extended grapheme cluster)')
      case 'C':
        if (this.utf) throw unsupported('\\C in UTF-8 mode')
        return { t: 'set', set: this.charSet([[0, 0xff]], { ...flags, i: false }) }
      case 'N':
        if (this.peek() === 0x7b) throw unsupported('\\N{...}')
        return { t: 'set', set: this.charSet([[0x0a, 0x0a]], { ...flags, i: false }, true) }
      default: return this.parseNamedRef(ch as 'g' | 'k', flags)
    }
  }

  private parseNamedRef (kind: 'g' | 'k', flags: Flags): Node {
    const rest = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 40))
    const m = kind === 'k'
      ? /^(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|\{([A-Za-z_]\w*)\})/.exec(rest)
      : /^(?:(\d+)|\{(-?\d+)\}|\{([A-Za-z_]\w*)\}|(-\d+)|<[^>]*>|'[^']*')/.exec(rest)
    if (m === null) throw invalid(`\\${kind} is not followed by a name or number`)
    if (kind === 'g' && (m[0].startsWith('<') || m[0].startsWith("'"))) {
      throw unsupported('a subroutine call (\\g<...>)')
    }
    this.pos += m[0].length
    const value = (m[1] ?? m[2] ?? m[3] ?? m[4]) as string
    if (kind === 'g' && /^-?\d+$/.test(value)) {
      const n = Number(value)
      const num = n < 0 ? this.groupCount + 1 + n : n
      if (num <= 0) throw invalid('reference to non-existent subpattern')
      return this.backref(num, null, flags)
    }
    return this.backref(0, value, flags)
  }

  /**
   * An escape standing for one character (its code point) or a set, read the
   * same way inside and outside a class.
   */
  private classEscape (flags: Flags, inClass: boolean): number | CharSet {
    this.pos++
    const c = this.cps[this.pos++] as number
    const ch = String.fromCodePoint(c)
    const noCase = { ...flags, i: false }
    switch (ch) {
      case 'a': return 7
      case 'e': return 0x1b
      case 'f': return 0x0c
      case 'n': return 0x0a
      case 'r': return 0x0d
      case 't': return 0x09
      case 'b': return 0x08
      case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        if (this.ucp) throw unsupported(`\\${ch} in UTF-8 (u) mode`)
        if (this.utf && flags.i && /[wW]/.test(ch)) throw unsupported(`\\${ch} under case-insensitive UTF-8 matching`)
        return this.charSet(ASCII[ch.toLowerCase()] as Range[], noCase, ch !== ch.toLowerCase())
      case 'h': case 'H':
        return this.charSet(this.utf ? H_UTF : H_BYTES, noCase, ch === 'H')
      case 'v': case 'V':
        return this.charSet(this.utf ? V_UTF : V_BYTES, noCase, ch === 'V')
      case 'p': case 'P': return this.property(ch === 'P', flags)
      case 'x': return this.readHex()
      case 'o': return this.readBraced(/^\{([0-7]+)\}/, 8, '\\o')
      case 'c': {
        const next = this.cps[this.pos++]
        if (next === undefined || next > 0x7e || next < 0x20) {
          throw invalid('\\c must be followed by a printable ASCII character')
        }
        return (next >= 0x61 && next <= 0x7a ? next - 32 : next) ^ 0x40
      }
    }
    if (c >= 0x30 && c <= 0x37 && (c === 0x30 || inClass)) {
      let value = c - 0x30
      for (let n = 0; n < 2 && /[0-7]/.test(String.fromCharCode(this.peek() ?? 0)); n++) {
        value = value * 8 + (this.cps[this.pos++] as number) - 0x30
      }
      return value
    }
    if (inClass && (c === 0x38 || c === 0x39)) return c
    if (/[A-Za-z0-9]/.test(ch)) {
      if (inClass && /[BNRX]/.test(ch)) throw invalid(`escape sequence \\${ch} is invalid in a character class`)
      throw invalid(`unrecognized character follows \\ (\\${ch})`)
    }
    return c
  }

  private readHex (): number {
    if (this.peek() === 0x7b) return this.readBraced(/^\{([0-9A-Fa-f]+)\}/, 16, '\\x')
    let value = 0
    for (let n = 0; n < 2 && /[0-9A-Fa-f]/.test(String.fromCharCode(this.peek() ?? 0)); n++) {
      value = value * 16 + parseInt(String.fromCharCode(this.cps[this.pos++] as number), 16)
    }
    return value
  }

  private readBraced (shape: RegExp, radix: number, what: string): number {
    const m = shape.exec(String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 12)))
    if (m === null) throw invalid(`${what}{ is not followed by a valid number and }`)
    this.pos += m[0].length
    const value = parseInt(m[1] as string, radix)
    if (value > (this.utf ? MAX_CP : 0xff)) {
      throw invalid(`character code point value in ${what}{} is too large`)
    }
    if (value >= 0xd800 && value <= 0xdfff) throw invalid('surrogates are not allowed in UTF-8 mode')
    return value
  }

  private property (negated: boolean, flags: Flags): CharSet {
    let name: string
    let caret = false
    if (this.peek() === 0x7b) {
      const m = /^\{(\^?)([^}]*)\}/.exec(String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 40)))
      if (m === null) throw invalid('malformed \\p or \\P sequence')
      this.pos += m[0].length
      caret = m[1] === '^'
      name = m[2] as string
    } else {
      const next = this.cps[this.pos++]
      name = next === undefined ? '' : String.fromCodePoint(next)
      // Without braces PCRE2 reads one letter, a general category.
      if (!/^[CLMNPSZ]$/.test(name)) throw invalid('unknown property name after \\P or \\p')
    }
    const js = jsProperty(name)
    if (js === null) throw unsupported(`the Unicode property \\p{${name}}`)
    if (this.utf && flags.i) throw unsupported('\\p under case-insensitive UTF-8 matching')
    const not = negated !== caret
    if (!this.utf) return { ranges: propertyBytes(js, not), props: [], negated: false }
    return { ranges: [], props: [`\\${not ? 'P' : 'p'}{${js}}`], negated: false }
  }

  private parseClass (flags: Flags): Node {
    const head = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 20))
    if (/^\[([:.=])\^?[A-Za-z]*\1\]/.test(head)) {
      throw invalid('POSIX named classes are supported only within a class')
    }
    this.pos++
    let negated = false
    if (this.peek() === 0x5e) {
      negated = true
      this.pos++
    }
    // Literal members fold under (?i); escapes such as \p keep their meaning.
    const literal: Range[] = []
    const fixed: Range[] = []
    const props: string[] = []
    let pending: number | null = null
    let afterSet = false
    for (let first = true; ; first = false) {
      const c = this.peek()
      if (c === undefined) throw invalid('missing terminating ] for character class')
      if (c === 0x5d && !first) break
      if (flags.xx && (c === 0x20 || c === 0x09)) {
        this.pos++
        continue
      }
      const next = this.peek(1)
      if (c === 0x2d && next !== 0x5d && next !== undefined && (pending !== null || afterSet)) {
        this.pos++
        const end = this.classMember(flags, fixed, props)
        if (end === null || pending === null) throw invalid('invalid range in character class')
        if (end < pending) throw invalid('range out of order in character class')
        literal.push([pending, end])
        pending = null
        continue
      }
      if (pending !== null) literal.push([pending, pending])
      pending = null
      afterSet = false
      const posix = /^\[([:.=])(\^?)([A-Za-z]*)\1\]/.exec(String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 20)))
      if (posix !== null) {
        if (posix[1] !== ':') throw unsupported('POSIX collating elements')
        if (this.ucp) throw unsupported('POSIX classes in UTF-8 (u) mode')
        const set = ASCII[posix[3] as string]
        if (set === undefined) throw invalid(`unknown POSIX class name "${posix[3]}"`)
        this.pos += posix[0].length
        literal.push(...(posix[2] === '^' ? complement(set, this.utf ? MAX_CP : 0xff) : set))
        afterSet = true
      } else if (c === 0x5c && next === 0x51) {
        this.pos += 2
        for (const q of this.readQuoted()) literal.push([q, q])
      } else if (c === 0x5c && next === 0x45) {
        this.pos += 2
      } else {
        pending = this.classMember(flags, fixed, props)
        afterSet = pending === null
      }
    }
    this.pos++
    if (pending !== null) literal.push([pending, pending])
    return { t: 'set', set: this.finishClass(literal, fixed, props, negated, flags) }
  }

  /** Reads one class member: its code point, or null when it was a set (already added). */
  private classMember (flags: Flags, fixed: Range[], props: string[]): number | null {
    const c = this.cps[this.pos] as number
    if (c !== 0x5c) {
      this.pos++
      return c
    }
    if (this.peek(1) === 0x51) throw unsupported('\\Q...\\E as the end of a range')
    const member = this.classEscape(flags, true)
    if (typeof member === 'number') return member
    fixed.push(...member.ranges)
    props.push(...member.props)
    return null
  }

  private finishClass (literal: Range[], fixed: Range[], props: string[], negated: boolean, flags: Flags): CharSet {
    this.noteCase(flags)
    if (this.utf) return { ranges: normalise([...literal, ...fixed]), props, negated }
    const folded = flags.i ? foldAscii(literal) : literal
    const ranges = normalise([...folded, ...fixed])
    return { ranges: negated ? complement(ranges, 0xff) : ranges, props: [], negated: false }
  }
}

/* ------------------------------------------------------------- lookbehind */

function fixedWidth (node: Node): number | null {
  switch (node.t) {
    case 'set': return 1
    case 'seq': {
      let total = 0
      for (const item of node.items) {
        const width = fixedWidth(item)
        if (width === null) return null
        total += width
      }
      return total
    }
    case 'alt': {
      const widths = node.branches.map(fixedWidth)
      return widths.every((w) => w !== null && w === widths[0]) ? widths[0] as number : null
    }
    case 'group': return node.kind === 'capture' || node.kind === 'plain' || node.kind === 'atomic' ? fixedWidth(node.body) : 0
    case 'quant': {
      const width = fixedWidth(node.body)
      return width !== null && node.min === node.max ? width * node.min : null
    }
    case 'assert': return 0
    case 'raw': return node.width
    default: return null
  }
}

function checkLookbehind (body: Node): void {
  const branches = body.t === 'alt' ? body.branches : [body]
  for (const branch of branches) {
    if (fixedWidth(branch) === null) throw invalid('lookbehind assertion is not fixed length')
  }
}

/* --------------------------------------------------------------- emitter */

const LOOKAROUND: Partial<Record<GroupKind, string>> = { ahead: '?=', notAhead: '?!', behind: '?<=', notBehind: '?<!' }
const OPPOSITE: Partial<Record<GroupKind, GroupKind>> = { ahead: 'notAhead', notAhead: 'ahead', behind: 'notBehind', notBehind: 'behind' }
const ASSERTIONS: Record<AssertKind, string> = {
  start: '^',
  end: '$',
  endOrNewline: '(?=\\n?$)',
  // PCRE's multiline ^ does not match after a newline that ends the subject.
  lineStart: '(?:^|(?<=\\n)(?!$))',
  lineEnd: '(?=\\n|$)',
  word: '\\b',
  notWord: '\\B'
}

function hex (code: number, utf: boolean): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`
  return utf && code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`
}

function char (code: number, utf: boolean): string {
  return /[A-Za-z0-9_]/.test(String.fromCharCode(code)) && code < 0x80 ? String.fromCharCode(code) : hex(code, utf)
}

function emitSet (set: CharSet, utf: boolean): string {
  const only = set.ranges[0]
  if (!set.negated && set.props.length === 0 && set.ranges.length === 1 && only !== undefined && only[0] === only[1]) {
    return char(only[0], utf)
  }
  const body = set.ranges.map(([lo, hi]) => lo === hi ? char(lo, utf) : `${char(lo, utf)}-${char(hi, utf)}`)
  return `[${set.negated ? '^' : ''}${body.join('')}${set.props.join('')}]`
}

class Emitter {
  groups = 0
  private readonly numbers = new Map<number, number>()
  private readonly parser: Parser
  private readonly base: number

  constructor (parser: Parser, base: number) {
    this.parser = parser
    this.base = base
  }

  emit (node: Node): string {
    switch (node.t) {
      case 'seq': return node.items.map((item) => this.emit(item)).join('')
      // An alternation is always the body of a group or the whole pattern, delimited there.
      case 'alt': return node.branches.map((branch) => this.emit(branch)).join('|')
      case 'set': return emitSet(node.set, this.parser.utf)
      case 'group': return this.emitGroup(node)
      case 'quant': return this.emitQuant(node)
      case 'assert': return ASSERTIONS[node.kind]
      case 'backref': return `(?:\\${this.numbers.get(node.num) as number})`
      case 'cond': {
        const test = this.emit(node.test)
        const opposite = this.emit({ ...node.test, kind: OPPOSITE[node.test.kind] as GroupKind })
        return `(?:${test}${this.emit(node.yes)}|${opposite}${this.emit(node.no)})`
      }
      case 'raw': return node.js
    }
  }

  private emitGroup (node: Node & { t: 'group' }): string {
    const look = LOOKAROUND[node.kind]
    if (look !== undefined) return `(${look}${this.emit(node.body)})`
    if (node.kind === 'atomic') return this.atomic(() => this.emit(node.body))
    if (node.kind === 'capture' && this.parser.referenced.has(node.num)) {
      this.numbers.set(node.num, this.base + ++this.groups)
      return `(${this.emit(node.body)})`
    }
    return `(?:${this.emit(node.body)})`
  }

  /** JavaScript has no atomic group; a capture inside a lookahead, matched again, is one. */
  private atomic (body: () => string): string {
    const n = this.base + ++this.groups
    return `(?:(?=(${body()}))\\${n})`
  }

  private emitQuant (node: Node & { t: 'quant' }): string {
    const { min, max } = node
    const count = min === 0 && max === Infinity
      ? '*'
      : min === 1 && max === Infinity
        ? '+'
        : min === 0 && max === 1 ? '?' : max === Infinity ? `{${min},}` : min === max ? `{${min}}` : `{${min},${max}}`
    if (node.mode === 'possessive') return this.atomic(() => `${this.emit(node.body)}${count}`)
    return `${this.emit(node.body)}${count}${node.mode === 'lazy' ? '?' : ''}`
  }
}

/** Backreferences JavaScript reads differently: to a group that may be unset or repeated. */
function checkBackrefs (tree: Node, referenced: Set<number>): void {
  const groupPaths = new Map<number, Node[]>()
  const refPaths: Array<{ num: number, path: Node[] }> = []
  const walk = (node: Node, path: Node[]): void => {
    const here = [...path, node]
    if (node.t === 'group' && referenced.has(node.num)) groupPaths.set(node.num, here)
    if (node.t === 'backref') refPaths.push({ num: node.num, path: here })
    for (const child of children(node)) walk(child, here)
  }
  walk(tree, [])
  for (const { num, path } of refPaths) {
    const groupPath = groupPaths.get(num) as Node[]
    let k = 0
    while (groupPath[k + 1] !== undefined && groupPath[k + 1] === path[k + 1]) k++
    const common = groupPath[k] as Node
    const certain = common.t === 'seq' &&
      common.items.indexOf(groupPath[k + 1] as Node) < common.items.indexOf(path[k + 1] as Node) &&
      groupPath.slice(k + 1, -1).every((n) => n.t === 'seq' || (n.t === 'group' &&
        (n.kind === 'capture' || n.kind === 'plain' || n.kind === 'atomic')))
    if (!certain) throw unsupported('a backreference to a group that may be unset or repeated where it is used')
  }
}

function children (node: Node): Node[] {
  switch (node.t) {
    case 'seq': return node.items
    case 'alt': return node.branches
    case 'group': case 'quant': return [node.body]
    case 'cond': return [node.test, node.yes, node.no]
    default: return []
  }
}

/* ----------------------------------------------------------- backtracking */

/** Characters a node may consume, as 256 bytes plus one slot for anything beyond. */
type Approx = Uint8Array

const FULL: Approx = new Uint8Array(257).fill(1)
const NONE: Approx = new Uint8Array(257)

function setApprox (set: CharSet): Approx {
  if (set.negated || set.props.length > 0) return FULL
  const out = new Uint8Array(257)
  for (const [lo, hi] of set.ranges) {
    for (let c = lo; c <= Math.min(hi, 255); c++) out[c] = 1
    if (hi > 255) out[256] = 1
  }
  return out
}

function union (sets: Approx[]): Approx {
  const out = new Uint8Array(257)
  for (const set of sets) for (let c = 0; c < 257; c++) if (set[c] === 1) out[c] = 1
  return out
}

function intersects (a: Approx, b: Approx): boolean {
  for (let c = 0; c < 257; c++) if (a[c] === 1 && b[c] === 1) return true
  return false
}

function consumes (node: Node): boolean {
  return !(node.t === 'assert' || (node.t === 'group' && LOOKAROUND[node.kind] !== undefined))
}

function chars (node: Node): Approx {
  if (node.t === 'set') return setApprox(node.set)
  if (node.t === 'backref') return FULL
  if (node.t === 'raw') return node.width === 0 ? NONE : FULL
  if (!consumes(node)) return NONE
  return union(children(node).map(chars))
}

function nullable (node: Node): boolean {
  switch (node.t) {
    case 'set': return false
    case 'seq': return node.items.every(nullable)
    case 'alt': return node.branches.some(nullable)
    case 'group': return LOOKAROUND[node.kind] !== undefined || nullable(node.body)
    case 'quant': return node.min === 0 || nullable(node.body)
    case 'cond': return nullable(node.yes) || nullable(node.no)
    case 'raw': return node.width === 0
    default: return true
  }
}

function first (node: Node): Approx {
  switch (node.t) {
    case 'seq': {
      const sets: Approx[] = []
      for (const item of node.items) {
        sets.push(first(item))
        if (!nullable(item)) break
      }
      return union(sets)
    }
    case 'alt': return union(node.branches.map(first))
    case 'group': return consumes(node) ? first(node.body) : NONE
    case 'quant': return first(node.body)
    case 'cond': return union([first(node.yes), first(node.no)])
    default: return chars(node)
  }
}

/**
 * A quantifier whose every extra round is a new way to split the text: it
 * repeats without bound, or enough times (3 or more) that nested choices
 * multiply into a polynomial of high degree, `(.*,){8}`.
 */
function repeats (node: Node & { t: 'quant' }): boolean {
  return node.mode !== 'possessive' && node.max >= 3
}

/** A quantifier that chooses how much to take (`?`, `*`, `{1,3}`), and may give it back. */
function chooses (node: Node & { t: 'quant' }): boolean {
  return node.mode !== 'possessive' && node.max > node.min
}

/** Characters of every backtracking choice of length inside a node (atomic groups excluded). */
function innerRepeats (node: Node): Approx[] {
  if (node.t === 'group' && node.kind === 'atomic') return []
  const own = node.t === 'quant' && chooses(node) ? [chars(node.body)] : []
  return [...own, ...children(node).flatMap(innerRepeats)]
}

function strip (node: Node): Node {
  return node.t === 'group' && (node.kind === 'capture' || node.kind === 'plain') ? strip(node.body) : node
}

/** The characters of a long repetition of one set (`\\d+`, `(.*)`), or null for anything else. */
function singleSet (node: Node): Approx | null {
  const stripped = strip(node)
  const body = stripped.t === 'quant' ? strip(stripped.body) : null
  return stripped.t === 'quant' && stripped.mode !== 'possessive' && stripped.max > 16 && body?.t === 'set' ? setApprox(body.set) : null
}

/** A sequence with the sequences inside its plain and capturing groups spelled out. */
function flatten (items: Node[]): Node[] {
  return items.flatMap((item) => {
    const stripped = strip(item)
    return stripped.t === 'seq' ? flatten(stripped.items) : [item]
  })
}

function subset (inner: Approx, outer: Approx): boolean {
  for (let c = 0; c < 257; c++) if (inner[c] === 1 && outer[c] !== 1) return false
  return true
}

function fixedSets (node: Node): Approx[] | null {
  const stripped = strip(node)
  if (stripped.t === 'set') return [setApprox(stripped.set)]
  if (stripped.t !== 'seq') return null
  const sets: Approx[] = []
  for (const item of stripped.items) {
    const inner = fixedSets(item)
    if (inner === null) return null
    sets.push(...inner)
  }
  return sets
}

/** Whether `head` can match the text at the start of what `whole` matches (both fixed). */
function prefixOf (head: Approx[], whole: Approx[]): boolean {
  return head.length <= whole.length && head.every((set, i) => intersects(set, whole[i] as Approx))
}

/**
 * Whether some text splits into rounds of fixed alternatives in two ways
 * (`(a|aa)+`, `(ab|a|ba)+`): the Sardinas-Patterson test, on sequences of
 * character sets, where two positions agree when their sets intersect.
 */
function ambiguousRounds (words: Approx[][]): string | null {
  const twoWays = 'alternatives that can split the same text in more than one way, under a quantifier'
  const seen = new Set<string>()
  const key = (rest: Approx[]): string => rest.map((set) => set.join('')).join('|')
  let dangling: Approx[][] = []
  for (const [i, a] of words.entries()) {
    for (const [j, b] of words.entries()) {
      if (i === j || !prefixOf(a, b)) continue
      if (a.length === b.length) return 'alternatives that can match the same text, under a quantifier'
      dangling.push(b.slice(a.length))
    }
  }
  while (dangling.length > 0) {
    const next: Approx[][] = []
    for (const rest of dangling) {
      const id = key(rest)
      if (seen.has(id)) continue
      seen.add(id)
      for (const word of words) {
        if (prefixOf(rest, word)) {
          if (rest.length === word.length) return twoWays
          next.push(word.slice(rest.length))
        } else if (prefixOf(word, rest)) {
          next.push(rest.slice(word.length))
        }
      }
    }
    dangling = next
  }
  return null
}

function riskOfRepetition (body: Node): string | null {
  const stripped = strip(body)
  const branches = stripped.t === 'alt' ? stripped.branches : [stripped]
  const fixed = branches.map(fixedSets)
  const ambiguity = fixed.every((sets) => sets !== null) ? ambiguousRounds(fixed as Approx[][]) : null
  if (ambiguity !== null) return ambiguity
  for (let i = 0; i < branches.length; i++) {
    for (let j = i + 1; j < branches.length; j++) {
      // Where a branch's length varies, two branches starting alike may match the same text.
      if ((fixed[i] === null || fixed[j] === null) && intersects(first(branches[i] as Node), first(branches[j] as Node))) {
        return 'alternatives that can match the same text, under a quantifier'
      }
    }
  }
  for (const branch of branches) {
    // One round's last repetition meets the next round's first: a run of their characters splits between them.
    const spelled = branch.t === 'seq' ? flatten(branch.items) : [branch]
    const last = [...spelled].reverse().find((item) => !nullable(item))
    const head = singleSet(spelled[0] as Node)
    const tail = last === undefined || last === spelled[0] ? null : singleSet(last)
    if (head !== null && tail !== null && intersects(head, tail)) {
      return 'rounds that end and start with quantifiers over overlapping characters'
    }
    const items = branch.t === 'seq' ? branch.items : [branch]
    for (const [i, item] of items.entries()) {
      const others = items.filter((other, j) => j !== i && !nullable(other))
      for (const set of innerRepeats(item)) {
        if (others.every((other) => intersects(chars(other), set))) return 'a quantifier nested inside another'
      }
    }
  }
  return null
}

/**
 * Two long repetitions over overlapping characters, with nothing between
 * them that the first cannot take too (`\\d+\\d+x`, `\\d+0\\d+x`,
 * `.*a.*a.*b`), then something that can fail: every split of the text
 * between them is tried, at every start.
 */
function riskOfSequence (sequence: Node[]): string | null {
  const items = flatten(sequence)
  for (let i = 0; i < items.length; i++) {
    const a = singleSet(items[i] as Node)
    if (a === null) continue
    for (let j = i + 1; j < items.length - 1; j++) {
      const b = singleSet(items[j] as Node)
      if (b !== null && intersects(a, b)) return 'adjacent quantifiers over overlapping characters'
      if (!nullable(items[j] as Node) && !subset(chars(items[j] as Node), a)) break
    }
  }
  return null
}

/** Why a pattern is open to catastrophic backtracking, or null. */
function backtrackingRisk (node: Node): string | null {
  if (node.t === 'quant' && repeats(node)) {
    const risk = riskOfRepetition(node.body)
    if (risk !== null) return risk
  }
  if (node.t === 'seq') {
    const risk = riskOfSequence(node.items)
    if (risk !== null) return risk
  }
  for (const child of children(node)) {
    const risk = backtrackingRisk(child)
    if (risk !== null) return risk
  }
  return null
}

/**
 * Whether a byte-mode pattern consumes no byte above 0x7f and asks nothing
 * of one: no negated lookaround and no \\B, which can hold between two such
 * bytes. To such a pattern a run of non-ASCII units is a stretch it can
 * neither enter nor tell apart by length (no word character, no newline),
 * so it decides a subject's UTF-16 characters as it decides their UTF-8
 * bytes, and the subject need not be encoded on every request.
 */
function readsOnlyAscii (node: Node): boolean {
  switch (node.t) {
    case 'set': return !node.set.negated && node.set.props.length === 0 && node.set.ranges.every(([, hi]) => hi <= 0x7f)
    // The only zero-width raw node is (?!), which never matches.
    case 'raw': return node.width === 0
    case 'assert': return node.kind !== 'notWord'
    case 'group': return node.kind !== 'notAhead' && node.kind !== 'notBehind' && readsOnlyAscii(node.body)
    // It matches what its group matched: ASCII, since the group's own nodes are checked.
    case 'backref': return true
    // Its no-branch is written behind the opposite, negative, lookaround.
    case 'cond': return false
    default: return children(node).every(readsOnlyAscii)
  }
}

function requires (node: Node, code: number): boolean {
  switch (node.t) {
    case 'set': return !node.set.negated && node.set.props.length === 0 && node.set.ranges.length === 1 &&
      node.set.ranges[0]?.[0] === code && node.set.ranges[0][1] === code
    case 'seq': return node.items.some((item) => requires(item, code))
    case 'alt': return node.branches.every((branch) => requires(branch, code))
    case 'group': return consumes(node) && requires(node.body, code)
    case 'quant': return node.min > 0 && requires(node.body, code)
    default: return false
  }
}

/** The first character consumed can be neither '/' nor '*', the first of every path. */
function startsOutsidePath (node: Node): boolean {
  const set = first(node)
  return !nullable(node) && set[0x2f] === 0 && set[0x2a] === 0
}

function anchoredOutsidePath (node: Node): boolean {
  if (node.t === 'alt') return node.branches.every(anchoredOutsidePath)
  if (node.t === 'group' && (node.kind === 'capture' || node.kind === 'plain')) return anchoredOutsidePath(node.body)
  const head = node.t === 'seq' ? node.items[0] : node
  if (node.t !== 'seq' || head?.t !== 'assert' || head.kind !== 'start') return false
  return startsOutsidePath({ t: 'seq', items: node.items.slice(1) })
}

/** The UTF-8 bytes of a string, one character per byte, as byte-mode patterns read them. */
export function toByteString (text: string): string {
  // A loop is several times cheaper than a regex test on the short ASCII paths of most requests.
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return Buffer.from(text, 'utf8').toString('latin1')
  }
  return text
}
