// buildApp(config) assembles the service from its plugins, in order. Importing this module does
// nothing; only server.ts listens.
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { HandlerHooks } from './chat/socket-handlers.js'
import type { ChatStore } from './chat/store/parts.js'
import type { Config } from './config.js'
import { type LogDestination, logDestination } from './logger.js'
import authPlugin from './plugins/auth.js'
import healthPlugin from './plugins/health.js'
import httpEdgePlugin, { edgeServerOptions } from './plugins/http-edge.js'
import metricsPlugin from './plugins/metrics.js'
import securityPlugin from './plugins/security.js'
import socketPlugin, { SOCKET_PATH } from './plugins/socket-io.js'
import staticClientPlugin from './plugins/static-client.js'
import storePlugin from './plugins/store.js'
import tlsReloadPlugin from './plugins/tls.js'
import directRoutes from './routes/direct.js'
import memberRoutes from './routes/members.js'
import roomRoutes from './routes/rooms.js'
import sessionRoutes from './routes/session.js'
import { httpsServerOptions } from './tls.js'

export interface BuildOptions {
  /** Fastify's logger option; defaults to pino at the configured level. */
  logger?: FastifyServerOptions['logger']
  /** Extra handler hooks (tests observe events through them). */
  hooks?: Partial<HandlerHooks>
  store?: ChatStore
}

/** pino at the configured level, writing to `stream` (stdout, never blocking: see logger.ts). */
export function loggerOptions(
  config: Config,
  stream: LogDestination = logDestination()
): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    stream,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.token'], censor: '[redacted]' }
  }
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const edge = edgeServerOptions(config)
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    ...edge,
    ...httpsServerOptions(config.tls, edge.http)
  })
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  await app.register(httpEdgePlugin, { socketPath: SOCKET_PATH })
  if (config.tls !== undefined) await app.register(tlsReloadPlugin, { files: config.tls })

  if (config.jwtSecretGenerated) {
    app.log.warn('JWT_SECRET is not set: using a random secret for this process (fine for one node, wrong for several)')
  }
  await app.register(securityPlugin, { config })
  await app.register(authPlugin, { config })
  await app.register(metricsPlugin, { config })
  await app.register(storePlugin, {
    redisUrl: config.redisUrl,
    historyLimit: config.historyLimit,
    userRoomMessagesPerMin: config.userRoomMessagesPerMin,
    store: options.store
  })
  // Ready once the store answers and the revocation list was read from it.
  await app.register(healthPlugin, {
    pingStore: async () => {
      await app.store.ping()
      await app.lifetimes.ready
    }
  })
  await app.register(socketPlugin, { config, store: app.store, adapter: app.clusterAdapter, hooks: options.hooks })
  await app.register(sessionRoutes, { config, redis: app.redisClient })
  await app.register(roomRoutes)
  await app.register(memberRoutes)
  await app.register(directRoutes)
  await app.register(staticClientPlugin)
  return app
}
