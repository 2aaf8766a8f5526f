// Test helpers: boot the real app on a free port, sign in, open real Socket.IO clients, and close
// everything they opened when the test ends.

import { once } from 'node:events'
import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { io, type Socket } from 'socket.io-client'
import type { Test } from 'tap'
import { type BuildOptions, buildApp } from '../src/app.js'
import type { ClientToServerEvents, Member, ServerToClientEvents } from '../src/chat/protocol.js'
import { type Config, loadConfig } from '../src/config.js'

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>

/** The part of a tap Test the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!'

/** Test apps run without the per-user room budget (most tests send many messages as one user) unless a test sets it. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    JWT_SECRET: TEST_SECRET,
    USER_ROOM_MESSAGES_PER_MIN: '0',
    ...env
  })
}

export interface TestApp {
  app: FastifyInstance
  url: string
  config: Config
}

/** Builds the app, lets `prepare` add to it before it starts, and listens on a free port. */
export async function startApp(
  t: Teardown,
  env: Record<string, string> = {},
  options: BuildOptions & { prepare?: (app: FastifyInstance) => void } = {}
): Promise<TestApp> {
  const config = testConfig(env)
  const app = await buildApp(config, { logger: false, ...options })
  options.prepare?.(app)
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  // With Redis, the node is ready once its store connection is (before that, every store call
  // is refused UNAVAILABLE, as it should be): wait as a load balancer would.
  if (config.redisUrl !== undefined) await untilReady(address)
  return { app, url: address, config }
}

/** Resolves once GET /readyz answers `status` (200 or 503). */
export async function untilReady(url: string, status = 200, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const got = await fetch(`${url}/readyz`).then(
      async (r) => {
        await r.arrayBuffer()
        return r.status
      },
      () => 0
    )
    if (got === status) return
    if (Date.now() > deadline) throw new Error(`${url}/readyz never answered ${status} (last: ${got})`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A logger that keeps every line, parsed, for assertions on the audit trail. */
export function captureLogs(): { lines: Array<Record<string, unknown>>; logger: BuildOptions['logger'] } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line))
      callback()
    }
  })
  return { lines, logger: { level: 'debug', stream } as BuildOptions['logger'] }
}

export async function signIn(url: string, name: string): Promise<{ token: string; user: Member }> {
  const res = await fetch(`${url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name })
  })
  if (res.status !== 201) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`)
  return (await res.json()) as { token: string; user: Member }
}

/** A client socket, not yet connected; closed at teardown. */
export function client(t: Teardown, url: string, token: unknown, options: Parameters<typeof io>[1] = {}): ClientSocket {
  const socket: ClientSocket = io(url, {
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    autoConnect: false,
    ...options
  })
  t.teardown(() => socket.disconnect())
  return socket
}

/** Connects and resolves once connected; rejects with the `connect_error`. */
export async function connect(socket: ClientSocket): Promise<ClientSocket> {
  socket.connect()
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

/** Signs a new guest in and returns a connected socket for them. */
export async function guest(t: Teardown, url: string, name: string, options?: Parameters<typeof io>[1]) {
  const session = await signIn(url, name)
  const socket = await connect(client(t, url, session.token, options))
  return { ...session, socket }
}

/** Emits with an acknowledgement and resolves with the answer (rejects after 5 s without one). */
export function request<E extends keyof ClientToServerEvents>(
  socket: ClientSocket,
  event: E,
  payload: unknown
): Promise<any> {
  return (socket.timeout(5000) as any).emitWithAck(event, payload)
}

/** Resolves with the next `event` on `socket` whose payload passes `match`. */
export function next<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  match: (...args: Parameters<ServerToClientEvents[E]>) => boolean = () => true
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve) => {
    const listener = (...args: any[]) => {
      if (!(match as any)(...args)) return
      ;(socket as any).off(event, listener)
      resolve(args[0])
    }
    ;(socket as any).on(event, listener)
  })
}

/** An entry as a test reads it: a message's fields, or a deletion's. */
export interface Collected {
  room: string
  seq: number
  id: string
  text?: string
  type?: 'deletion'
  target?: string
  deleted?: true
}

/** Collects every entry (both `message` and `messages`) a socket receives. */
export function collect(socket: ClientSocket): Collected[] {
  const got: Collected[] = []
  socket.on('message', (m) => got.push(m))
  socket.on('messages', (list) => got.push(...list))
  return got
}

/** Waits until `condition` holds, checking on every turn of the event loop; fails after `ms`. */
export async function until(condition: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Scrapes /metrics (classic text format) into `name{labels}` → value. */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`, { headers })
  if (res.status !== 200) throw new Error(`scrape failed: ${res.status}`)
  const samples = new Map<string, number>()
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

/**
 * A tool the test needs from the machine (redis-server, prometheus, chromium...). Missing on a
 * developer's machine: the test says so loudly and skips. Missing under CI=true: it fails,
 * because .ci/run installs every such tool.
 */
export function requireTool(t: Test, name: string): string | undefined {
  const found = process.env.PATH?.split(':')
    .map((dir) => `${dir}/${name}`)
    .find((file) => {
      try {
        accessSync(file, constants.X_OK)
        return true
      } catch {
        return false
      }
    })
  if (found !== undefined) return found
  const message = `${name} is not installed: install it (apt-get install ${name}) to run this test`
  if (process.env.CI === 'true') t.fail(message)
  else {
    process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`)
    t.plan(0, message)
  }
  return undefined
}

/** An HTTP call with a Bearer token and a JSON body; resolves with the status and parsed body. */
export async function api(url: string, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' })
    },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as any }
}
