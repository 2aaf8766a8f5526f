import { io } from 'socket.io-client'
import t from 'tap'
import { signIn, startApp } from '../helpers.js'

t.test('the page is served with a CSP that allows its own scripts and socket only', async (t) => {
  const { url } = await startApp(t)
  const res = await fetch(`${url}/`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /text\/html/)
  const html = await res.text()
  t.match(html, /<script type="module" src="\/app\.js">/)
  const csp = res.headers.get('content-security-policy') ?? ''
  t.match(csp, /default-src 'self'/)
  t.match(csp, /script-src 'self'(;|$)/, 'no inline or remote scripts')
  t.match(csp, /connect-src 'self'/)
  t.notMatch(csp, /upgrade-insecure-requests/, 'works over plain HTTP on a laptop')
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  const script = await fetch(`${url}/app.js`)
  t.equal(script.status, 200)
  t.match(script.headers.get('content-type'), /javascript/)
  t.ok((await script.text()).length > 1000, 'the bundle is served')
})

async function handshake(
  url: string,
  token: string,
  origin?: string,
  headers: Record<string, string> = {}
): Promise<string> {
  // Node's WebSocket client sends an Origin header only when told to, as a browser always does.
  const socket = io(url, {
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { ...headers, ...(origin ? { origin } : {}) }
  })
  try {
    return await new Promise((resolve) => {
      socket.once('connect', () => resolve('connected'))
      socket.once('connect_error', (err) => resolve(`refused: ${err.message}`))
    })
  } finally {
    socket.disconnect()
  }
}

t.test('sockets from other sites are refused unless CORS_ORIGINS names them', async (t) => {
  const { url } = await startApp(t)
  const { token } = await signIn(url, 'Ann')
  t.equal(await handshake(url, token), 'connected', 'no Origin: not a browser')
  t.equal(await handshake(url, token, url), 'connected', 'same origin')
  t.match(await handshake(url, token, 'https://evil.example'), /^refused/)
  const claimed = { 'x-forwarded-host': 'evil.example' }
  t.match(
    await handshake(url, token, 'https://evil.example', claimed),
    /^refused/,
    'X-Forwarded-Host counts only from a trusted proxy'
  )
  const proxied = await startApp(t, { TRUST_PROXY: 'loopback' })
  const viaProxy = await signIn(proxied.url, 'Cy')
  t.equal(
    await handshake(proxied.url, viaProxy.token, 'https://chat.example.com', {
      'x-forwarded-host': 'chat.example.com'
    }),
    'connected',
    "behind one, the host it names is the page's own"
  )

  const open = await startApp(t, { CORS_ORIGINS: 'https://chat.example.com, https://app.example.com' })
  const session = await signIn(open.url, 'Bo')
  t.equal(await handshake(open.url, session.token, 'https://app.example.com'), 'connected')
  t.match(await handshake(open.url, session.token, 'https://evil.example'), /^refused/)
  const preflight = await fetch(`${open.url}/api/session`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://chat.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type'
    }
  })
  await preflight.arrayBuffer()
  t.equal(preflight.headers.get('access-control-allow-origin'), 'https://chat.example.com')
  const denied = await fetch(`${open.url}/api/session`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' }
  })
  await denied.arrayBuffer()
  t.equal(denied.headers.get('access-control-allow-origin'), null)
})
