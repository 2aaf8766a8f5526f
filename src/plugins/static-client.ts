// The web client, built by `npm run build` into dist/client and served at `/`.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** The project root, found the same way from src/ (tests, tsx) and from dist/ (npm start). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
  return dir
}

export const clientDir = join(projectRoot(), 'dist', 'client')

export default fp(
  async function staticClientPlugin(fastify: FastifyInstance) {
    if (!existsSync(join(clientDir, 'index.html'))) {
      fastify.log.warn({ clientDir }, 'the web client is not built: run `npm run build`')
    }
    await fastify.register(fastifyStatic, { root: clientDir, prefix: '/', wildcard: false, index: 'index.html' })
  },
  { name: 'static-client' }
)
