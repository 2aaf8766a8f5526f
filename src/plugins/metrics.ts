// Prometheus metrics: the registry, the HTTP request histogram, and GET /metrics (OpenMetrics,
// with exemplars, for a scraper that asks for it; the classic text format otherwise).
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { ChatError } from '../errors.js'
import { type ChatMetrics, CONTENT_TYPE, createMetrics, render } from '../metrics.js'
import { bearer } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ChatMetrics
  }
}

/** With REDIS_URL, chat_redis_up is kept; with METRICS_TOKEN, a scrape needs it as a Bearer token. */
export interface MetricsOptions {
  config: Pick<Config, 'metricsToken' | 'redisUrl'>
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

export default fp(
  async function metricsPlugin(fastify: FastifyInstance, { config }: MetricsOptions) {
    const metrics = createMetrics({ redis: config.redisUrl !== undefined })
    fastify.decorate('metrics', metrics)

    fastify.addHook('onResponse', async function observeRequest(request: FastifyRequest, reply: FastifyReply) {
      // The route pattern, never the raw URL: `/api/rooms`, not a path with ids in it.
      const route = request.routeOptions.url ?? 'unmatched'
      metrics.httpDuration.observe(
        { method: request.method, route, status_code: String(reply.statusCode) },
        reply.elapsedTime / 1000
      )
    })

    fastify.get('/metrics', { logLevel: 'warn' }, async function scrape(request, reply) {
      if (config.metricsToken !== undefined && !sameSecret(bearer(request), config.metricsToken)) {
        throw new ChatError('UNAUTHORIZED', 'A valid metrics token is required')
      }
      const openMetrics = /application\/openmetrics-text/.test(request.headers.accept ?? '')
      reply.header('content-type', openMetrics ? CONTENT_TYPE.openMetrics : CONTENT_TYPE.text)
      return render(metrics.registry, openMetrics)
    })
  },
  { name: 'metrics', dependencies: ['auth'] }
)
