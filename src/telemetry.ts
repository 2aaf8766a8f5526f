// OpenTelemetry bootstrap, loaded before anything else: `node --import ./dist/server/telemetry.js
// dist/server/server.js`. This module starts the SDK on import by design (the one exception to
// "importing has no side effects", besides server.ts), so instrumentations patch http, Fastify
// and ioredis before the app loads them. With no OTEL_* exporter configured it does nothing.
import { register } from 'node:module'
import { otelServiceName, tracingEnabled } from './config.js'

if (tracingEnabled()) {
  // ESM imports are patched through import-in-the-middle's loader hook.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url)
  const [{ NodeSDK }, { HttpInstrumentation }, { IORedisInstrumentation }, { FastifyOtelInstrumentation }] =
    await Promise.all([
      import('@opentelemetry/sdk-node'),
      import('@opentelemetry/instrumentation-http'),
      import('@opentelemetry/instrumentation-ioredis'),
      import('@fastify/otel')
    ])
  // Traces only: metrics are scraped from /metrics, and logs go to stdout. The SDK would
  // otherwise start OTLP metric and log exporters too (their variables default to otlp); set
  // either variable to have them.
  for (const name of ['OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']) {
    // Empty counts as unset (as in a Kubernetes env list with no value).
    if (!process.env[name]?.trim()) process.env[name] = 'none'
  }
  // Socket.IO's long-polling requests and the probes would drown the interesting spans.
  const quiet = /^\/(socket\.io\/|healthz|readyz|metrics)/
  const sdk = new NodeSDK({
    serviceName: otelServiceName(),
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (request) => quiet.test(request.url ?? '') }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        ignorePaths: ({ url }) => quiet.test(url)
      }),
      new IORedisInstrumentation()
    ]
  })
  sdk.start()
}
