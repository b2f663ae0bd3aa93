import { test } from 'tap'
import { absoluteUrlOf, normaliseQuery } from '../lib/request-url.js'

/** [protocol, Host, target, what Symfony's getUri() builds] (checked with oracle.php --normalize). */
const URLS: Array<[string, string, string, string]> = [
  ['https', 'Example.com:443', '/p?b=2&a=1#frag', 'https://example.com/p?a=1&b=2'],
  ['http', 'h:8080', '/x', 'http://h:8080/x'],
  ['http', 'h:0', '/x', 'http://h/x'],
  ['https', 'h:0443', '/x', 'https://h/x'],
  ['http', 'h:80', '/x', 'http://h/x'],
  ['https', 'h:80', '/x', 'https://h:80/x'],
  ['http', '[::1]:8080', '/x', 'http://[::1]:8080/x'],
  ['http', '[::1]', '/x', 'http://[::1]/x'],
  ['http', 'h', '/index.php', 'http://h/index.php/'],
  ['http', 'h', '/index.phpfoo', 'http://h/index.php/foo'],
  ['http', 'h', '/%69ndex.php/a', 'http://h/%69ndex.php/a'],
  ['http', 'h', '', 'http://h/'],
  ['http', 'h', '/a?', 'http://h/a'],
  ['http', 'h', '/a?&&', 'http://h/a'],
  ['http', 'h', '/a?x', 'http://h/a?x='],
  ['http', 'h', '/a?x=1&x=2', 'http://h/a?x=2'],
  ['http', 'h', '/a?a[]=1&a[]=2', 'http://h/a?a%5B0%5D=1&a%5B1%5D=2'],
  ['http', 'h', '/a?a[x]=1&a[y][z]=2', 'http://h/a?a%5Bx%5D=1&a%5By%5D%5Bz%5D=2'],
  ['http', 'h', '/a?a[b=1', 'http://h/a?a%5Bb=1'],
  ['http', 'h', '/a?a[b.c d=1', 'http://h/a?a%5Bb_c_d=1'],
  ['http', 'h', '/a?a[x][y=1', 'http://h/a?a%5Bx%5D=1'],
  ['http', 'h', '/a?a.b=1&a b=2', 'http://h/a?a%20b=2&a.b=1'],
  ['http', 'h', '/a?%20k=1', 'http://h/a?k=1'],
  ['http', 'h', '/a?k%00x=1', 'http://h/a?k=1'],
  ['http', 'h', '/a?2=a&10=b&1=c', 'http://h/a?1=c&2=a&10=b'],
  ['http', 'h', '/a?b=1&10=x&a=2', 'http://h/a?10=x&a=2&b=1'],
  ['http', 'h', '/a?01=a&1=b', 'http://h/a?01=a&1=b'],
  ['http', 'h', '/a?=x&[a]=y', 'http://h/a'],
  ['http', 'h', '/a?q=%FF%fe', 'http://h/a?q=%FF%FE'],
  ['http', 'h', '/a?q=a%2Bb+c', 'http://h/a?q=a%2Bb%20c'],
  ['http', 'h', '/a?q=%zz', 'http://h/a?q=%25zz'],
  ['http', 'h', '/a?a[ ]=1&a[ ]=2', 'http://h/a?a%5B0%5D=1&a%5B1%5D=2'],
  ['http', 'h', '/a?a[]=1&a[5]=2&a[]=3', 'http://h/a?a%5B0%5D=1&a%5B5%5D=2&a%5B6%5D=3'],
  ['http', 'h', '/a?a=1&a[]=2', 'http://h/a?a%5B0%5D=2'],
  ['http', 'h', '/a?a[]=1&a=2', 'http://h/a?a=2'],
  ['http', 'h', '/a?k=%E2%82%AC~-._', 'http://h/a?k=%E2%82%AC~-._'],
  ['http', 'h', '/a?%C3%A9=1', 'http://h/a?%C3%A9=1'],
  ['http', 'h', '/a?a[-1]=x&a[]=y', 'http://h/a?a%5B-1%5D=x&a%5B0%5D=y'],
  ['http', 'h:abc', '/x', 'http://h:abc:0/x'],
  ['http', 'H.EXAMPLE.com:8443', '/Path', 'http://h.example.com:8443/Path'],
  ['http', 'h', '/a?1.5=x&1e1=y&b=z', 'http://h/a?1.5=x&1e1=y&b=z'],
  ['http', 'h', '/a?a[b]c=1', 'http://h/a?a%5Bb%5D=1'],
  ['http', 'h', '/a?a]b=1', 'http://h/a?a%5Db=1']
]

test('builds the URL the original tested', async (t) => {
  for (const [protocol, host, target, expected] of URLS) {
    t.equal(absoluteUrlOf(protocol, host, target), expected, `${protocol}://${host}${target}`)
  }
})

test('absolute-form targets, fragments, userinfo and non-ASCII bytes', async (t) => {
  t.equal(absoluteUrlOf('HTTPS', 'Api.Example.com', 'http://other/ping?b=1&a=2#x'), 'https://api.example.com/ping?a=2&b=1')
  t.equal(absoluteUrlOf('http', 'user:pw@h', '/p'), 'http://h/p')
  t.equal(absoluteUrlOf('http', 'h', '/caf\u00e9?q=\u00e9'), 'http://h/caf\u00e9?q=%C3%A9')
  t.equal(absoluteUrlOf('http', 'h', '*'), 'http://h/*')
  t.equal(absoluteUrlOf('http', '[::1', '/p'), 'http://[::0/p')
  t.equal(normaliseQuery(''), '')
  t.equal(normaliseQuery('a[][x]=1&a[][x]=2'), 'a%5B0%5D%5Bx%5D=1&a%5B1%5D%5Bx%5D=2')
  t.equal(normaliseQuery('b[x]=1&b[x][y]=2&a=0'), 'a=0&b%5Bx%5D%5By%5D=2')
})
