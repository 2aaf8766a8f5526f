import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import t from 'tap'
import { logDestination } from '../src/logger.js'
import { freePort } from './helpers.js'
import { startNode } from './processes.js'

const MiB = 1024 * 1024

/** A process's resident memory in bytes, from /proc. */
function residentBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024
}

/** `count` requests, 8 at a time, each logged by the node with its 14 KB URL. */
async function loggedRequests(url: string, count: number): Promise<void> {
  const pad = 'x'.repeat(14_000)
  let next = 0
  const one = async () => {
    while (next++ < count) await (await fetch(`${url}/no-such-page?pad=${pad}`)).arrayBuffer()
  }
  await Promise.all(Array.from({ length: 8 }, one))
}

/** What `exited` resolves to, or 'still running' after `ms`. */
async function exitWithin<T>(exited: Promise<T>, ms: number): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(resolve, ms, 'still running')))
  try {
    return await Promise.race([exited, late])
  } finally {
    clearTimeout(timer)
  }
}

t.test(
  'lines a stuck reader cannot take are dropped and counted past the bound; the rest go out in order once it reads',
  async (t) => {
    const written: string[] = []
    let reading = false
    let held: (() => void) | undefined
    // A reader that takes the first line and then stops, until told to read on.
    const out = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk.toString())
        if (reading) callback()
        else held = callback
      }
    })
    const logs = logDestination(out, 50)
    for (let i = 0; i < 20; i++) logs.write(`line ${i}\n`)
    t.equal(logs.dropped, 13, 'seven lines of 7 bytes fit in 50, the other 13 are counted')
    t.equal(out.writableLength, 49, 'no more than the bound waits')
    await logs.drained(10)
    t.pass('waiting for a stuck reader gives up')

    reading = true
    const drained = logs.drained(60_000)
    held?.()
    await drained
    t.same(
      written,
      Array.from({ length: 7 }, (_, i) => `line ${i}\n`),
      'the lines that fit, whole and in order'
    )
    logs.write('after\n')
    t.equal(written.at(-1), 'after\n', 'and new lines go out again')
    t.equal(logs.dropped, 13)
  }
)

t.test(
  'a node whose stdout reader stopped reading serves on in bounded memory, counts what it drops, and exits within SHUTDOWN_GRACE_MS of SIGTERM',
  async (t) => {
    const graceMs = 3000
    // A small heap, collected often, so that what is kept shows and garbage does not.
    const node = await startNode(t, await freePort(), { SHUTDOWN_GRACE_MS: String(graceMs) }, [
      '--max-old-space-size=128'
    ])
    node.proc.stdout!.pause()
    // Enough to fill the pipe and bring the heap to its working size, then 56 MB of log lines.
    await loggedRequests(node.url, 1000)
    const before = residentBytes(node.proc.pid!)
    await loggedRequests(node.url, 4000)
    const grown = residentBytes(node.proc.pid!) - before
    t.ok(grown < 24 * MiB, `memory stays bounded while the reader is stuck (grew ${(grown / MiB).toFixed(1)} MiB)`)
    const metrics = await (await fetch(`${node.url}/metrics`)).text()
    const dropped = Number(/^chat_log_lines_dropped_total (\d+)/m.exec(metrics)?.[1])
    t.ok(dropped > 8000, `the lines that did not fit are counted (${dropped})`)

    node.proc.kill('SIGTERM')
    // A margin for a loaded machine: before the fix, the process never exited.
    t.equal(await exitWithin(node.exited, graceMs + 7000), 0, 'exit 0 within SHUTDOWN_GRACE_MS')
  }
)

t.test(
  'a logger that blocks the exit (a synchronous flush into a full pipe) holds the process no longer than SHUTDOWN_GRACE_MS',
  async (t) => {
    const graceMs = 3000
    // Loaded before the server: at exit, the main thread waits forever, as pino's flush did.
    const blockAtExit = "process.on('exit', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0))"
    const node = await startNode(t, await freePort(), { SHUTDOWN_GRACE_MS: String(graceMs) }, [
      `--import=data:text/javascript,${encodeURIComponent(blockAtExit)}`
    ])
    node.proc.kill('SIGTERM')
    t.not(await exitWithin(node.exited, graceMs + 7000), 'still running', 'the process ended by the deadline')
    t.equal(node.proc.signalCode, 'SIGKILL', 'killed from its watchdog thread, the main thread being stuck')
  }
)
