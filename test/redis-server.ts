// A real redis-server for tests: on a free port, in a temporary directory, with append-only
// persistence so a restart keeps what was acknowledged. Stopped at teardown.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort, requireTool } from './helpers.js'

export interface RedisServer {
  url: string
  port: number
  /** Stops the server (SIGTERM: it saves and exits), waiting for the exit. */
  stop(): Promise<void>
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>
  /** Freezes the process (SIGSTOP) for `ms`, as a stalled host would, then lets it go on. */
  stall(ms: number): Promise<void>
}

async function waitForPort(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  const { createConnection } = await import('node:net')
  for (let i = 0; i < 500; i++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${output()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      socket.once('connect', () => {
        socket.write('PING\r\n')
        socket.once('data', (data) => {
          socket.destroy()
          resolve(data.toString().startsWith('+PONG'))
        })
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('redis-server did not answer')
}

/** Starts redis-server, or returns undefined when the test was skipped for want of it. */
export async function startRedis(t: Test): Promise<RedisServer | undefined> {
  const binary = requireTool(t, 'redis-server')
  if (binary === undefined) return undefined
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'chat-redis-'))
  let proc: ChildProcess | undefined
  let output = ''
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      proc = spawn(
        binary,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
          '--protected-mode',
          'no'
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] }
      )
      proc.stdout!.on('data', (c: Buffer) => (output += c.toString()))
      proc.stderr!.on('data', (c: Buffer) => (output += c.toString()))
      await waitForPort(port, proc, () => output)
    },
    async stall(ms) {
      proc!.kill('SIGSTOP')
      await new Promise((r) => setTimeout(r, ms))
      proc!.kill('SIGCONT')
    },
    async stop() {
      if (proc === undefined || proc.exitCode !== null) return
      const exited = once(proc, 'exit')
      proc.kill('SIGTERM')
      await exited
    }
  }
  t.teardown(async () => {
    if (proc !== undefined && proc.exitCode === null) {
      const exited = once(proc, 'exit')
      proc.kill('SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })
  await server.start()
  return server
}
