// Real service processes (the built dist/), and a TCP load balancer in front of them, for the
// shutdown and cluster tests.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort, TEST_SECRET } from './helpers.js'

export { untilReady } from './helpers.js'

export const serverEntry = fileURLToPath(new URL('../dist/server/server.js', import.meta.url))

export interface Node {
  port: number
  url: string
  proc: ChildProcess
  logs: Array<Record<string, any>>
  exited: Promise<number | null>
}

/** Starts `node dist/server/server.js` on `port` and resolves once it listens. */
export async function startNode(
  t: Test,
  port: number,
  env: Record<string, string> = {},
  nodeArgs: string[] = []
): Promise<Node> {
  const proc = spawn(process.execPath, [...nodeArgs, serverEntry], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    // Without the per-user room budget unless a test sets it, as testConfig.
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: 'info',
      USER_ROOM_MESSAGES_PER_MIN: '0',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(proc, 'exit').then(([code]) => code as number | null)
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  const logs: Array<Record<string, any>> = []
  let buffered = ''
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line))
  })
  let stderr = ''
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const url = `http://127.0.0.1:${port}`
  // Listening is when /healthz answers (the log level may hide the "listening" line).
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode} before listening: ${stderr}`)
    const up = await fetch(`${url}/healthz`).then(
      async (r) => {
        await r.arrayBuffer()
        return r.ok
      },
      () => false
    )
    if (up) break
    await new Promise((r) => setTimeout(r, 25))
  }
  return { port, url, proc, logs, exited }
}

/**
 * A TCP load balancer on 127.0.0.1: each new connection goes to the next backend that accepts
 * it, as a balancer skips a dead node. WebSocket-only clients need no stickiness.
 */
export async function startBalancer(t: Test, backends: number[]): Promise<{ url: string }> {
  let next = 0
  const open = new Set<Socket>()
  const server = createServer((downstream) => {
    open.add(downstream)
    downstream.on('close', () => open.delete(downstream))
    downstream.on('error', () => downstream.destroy())
    downstream.pause()
    const tryBackend = (attempt: number) => {
      if (attempt >= backends.length) return downstream.destroy()
      const port = backends[next++ % backends.length]!
      const upstream = createConnection({ port, host: '127.0.0.1' })
      upstream.once('error', () => {
        upstream.destroy()
        tryBackend(attempt + 1)
      })
      upstream.once('connect', () => {
        upstream.removeAllListeners('error')
        upstream.on('error', () => downstream.destroy())
        downstream.on('close', () => upstream.destroy())
        upstream.on('close', () => downstream.destroy())
        downstream.pipe(upstream)
        upstream.pipe(downstream)
        downstream.resume()
      })
    }
    tryBackend(0)
  })
  const port = await freePort()
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of open) socket.destroy()
    server.close()
  })
  return { url: `http://127.0.0.1:${port}` }
}
