// Certificate renewals without a restart: the TLS files are watched, and a changed pair that is
// good replaces the one served (new handshakes get it; open connections keep theirs). A pair
// that is not good (half written, mismatched) is logged and the previous one stays.
import { unwatchFile, watchFile } from 'node:fs'
import type { Server as TlsServer } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ConfigError } from '../config.js'
import { readTlsPair, type TlsFiles } from '../tls.js'

export interface TlsReloadOptions {
  files: TlsFiles
  /** How often the files are checked (a stat each). */
  intervalMs?: number
}

/** After a change, wait this long for more (a renewal writes the certificate, then the key). */
const SETTLE_MS = 250

export default fp(
  async function tlsReload(fastify: FastifyInstance, { files, intervalMs = 1000 }: TlsReloadOptions) {
    // buildApp made Fastify an HTTPS server (src/tls.ts), typed as a plain HTTP one.
    const server = fastify.server as unknown as TlsServer
    if (typeof server.setSecureContext !== 'function') throw new Error('tls-reload needs an HTTPS server')
    let served = readTlsPair(files)
    let settle: NodeJS.Timeout | undefined
    fastify.log.info(
      { event: 'tls', subject: served.subject, fingerprint: served.fingerprint, validTo: served.validTo },
      'serving HTTPS and WSS'
    )

    function reload(): void {
      settle = undefined
      let pair: typeof served
      try {
        pair = readTlsPair(files)
      } catch (err) {
        const reason = err instanceof ConfigError ? err.message.replace(/^invalid configuration: /, '') : String(err)
        fastify.log.error(
          { event: 'tls_reload_failed', reason, serving: served.fingerprint },
          'TLS files changed but cannot be served: keeping the previous certificate'
        )
        return
      }
      if (pair.cert.equals(served.cert) && pair.key.equals(served.key)) return
      server.setSecureContext({ cert: pair.cert, key: pair.key })
      served = pair
      fastify.log.info(
        { event: 'tls_reloaded', subject: pair.subject, fingerprint: pair.fingerprint, validTo: pair.validTo },
        'TLS certificate reloaded'
      )
    }
    function changed(): void {
      clearTimeout(settle)
      settle = setTimeout(reload, SETTLE_MS).unref()
    }

    // A stat through the path, so a symlink swapped to a new file (a Kubernetes Secret volume,
    // certbot's live/ directory) counts as a change as well as a file written in place.
    const watch = { persistent: false, interval: intervalMs }
    watchFile(files.certFile, watch, changed)
    watchFile(files.keyFile, watch, changed)
    fastify.addHook('onClose', async function stopWatching() {
      unwatchFile(files.certFile, changed)
      unwatchFile(files.keyFile, changed)
      clearTimeout(settle)
    })
  },
  { name: 'tls-reload' }
)
