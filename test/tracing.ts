// In-process tracing for tests: a real SDK tracer provider with an in-memory exporter,
// registered globally for the test and removed at its end.
import { trace } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import type { Test } from 'tap'

export function inMemoryTracing(t: Test): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter()
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  provider.register()
  t.teardown(async () => {
    await provider.shutdown()
    trace.disable()
  })
  return exporter
}
