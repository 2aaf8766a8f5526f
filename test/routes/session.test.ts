import { request as httpRequest } from 'node:http'
import t from 'tap'
import { client, connect, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'

async function post(
  url: string,
  body: string | undefined,
  headers: Record<string, string> = { 'content-type': 'application/json' }
) {
  const res = await fetch(`${url}/api/session`, { method: 'POST', headers, body })
  return { status: res.status, body: (await res.json()) as any }
}

t.test('a guest picks a name and gets a token that opens a socket', async (t) => {
  const { url } = await startApp(t, { TOKEN_TTL_SECONDS: '3600' })
  const before = Date.now()
  const { status, body } = await post(url, JSON.stringify({ name: '  Zoë 🚀  ' }))
  t.equal(status, 201)
  t.equal(body.user.name, 'Zoë 🚀', 'the name is trimmed')
  t.type(body.user.id, 'string')
  t.type(body.token, 'string')
  t.ok(body.expiresAt >= before + 3_599_000 && body.expiresAt <= Date.now() + 3_600_000, 'expiresAt is epoch ms')
  const socket = await connect(client(t, url, body.token))
  t.ok(socket.connected)
  const second = await post(url, JSON.stringify({ name: 'Zoë 🚀' }))
  t.not(second.body.user.id, body.user.id, 'two guests with one name are two users')
})

const badBodies: Array<[string, string | undefined, number?]> = [
  ['an empty name', '{"name":""}'],
  ['a white-space name', '{"name":"   \\t "}'],
  ['33 characters', JSON.stringify({ name: 'x'.repeat(33) })],
  ['a control character', JSON.stringify({ name: 'bad\u0007bell' })],
  ['a newline', JSON.stringify({ name: 'two\nlines' })],
  ['a bidi override', JSON.stringify({ name: 'evil\u202Egnp.exe' })],
  ['a direction mark', JSON.stringify({ name: 'Ann\u200F' })],
  ['a lone surrogate', '{"name":"bob\\ud800"}'],
  ['only a zero-width space', JSON.stringify({ name: '\u200B' })],
  ['only a Hangul filler', JSON.stringify({ name: '\u3164' })],
  ['only a combining mark', JSON.stringify({ name: '\u0301' })],
  ['only NEL', JSON.stringify({ name: '\u0085' })],
  ['a number', '{"name":42}'],
  ['null', '{"name":null}'],
  ['an array', '{"name":["a"]}'],
  ['no name', '{}'],
  ['an extra key', '{"name":"ok","admin":true}'],
  ['a __proto__ key', '{"name":"ok","__proto__":{"admin":true}}'],
  ['a JSON array body', '["ok"]'],
  ['a JSON null body', 'null'],
  ['broken JSON', '{"name":'],
  ['a huge body', JSON.stringify({ name: 'x'.repeat(100_000) }), 413]
]

t.test('bad names and bodies get 400 with a stable code and no stack', async (t) => {
  const { url } = await startApp(t)
  for (const [name, body, status = 400] of badBodies) {
    const res = await post(url, body)
    t.equal(res.status, status, `${name} → ${status}`)
    t.equal(res.body.statusCode, status)
    t.equal(res.body.code, status === 400 ? 'INVALID_PAYLOAD' : 'PAYLOAD_TOO_LARGE', `${name}: code`)
    t.type(res.body.error, 'string')
    t.type(res.body.message, 'string')
    t.notMatch(JSON.stringify(res.body), /at .*\.(js|ts):\d+/, `${name}: no stack`)
  }
  for (const [what, headers] of [
    ['another charset', { 'content-type': 'application/json; charset=utf-16' }],
    ['a compressed body', { 'content-type': 'application/json', 'content-encoding': 'gzip' }]
  ] as const) {
    const other = await post(url, '{"name":"Ann"}', headers)
    t.equal(other.status, 415, `${what} → 415`)
    t.match(other.body, { code: 'UNSUPPORTED_MEDIA_TYPE', message: /UTF-8/ })
  }
  t.equal(
    (await post(url, '{"name":"Ann"}', { 'content-type': 'application/json; charset=UTF-8' })).status,
    201,
    'UTF-8 said aloud is fine'
  )
  for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'text/plain;charset=UTF-8']) {
    const other = await post(url, type.startsWith('text') ? '{"name":"Ann"}' : 'name=x', { 'content-type': type })
    t.equal(other.status, 415, `${type} → 415`)
    t.match(other.body, { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json' })
  }
  const untyped = await new Promise<number | undefined>((resolve, reject) => {
    const target = new URL(`${url}/api/session`)
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-length': '14' }
      },
      (res) => {
        res.resume()
        resolve(res.statusCode)
      }
    )
    req.once('error', reject)
    req.end('{"name":"Ann"}')
  })
  t.equal(untyped, 415, 'a body without a Content-Type → 415')
  t.equal(Object.hasOwn({}, 'admin'), false)
})

t.test('with GUEST_SESSIONS=false the endpoint answers 404', async (t) => {
  const { url } = await startApp(t, { GUEST_SESSIONS: 'false' })
  const res = await post(url, '{"name":"Ann"}')
  t.equal(res.status, 404)
  t.match(res.body, { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found' })
})

t.test('unknown routes answer 404 JSON; a 5xx leaks nothing internal', async (t) => {
  const { url } = await startApp(
    t,
    {},
    {
      prepare(app) {
        app.get('/boom', async () => {
          throw new Error('password=hunter2 at db.internal:5432')
        })
      }
    }
  )
  const missing = await fetch(`${url}/nope`)
  t.equal(missing.status, 404)
  t.match(await missing.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found' })
  const boom = await fetch(`${url}/boom`)
  t.equal(boom.status, 500)
  const body = await boom.json()
  t.same(body, { statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'Internal server error' })
})

t.test('guest sign-ins are limited per client address, which TRUST_PROXY says how to find', async (t) => {
  const body = JSON.stringify({ name: 'Someone' })
  const from = (address: string) => ({ 'content-type': 'application/json', 'x-forwarded-for': address })

  const direct = await startApp(t, { SESSION_RATE_PER_MIN: '3' })
  const answers = []
  // Without a trusted proxy the header is the client's own word: it changes nothing.
  for (let i = 0; i < 4; i++) answers.push(await post(direct.url, body, from(`198.51.100.${i}`)))
  t.same(
    answers.map((a) => a.status),
    [201, 201, 201, 429]
  )
  t.match(answers[3]!.body, {
    statusCode: 429,
    code: 'RATE_LIMITED',
    message: /Too many sign-ins from your address; try again in \d+ s/
  })

  const proxied = await startApp(t, { SESSION_RATE_PER_MIN: '3', TRUST_PROXY: 'loopback' })
  for (let i = 0; i < 3; i++) t.equal((await post(proxied.url, body, from('198.51.100.7'))).status, 201)
  const refused = await fetch(`${proxied.url}/api/session`, { method: 'POST', headers: from('198.51.100.7'), body })
  t.equal(refused.status, 429, 'behind a trusted proxy, the forwarded address is limited')
  t.ok(Number(refused.headers.get('retry-after')) > 0, 'with Retry-After')
  t.equal((await post(proxied.url, body, from('203.0.113.9'))).status, 201, 'and another address is not')
  const v6 = []
  for (const host of ['1', '2', 'ffff:0:3', '4'])
    v6.push((await post(proxied.url, body, from(`2001:db8:7:7::${host}`))).status)
  t.same(v6, [201, 201, 201, 429], 'an IPv6 client counts as its /64, whichever addresses of it it uses')

  const open = await startApp(t, { SESSION_RATE_PER_MIN: '0' })
  const many = await Promise.all(Array.from({ length: 40 }, () => post(open.url, body)))
  t.ok(
    many.every((a) => a.status === 201),
    'SESSION_RATE_PER_MIN=0 turns the limit off'
  )
})

t.test('with Redis the sign-in limit holds across nodes, and nobody is refused while Redis is away', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const body = JSON.stringify({ name: 'Someone' })
  const env = { SESSION_RATE_PER_MIN: '3', REDIS_URL: redis.url }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const statuses = []
  for (const node of [a, b, a, b]) statuses.push((await post(node.url, body)).status)
  t.same(statuses, [201, 201, 201, 429], 'one address, two nodes, one count')
  await redis.stop()
  t.equal((await post(b.url, body)).status, 201, 'Redis away: the limit is skipped, sign-in still works')
})
