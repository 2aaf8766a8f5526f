// Security headers and cross-origin rules. The page loads only its own scripts and opens its
// socket to its own origin; other sites may call in only when CORS_ORIGINS names them.
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'

export interface SecurityOptions {
  config: Pick<Config, 'corsOrigins' | 'tls'>
}

export default fp(
  async function securityPlugin(fastify: FastifyInstance, { config }: SecurityOptions) {
    await fastify.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // 'self' covers ws:// and wss:// to the page's own host in current browsers.
          connectSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          // Nothing outside the page's own origin: no style or font address a script could use
          // to carry data away (helmet's defaults allow any https: one).
          styleSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          // Served over plain HTTP on a laptop or behind a TLS-terminating balancer alike.
          upgradeInsecureRequests: null
        }
      },
      // Only when this process serves TLS itself; behind a terminating proxy, the proxy sends it.
      strictTransportSecurity: config.tls === undefined ? false : { maxAge: 31_536_000, includeSubDomains: true }
    })
    if (config.corsOrigins !== undefined) {
      await fastify.register(cors, { origin: config.corsOrigins, methods: ['GET', 'POST', 'PUT', 'DELETE'] })
    }
  },
  { name: 'security' }
)
