import { readFileSync } from 'node:fs'
import { test } from 'tap'
import { compileExclusions } from '../lib/exclusions.js'
import { INVALID_EXCLUSION } from '../lib/errors.js'
import { absoluteUrlOf } from '../lib/request-url.js'

interface Case {
  id: string
  group: string
  feature: string
  delimiter: string | null
  patterns: string[] | string | null
  raw_url: string | null
  url: string
  expected: { excluded: boolean } | { error: true }
}

const { cases } = JSON.parse(readFileSync(new URL('./fixtures/exclusion-cases.json', import.meta.url), 'utf8')) as { cases: Case[] }
const REALISTIC = new Set(['health', 'static', 'webhook', 'admin', 'api-version', 'query', 'host', 'url-shape'])

/** The URL the plugin builds for the request the client sent (raw_url), as Fastify gives its parts. */
function urlOf (c: Case): string {
  if (c.raw_url === null) return c.url
  const parts = /^([a-z]+):\/\/([^/?#]*)(.*)$/is.exec(c.raw_url) as RegExpExecArray
  return absoluteUrlOf(parts[1] as string, parts[2] as string, parts[3] as string)
}

test('the 509 cases decided by the original, in url mode', async (t) => {
  t.equal(cases.length, 509)
  const counts = { agree: 0, refused: 0, refusedWhereOriginalFailed: 0, acceptedWhereOriginalFailed: 0, byCharacters: 0 }
  const refusedIds: string[] = []
  for (const c of cases) {
    t.equal(urlOf(c), c.url, `${c.id}: the URL the original tested`)
    let exclusions
    try {
      exclusions = compileExclusions({
        // The original casts a lone scalar to a list and every pattern to a string.
        patterns: c.patterns === null ? [] : Array.isArray(c.patterns) ? c.patterns.map(String) : String(c.patterns),
        delimiter: c.delimiter ?? '#',
        match: 'url'
      })
    } catch (error) {
      t.equal((error as { code?: string }).code, INVALID_EXCLUSION, `${c.id} is refused with a registration error`)
      t.notOk(REALISTIC.has(c.group), `${c.id} (realistic) is not refused`)
      if ('error' in c.expected) counts.refusedWhereOriginalFailed++
      else {
        counts.refused++
        refusedIds.push(c.id)
      }
      continue
    }
    const decision = exclusions.isExcluded(urlOf(c))
    t.equal(exclusions.explain(urlOf(c)).excluded, decision, `${c.id}: explain agrees with isExcluded`)
    if ('error' in c.expected) {
      counts.acceptedWhereOriginalFailed++
      continue
    }
    t.equal(decision, c.expected.excluded, `${c.id} ${c.feature} ${JSON.stringify(c.patterns)} on ${c.url}`)
    if (c.feature === 'bytes-vs-utf16') counts.byCharacters++
    counts.agree++
  }
  t.comment(JSON.stringify(counts))
  t.same(counts, { agree: 480, refused: 5, refusedWhereOriginalFailed: 24, acceptedWhereOriginalFailed: 0, byCharacters: 6 })
  // Each refusal where the original decided is a construct we do not translate, or a
  // pattern list the original only failed on for some URLs (it compiled patterns lazily).
  t.same(refusedIds, ['pcre-feature-0893', 'pcre-feature-0897', 'delimiter-0969', 'list-0983', 'list-0985'])
})
