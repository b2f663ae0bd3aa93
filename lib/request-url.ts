/**
 * The absolute URL the original tested its patterns against (Symfony's
 * `Request::getUri()`): scheme, lowercased host, the port only when it is not
 * the scheme's default, the raw path, and the query string parsed as PHP's
 * parse_str() does, sorted by key and rebuilt as http_build_query() does in
 * RFC 3986 form. No fragment.
 */

import { toByteString } from './pcre.js'

const FRONT_CONTROLLER = '/index.php'

/**
 * @param protocol `request.protocol` ('http' or 'https'; honours trustProxy)
 * @param host `request.host`, the Host header with its port (honours trustProxy)
 * @param rawUrl the request target as the client sent it (`request.originalUrl`)
 */
export function absoluteUrlOf (protocol: string, host: string, rawUrl: string): string {
  const scheme = protocol.toLowerCase() === 'https' ? 'https' : 'http'
  const { path, query } = splitTarget(rawUrl)
  const normalised = normaliseQuery(query)
  return `${scheme}://${httpHost(scheme, host)}${pathWithBase(path)}${normalised === '' ? '' : `?${normalised}`}`
}

function splitTarget (rawUrl: string): { path: string, query: string } {
  let target = rawUrl
  const hash = target.indexOf('#')
  if (hash !== -1) target = target.slice(0, hash)
  // An absolute-form target (`GET http://host/p`): Symfony keeps only its path.
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(target)
  if (absolute !== null) target = target.slice(absolute[0].length)
  const mark = target.indexOf('?')
  return mark === -1
    ? { path: target, query: '' }
    : { path: target.slice(0, mark), query: target.slice(mark + 1) }
}

function asciiLower (text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase())
}

/** PHP's (int) cast of a string: leading digits after optional spaces and sign. */
function phpInt (text: string): number {
  const m = /^[ \t\n\r\v\f]*([+-]?\d+)/.exec(text)
  return m === null ? 0 : Number(m[1])
}

function httpHost (scheme: string, header: string): string {
  const hostHeader = header.slice(header.lastIndexOf('@') + 1)
  const host = asciiLower(hostHeader.trim().replace(/:\d+$/, ''))
  let colon: number
  if (hostHeader.startsWith('[')) {
    const closing = hostHeader.lastIndexOf(']')
    colon = hostHeader.indexOf(':', Math.max(closing, 0))
  } else {
    colon = hostHeader.lastIndexOf(':')
  }
  const portText = colon === -1 ? '' : hostHeader.slice(colon + 1)
  const port = portText !== '' && portText !== '0' ? phpInt(portText) : scheme === 'https' ? 443 : 80
  const standard = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)
  return standard ? host : `${host}:${port}`
}

/**
 * Symfony splits the path into the front controller's base URL and the path
 * info, and gives the path info a leading '/'; for `/index.php` (the usual
 * front controller) that adds a '/' the client never sent.
 */
function pathWithBase (path: string): string {
  let base = ''
  if (rawUrlDecode(path).startsWith(FRONT_CONTROLLER)) {
    // As many raw characters as the front controller has decoded ones ("%xx" counts as one).
    base = (new RegExp(`^(?:%[0-9A-Fa-f]{2}|[^]){${FRONT_CONTROLLER.length}}`).exec(path) as RegExpExecArray)[0]
  }
  let info = path.slice(base.length)
  if (!info.startsWith('/')) info = `/${info}`
  return base + info
}

/* ---------------------------------------------------------------- query */

type PhpKey = string | number
type PhpValue = string | PhpArray
type PhpArray = Map<PhpKey, PhpValue>

function rawUrlDecode (text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

/** urldecode() over bytes: the result holds one character per byte. */
function urlDecode (text: string): string {
  return rawUrlDecode(text.replace(/\+/g, ' '))
}

/** rawurlencode() of a byte string: everything but A-Z a-z 0-9 - _ . ~ as %XX. */
function rawUrlEncode (bytes: string): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i)
    const ch = bytes[i] as string
    out += /[A-Za-z0-9\-_.~]/.test(ch) ? ch : `%${c.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

function cutAtNul (text: string): string {
  const nul = text.indexOf('\0')
  return nul === -1 ? text : text.slice(0, nul)
}

/** A PHP array key: a decimal integer string in canonical form becomes an integer. */
function phpKey (key: string): PhpKey {
  if (/^(?:0|-?[1-9]\d*)$/.test(key)) {
    const n = Number(key)
    if (Number.isSafeInteger(n)) return n
  }
  return key
}

function nextIndex (array: PhpArray): number {
  let next = 0
  for (const key of array.keys()) if (typeof key === 'number' && key >= next) next = key + 1
  return next
}

function setKey (array: PhpArray, key: string | null, value: PhpValue): void {
  array.set(key === null ? nextIndex(array) : phpKey(key), value)
}

// PHP's default max_input_nesting_level.
const MAX_NESTING = 64

/**
 * Registers one `name[a][b]=value` pair as PHP's php_register_variable_ex()
 * does, the base name kept byte for byte as Symfony keeps it.
 */
function register (result: PhpArray, base: string, brackets: string, value: string): void {
  if (brackets === '') {
    setKey(result, base, value)
    return
  }
  let container = result
  let index: string | null = base
  let at = 0
  let levels = 0
  for (;;) {
    // PHP drops a variable nested deeper than max_input_nesting_level (64), whole.
    if (++levels > MAX_NESTING) {
      result.delete(phpKey(base))
      return
    }
    const start = at + 1
    const probe = brackets[start] === ' ' ? start + 1 : start
    let next: string | null = null
    let close = probe
    if (brackets[probe] !== ']') {
      close = brackets.indexOf(']', probe)
      if (close === -1) {
        // Not an index: at the first level PHP keeps the name whole, with ' ', '.' and '['
        // after the bracket turned into '_'; deeper, the brackets end at the previous level.
        if (container === result) index = `${base}[${brackets.slice(start).replace(/[ .[]/g, '_')}`
        break
      }
      next = brackets.slice(start, close)
    }
    const existing = index === null ? undefined : container.get(phpKey(index))
    const child: PhpArray = existing instanceof Map ? existing : new Map()
    if (child !== existing) setKey(container, index, child)
    container = child
    index = next
    at = close + 1
    if (brackets[at] !== '[') break
  }
  setKey(container, index, value)
}

/** PHP 8 comparison of two array keys, as ksort() applies it. */
function compareKeys (a: PhpKey, b: PhpKey): number {
  const numeric = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/
  const aNum = typeof a === 'number' || numeric.test(a)
  const bNum = typeof b === 'number' || numeric.test(b)
  if (aNum && bNum) return Math.sign(Number(a) - Number(b))
  const x = String(a)
  const y = String(b)
  // Keys of one array are distinct, so two strings never compare equal here.
  return x < y ? -1 : 1
}

function buildQuery (array: PhpArray, prefix: string | null): string[] {
  const parts: string[] = []
  for (const [key, value] of array) {
    const name = prefix === null ? rawUrlEncode(String(key)) : `${prefix}%5B${rawUrlEncode(String(key))}%5D`
    if (value instanceof Map) {
      parts.push(...buildQuery(value, name))
    } else {
      parts.push(`${name}=${rawUrlEncode(value)}`)
    }
  }
  return parts
}

/** Symfony's Request::normalizeQueryString() for a raw query string. */
export function normaliseQuery (query: string): string {
  if (query === '') return ''
  const result: PhpArray = new Map()
  for (const rawPair of toByteString(query).split('&')) {
    const pair = cutAtNul(rawPair)
    const eq = pair.indexOf('=')
    const name = cutAtNul(urlDecode(eq === -1 ? pair : pair.slice(0, eq))).replace(/^ +/, '')
    const value = eq === -1 ? '' : urlDecode(pair.slice(eq + 1))
    const bracket = name.indexOf('[')
    const base = bracket === -1 ? name : name.slice(0, bracket)
    if (base === '') continue
    register(result, base, bracket === -1 ? '' : name.slice(bracket), value)
  }
  const sorted: PhpArray = new Map([...result].sort((a, b) => compareKeys(a[0], b[0])))
  return buildQuery(sorted, null).join('&')
}
