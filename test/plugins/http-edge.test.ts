import { connect } from 'node:net'
import t from 'tap'
import { startApp } from '../helpers.js'

/** Sends raw bytes and returns the whole answer, up to the server's close. */
async function raw(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.write(bytes)
  let answer = ''
  socket.setEncoding('utf8')
  for await (const chunk of socket) answer += chunk
  return answer
}

t.test("requests Node's HTTP parser refuses are answered in the API's error shape", async (t) => {
  const { url } = await startApp(t)
  for (const [what, bytes, status, code] of [
    ['an unknown method', 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'INVALID_PAYLOAD'],
    ['garbage', 'hello there\r\n\r\n', 400, 'INVALID_PAYLOAD'],
    [
      'headers over the size limit',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE'
    ],
    [
      'a URL with a broken %-escape',
      'GET /api/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      400,
      'INVALID_PAYLOAD'
    ],
    ['no Host header', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'INVALID_PAYLOAD'],
    [
      'an Expect header other than 100-continue',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n',
      417,
      'INVALID_PAYLOAD'
    ]
  ] as const) {
    const answer = await raw(url, bytes)
    t.match(answer, new RegExp(`^HTTP/1.1 ${status} `), `${what} → ${status}`)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
    t.match(body, { statusCode: status, code, error: String, message: String }, `${what}: the error shape, with a code`)
  }
  for (const [what, headers, status] of [
    ['a range past the end of a file', { range: 'bytes=999999-' }, 416],
    ['a precondition that fails', { 'if-match': '"nope"' }, 412]
  ] as const) {
    const res = await fetch(`${url}/index.html`, { headers })
    t.equal(res.status, status, `${what} → ${status}`)
    t.match(
      await res.json(),
      { statusCode: status, code: 'INVALID_PAYLOAD', error: String, message: String },
      `${what}: the error shape, with a code`
    )
  }
  t.equal((await fetch(`${url}/healthz`)).status, 200, 'and the server goes on serving')
})

t.test(
  'a request whose body never finishes arriving is answered 408 in the same shape, and its connection closed',
  async (t) => {
    const { url } = await startApp(t, { REQUEST_TIMEOUT_MS: '1000' })
    const answer = await raw(
      url,
      `POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`
    )
    t.match(answer, /^HTTP\/1.1 408 /)
    t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), {
      statusCode: 408,
      code: 'REQUEST_TIMEOUT',
      message: String
    })
    t.equal((await fetch(`${url}/healthz`)).status, 200, 'and the server goes on serving')
  }
)

t.test(
  'an upgrade outside /socket.io/ is answered as a plain request: a WebSocket nowhere gets 404 in the same shape, h2c gets the route',
  async (t) => {
    const { url } = await startApp(
      t,
      {},
      {
        prepare: (app) =>
          app.get('/slow', () => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 1500)))
      }
    )
    const upgrade = (path: string, protocol: string) =>
      raw(
        url,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
      )
    const nowhere = await upgrade('/nowhere', 'websocket')
    t.match(nowhere, /^HTTP\/1.1 404 /)
    t.match(JSON.parse(nowhere.slice(nowhere.indexOf('\r\n\r\n') + 4)), {
      statusCode: 404,
      code: 'NOT_FOUND',
      message: String
    })
    const h2c = await upgrade('/healthz', 'h2c')
    t.match(h2c, /^HTTP\/1.1 200 /, 'curl --http2 on a route gets the route')
    t.match(JSON.parse(h2c.slice(h2c.indexOf('\r\n\r\n') + 4)), { status: 'ok' })
    const unauthorized = await upgrade('/api/rooms', 'websocket')
    t.match(unauthorized, /^HTTP\/1.1 401 /, 'a route that needs a token says so')
    t.match(await upgrade('/slow', 'h2c'), /^HTTP\/1.1 200 /, 'a route slower than a second still answers')
    const withBody = await raw(
      url,
      'POST /api/session HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"name":"Ann"}'
    )
    t.match(withBody, /^HTTP\/1.1 400 /, 'a body on such a request is refused, not read as empty')
    t.match(withBody, /cannot carry a body/)
  }
)

t.test('a Socket.IO handshake without Host is refused too', async (t) => {
  const { url } = await startApp(t)
  const answer = await raw(url, 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nConnection: close\r\n\r\n')
  t.match(answer, /^HTTP\/1.1 403 /)
})
