// The service serving HTTPS and WSS itself (TLS_CERT_FILE, TLS_KEY_FILE), with self-signed
// certificates made by openssl, and renewals picked up without a restart.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { io } from 'socket.io-client'
import t, { type Test } from 'tap'
import { ConfigError } from '../src/config.js'
import { readTlsPair } from '../src/tls.js'
import {
  type ClientSocket,
  type Collected,
  captureLogs,
  collect,
  request,
  requireTool,
  startApp,
  TEST_SECRET,
  until
} from './helpers.js'
import { serverEntry } from './processes.js'

interface Pair {
  cert: Buffer
  key: Buffer
}

/** A self-signed certificate for localhost and 127.0.0.1 whose subject is CN=`name`. */
function selfSigned(openssl: string, dir: string, name: string): Pair {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  const run = spawnSync(
    openssl,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert
    ],
    { encoding: 'utf8' }
  )
  if (run.status !== 0) throw new Error(`openssl failed: ${run.stderr}`)
  return { cert: readFileSync(cert), key: readFileSync(key) }
}

/** Puts a pair in place as a renewal does: each file written aside, then renamed over the old. */
function install(files: { certFile: string; keyFile: string }, pair: { cert: Buffer | string; key: Buffer | string }) {
  writeFileSync(`${files.keyFile}.new`, pair.key)
  renameSync(`${files.keyFile}.new`, files.keyFile)
  writeFileSync(`${files.certFile}.new`, pair.cert)
  renameSync(`${files.certFile}.new`, files.certFile)
}

function workDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'chat-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The subject CN of the certificate a new TLS handshake with `port` is served. */
async function servedName(port: number, ca: Buffer[]): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca })
  try {
    await once(socket, 'secureConnect')
    return String(socket.getPeerCertificate().subject.CN)
  } finally {
    socket.destroy()
  }
}

/** Polls new handshakes until one is served the certificate named `name` (a generous bound). */
async function untilServed(port: number, ca: Buffer[], name: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const served = await servedName(port, ca)
    if (served === name) return
    if (Date.now() > deadline) throw new Error(`still served ${served}, not ${name}, after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** An HTTPS call that trusts `ca` (fetch cannot be given a CA); resolves with status, headers and JSON. */
function https(
  url: string,
  method: string,
  path: string,
  { ca, body, token }: { ca: Buffer[]; body?: unknown; token?: string }
): Promise<{ status: number; headers: IncomingHttpHeaders; json: any }> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, url),
      {
        method,
        ca,
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
        }
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) }))
      }
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** A socket.io-client over wss:// that verifies the server against `ca`; connected. */
async function wss(t: Test, url: string, token: string, ca: Buffer[]): Promise<ClientSocket> {
  const socket: ClientSocket = io(url, {
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ca: ca.map(String)
  })
  t.teardown(() => socket.disconnect())
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

async function say(from: ClientSocket, heardBy: Collected[], room: string, text: string): Promise<void> {
  const answer = await request(from, 'message:send', { room, text })
  if (answer.ok !== true) throw new Error(`send refused: ${JSON.stringify(answer)}`)
  await until(() => heardBy.some((m) => m.text === text), 5000, `"${text}" heard`)
}

t.test('HTTPS and WSS with the configured certificate; a renewed one is served without a restart', async (t) => {
  const openssl = requireTool(t, 'openssl')
  if (openssl === undefined) return
  const dir = workDir(t)
  const first = selfSigned(openssl, dir, 'first.test')
  const second = selfSigned(openssl, dir, 'second.test')
  const third = selfSigned(openssl, dir, 'third.test')
  const ca = [first.cert, second.cert, third.cert]
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }
  install(files, first)

  const logs = captureLogs()
  const { url } = await startApp(
    t,
    { TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile },
    { logger: logs.logger }
  )
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the service listens for HTTPS')
  const port = Number(new URL(url).port)
  t.equal(await servedName(port, [first.cert]), 'first.test', 'a handshake is served the certificate')
  t.ok(
    logs.lines.some((l) => l.event === 'tls' && String(l.subject).includes('CN=first.test')),
    'the certificate served is logged at start'
  )

  // HTTPS: sign-ins and the API, with HSTS.
  const ann = await https(url, 'POST', '/api/session', { ca, body: { name: 'Ann' } })
  t.equal(ann.status, 201, 'POST /api/session over https://')
  t.match(ann.headers['strict-transport-security'], /^max-age=31536000; includeSubDomains$/, 'HSTS is sent')
  const bob = await https(url, 'POST', '/api/session', { ca, body: { name: 'Bob' } })
  const rooms = await https(url, 'GET', '/api/rooms', { ca, token: ann.json.token })
  t.equal(rooms.status, 200, 'GET /api/rooms with a token over https://')
  const page = await https(url, 'GET', '/healthz', { ca })
  t.match(page.headers['strict-transport-security'], /max-age=/, 'on every answer')

  // WSS: join, send, receive.
  const annSocket = await wss(t, url, ann.json.token, [first.cert])
  const bobSocket = await wss(t, url, bob.json.token, [first.cert])
  const heard = collect(bobSocket)
  t.match(await request(annSocket, 'room:join', { room: 'secure' }), { ok: true })
  t.match(await request(bobSocket, 'room:join', { room: 'secure' }), { ok: true })
  await say(annSocket, heard, 'secure', 'hello over wss')
  t.pass('a message sent over wss:// reaches the other member')

  // The files are renewed in place: new handshakes get the new certificate, the process is the same.
  install(files, second)
  await untilServed(port, ca, 'second.test')
  t.pass('the renewed certificate is served without a restart')
  t.ok(
    logs.lines.some((l) => l.event === 'tls_reloaded' && String(l.subject).includes('CN=second.test')),
    'the reload is logged'
  )
  await say(annSocket, heard, 'secure', 'still here')
  t.pass('open connections carry on')
  const carol = await https(url, 'POST', '/api/session', { ca: [second.cert], body: { name: 'Carol' } })
  t.equal(carol.status, 201, 'https:// verifies against the new certificate')
  const carolSocket = await wss(t, url, carol.json.token, [second.cert])
  t.match(await request(carolSocket, 'room:join', { room: 'secure' }), { ok: true })
  await say(carolSocket, heard, 'secure', 'hi from the new certificate')
  t.pass('and so does a new wss:// connection')

  // Bad renewals are logged and the pair served stays.
  const failures = (since: number) => logs.lines.slice(since).filter((l) => l.event === 'tls_reload_failed')
  let since = logs.lines.length
  install(files, { cert: third.cert, key: second.key })
  await until(() => failures(since).length > 0, 30_000, 'a mismatched pair to be refused')
  t.match(failures(since)[0], { level: 50, reason: /^TLS_KEY_FILE .* is not the key of the certificate/ })
  t.equal(await servedName(port, ca), 'second.test', 'a certificate with the wrong key is not served')
  since = logs.lines.length
  install(files, { cert: 'not a certificate\n', key: third.key })
  await until(() => failures(since).length > 0, 30_000, 'a broken certificate file to be refused')
  t.match(failures(since)[0], { reason: /^TLS_CERT_FILE .* holds no PEM certificate/ })
  t.equal(await servedName(port, ca), 'second.test', 'nor a file that holds no certificate')
  t.ok(
    logs.lines.every((l) => !JSON.stringify(l).includes('PRIVATE KEY')),
    'no log line carries key material'
  )

  // A good pair after the bad ones is taken.
  install(files, third)
  await untilServed(port, ca, 'third.test')
  t.pass('the next good pair is served')
})

t.test('without TLS files: plain HTTP, and no HSTS', async (t) => {
  const { url } = await startApp(t)
  t.match(url, /^http:\/\//)
  const res = await fetch(`${url}/healthz`)
  await res.arrayBuffer()
  t.equal(res.status, 200)
  t.equal(res.headers.get('strict-transport-security'), null, 'HSTS only where TLS is served')
})

t.test('the files are checked: a ConfigError names the variable whose file is wrong', async (t) => {
  const openssl = requireTool(t, 'openssl')
  if (openssl === undefined) return
  const dir = workDir(t)
  const one = selfSigned(openssl, dir, 'one.test')
  const other = selfSigned(openssl, dir, 'other.test')
  const file = (name: string, content: Buffer | string) => {
    writeFileSync(join(dir, name), content)
    return join(dir, name)
  }
  const good = { certFile: file('good.crt', one.cert), keyFile: file('good.key', one.key) }
  t.match(readTlsPair(good), { subject: 'CN=one.test', fingerprint: /^[0-9A-F:]{95}$/ })
  for (const [files, variable, detail] of [
    [{ ...good, certFile: join(dir, 'missing.crt') }, 'TLS_CERT_FILE', /cannot be read: ENOENT/],
    [{ ...good, keyFile: join(dir, 'missing.key') }, 'TLS_KEY_FILE', /cannot be read: ENOENT/],
    [{ ...good, certFile: dir }, 'TLS_CERT_FILE', /cannot be read: EISDIR/],
    [{ ...good, certFile: file('garbage.crt', 'hello') }, 'TLS_CERT_FILE', /holds no PEM certificate/],
    [{ ...good, certFile: good.keyFile }, 'TLS_CERT_FILE', /holds no PEM certificate/],
    [{ ...good, keyFile: good.certFile }, 'TLS_KEY_FILE', /holds no unencrypted PEM private key/],
    [{ ...good, keyFile: file('other.key', other.key) }, 'TLS_KEY_FILE', /is not the key of the certificate/]
  ] as const) {
    t.throws(() => readTlsPair(files), { name: 'ConfigError', variable, message: detail }, `${variable}: ${detail}`)
  }
  const encrypted = spawnSync(
    openssl,
    ['pkey', '-in', good.keyFile, '-aes256', '-passout', 'pass:secret', '-out', join(dir, 'enc.key')],
    { encoding: 'utf8' }
  )
  t.equal(encrypted.status, 0, encrypted.stderr)
  t.throws(
    () => readTlsPair({ ...good, keyFile: join(dir, 'enc.key') }),
    new ConfigError('TLS_KEY_FILE', `(${join(dir, 'enc.key')}) holds no unencrypted PEM private key`),
    'an encrypted key is refused (no passphrase variable)'
  )
})

t.test('a bad TLS configuration stops the real process at boot with one line', async (t) => {
  const openssl = requireTool(t, 'openssl')
  if (openssl === undefined) return
  const dir = workDir(t)
  const pair = selfSigned(openssl, dir, 'boot.test')
  writeFileSync(join(dir, 'boot.key'), pair.key)
  writeFileSync(join(dir, 'broken.crt'), '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n')
  for (const [env, line] of [
    [{ TLS_CERT_FILE: join(dir, 'boot.crt') }, /^invalid configuration: TLS_KEY_FILE must be set with TLS_CERT_FILE/],
    [
      { TLS_CERT_FILE: join(dir, 'broken.crt'), TLS_KEY_FILE: join(dir, 'boot.key') },
      /^invalid configuration: TLS_CERT_FILE \(.*broken\.crt\) holds no PEM certificate$/
    ]
  ] as const) {
    const proc = spawn(process.execPath, [serverEntry], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', JWT_SECRET: TEST_SECRET, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    t.teardown(() => proc.kill('SIGKILL'))
    let stderr = ''
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const [code] = await once(proc, 'exit')
    t.equal(code, 1, `${Object.keys(env).join(' + ')}: exit code 1`)
    const lines = stderr.trimEnd().split('\n')
    t.equal(lines.length, 1, 'one line, no stack trace')
    t.match(lines[0], line)
  }
})
