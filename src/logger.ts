// Where the log lines go: stdout, without ever blocking or piling up. A reader that stops reading
// (a stuck log shipper, `npm start | less`) costs the lines that do not fit, counted, never the
// exit: pino's own stdout destination keeps every line in memory and, at exit, retries a full
// pipe synchronously forever.
import type { Writable } from 'node:stream'

/** Bytes of log lines that may wait for a slow reader; lines beyond are dropped and counted. */
export const LOG_BUFFER_BYTES = 1024 * 1024

export interface LogDestination {
  /** pino's destination interface: one JSON line at a time. */
  write(line: string): void
  /** Lines dropped so far, because the reader was too far behind or gone. */
  readonly dropped: number
  /** Resolves once every line waiting is written, or after `ms` (the exit waits no longer). */
  drained(ms: number): Promise<void>
}

/**
 * A destination writing to `out` (process.stdout: non-blocking for a pipe or a socket, whose
 * unwritten lines Node drops at exit instead of waiting for them).
 */
export function logDestination(out: Writable = process.stdout, maxBufferedBytes = LOG_BUFFER_BYTES): LogDestination {
  let dropped = 0
  let broken = false
  let waiting = 0
  const idle: Array<() => void> = []
  const settle = () => {
    for (const resolve of idle.splice(0)) resolve()
  }
  function written(err?: Error | null) {
    if (err) broken = true
    if (--waiting === 0) settle()
  }
  // EPIPE and the like: the reader is gone, and the lines after it are dropped.
  out.on('error', function readerGone() {
    broken = true
    settle()
  })
  return {
    write(line) {
      if (broken || out.writableLength + line.length > maxBufferedBytes) {
        dropped++
        return
      }
      waiting++
      out.write(line, written)
    },
    get dropped() {
      return dropped
    },
    drained(ms) {
      if (broken || waiting === 0) return Promise.resolve()
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms)
        idle.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }
}
