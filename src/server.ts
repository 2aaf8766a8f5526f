// The only file that listens, reads signals and exits: config → app → listen → drain on signal.
import { Worker } from 'node:worker_threads'
import { trace } from '@opentelemetry/api'
import closeWithGrace from 'close-with-grace'
import { buildApp, loggerOptions } from './app.js'
import { type Config, ConfigError, loadConfig } from './config.js'
import { logDestination } from './logger.js'

/** A bad variable, or a file one names (TLS_CERT_FILE), stops the boot with one line. */
async function orExit<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
}

const config: Config = await orExit(() => loadConfig())
const logs = logDestination()
const app = await orExit(() => buildApp(config, { logger: loggerOptions(config, logs) }))
app.metrics.logLinesDroppedWith(() => logs.dropped)

closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async function shutdown({ signal, err }) {
  exitAnywayAfter(config.shutdownGraceMs)
  if (err) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'draining before exit')
  await app.close()
  await flushTraces()
  app.log.info('closed')
  // The last lines, for a reader that is slow but reading; one that is stuck costs them only.
  await logs.drained(Math.floor(config.shutdownGraceMs / 10))
})

/**
 * Kills the process `ms` from now whatever its main thread is doing, from a thread of its own:
 * a synchronous write into a full pipe (a logger's flush at exit) stops every timer here.
 * close-with-grace's timer, set first for the same deadline, exits (code 1) when it can run.
 */
function exitAnywayAfter(ms: number): void {
  const code =
    "const { workerData: w } = require('node:worker_threads'); setTimeout(() => process.kill(w.pid, 'SIGKILL'), w.ms)"
  new Worker(code, { eval: true, workerData: { pid: process.pid, ms }, execArgv: [] }).unref()
}

/** Exports the spans still buffered, when telemetry.ts started an SDK. */
async function flushTraces(): Promise<void> {
  const proxy = trace.getTracerProvider() as { getDelegate?: () => { shutdown?: () => Promise<void> } }
  await proxy.getDelegate?.().shutdown?.()
}

try {
  await app.listen({ port: config.port, host: config.host })
} catch (err) {
  app.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
