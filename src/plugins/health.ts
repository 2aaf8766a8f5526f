// Liveness and readiness. Liveness checks nothing but that the event loop answers; readiness says
// whether this node should get traffic: not while starting, draining, or cut off from its store.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import Type from 'typebox'

export type Phase = 'starting' | 'ready' | 'draining'

export interface Lifecycle {
  phase: Phase
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

export interface HealthOptions {
  /** Resolves when the store answers; rejects when it does not. */
  pingStore: () => Promise<void>
  /** How long a store check may take before it counts as failed. */
  storeTimeoutMs?: number
}

const Checks = Type.Record(Type.String(), Type.String())

export default fp(
  async function healthPlugin(fastify: FastifyInstance, options: HealthOptions) {
    const lifecycle: Lifecycle = { phase: 'starting' }
    fastify.decorate('lifecycle', lifecycle)
    const storeTimeoutMs = options.storeTimeoutMs ?? 1000

    fastify.addHook('onListen', async function markReady() {
      if (lifecycle.phase === 'starting') lifecycle.phase = 'ready'
    })
    // Registered before the Socket.IO plugin, so readiness flips before connections drain.
    fastify.addHook('preClose', async function markDraining() {
      lifecycle.phase = 'draining'
    })

    async function storeCheck(): Promise<string> {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), storeTimeoutMs)
      })
      try {
        await Promise.race([options.pingStore(), timeout])
        return 'ok'
      } catch {
        return 'unreachable'
      } finally {
        clearTimeout(timer)
      }
    }

    fastify.get(
      '/healthz',
      { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } }, logLevel: 'warn' },
      async function healthz() {
        return { status: 'ok' as const }
      }
    )

    fastify.get(
      '/readyz',
      {
        schema: {
          response: {
            200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
            503: Type.Object({ status: Type.Literal('not_ready'), checks: Checks })
          }
        },
        logLevel: 'warn'
      },
      async function readyz(_request, reply) {
        const checks = { server: lifecycle.phase, store: await storeCheck() }
        if (checks.server === 'ready' && checks.store === 'ok') return { status: 'ready' as const, checks }
        return reply.code(503).send({ status: 'not_ready' as const, checks })
      }
    )
  },
  { name: 'health' }
)
