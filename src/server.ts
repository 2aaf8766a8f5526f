// The only file that listens, reads signals and exits: config → app → listen → drain on signal.
import { trace } from '@opentelemetry/api'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, type Config, loadConfig } from './config.js'

function configOrExit(): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
}

const config = configOrExit()
const app = await buildApp(config)

closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async function shutdown({ signal, err }) {
  if (err) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'draining before exit')
  await app.close()
  await flushTraces()
  app.log.info('closed')
})

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
