// The certificate and key the service serves HTTPS and WSS with (TLS_CERT_FILE, TLS_KEY_FILE):
// read and checked at boot, where a bad file stops it with one line, and again at each renewal.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ServerOptions as HttpServerOptions } from 'node:http'
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import { createSecureContext } from 'node:tls'
import { type Config, ConfigError } from './config.js'

export type TlsFiles = NonNullable<Config['tls']>

/** A certificate (with its chain, if the file has one) and its key, checked to belong together. */
export interface TlsPair {
  cert: Buffer
  key: Buffer
  /** For logs: whom the certificate names, its SHA-256 fingerprint and when it ends. */
  subject: string
  fingerprint: string
  validTo: string
}

/** Reads both files and checks them; a ConfigError names the variable whose file is wrong. */
export function readTlsPair(files: TlsFiles): TlsPair {
  const cert = readPem(files.certFile, 'TLS_CERT_FILE')
  const key = readPem(files.keyFile, 'TLS_KEY_FILE')
  let certificate: X509Certificate
  try {
    if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM block')
    certificate = new X509Certificate(cert)
  } catch {
    throw new ConfigError('TLS_CERT_FILE', `(${files.certFile}) holds no PEM certificate`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key, format: 'pem' })
  } catch {
    throw new ConfigError('TLS_KEY_FILE', `(${files.keyFile}) holds no unencrypted PEM private key`)
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError('TLS_KEY_FILE', `(${files.keyFile}) is not the key of the certificate in TLS_CERT_FILE`)
  }
  // What Node's TLS server itself refuses (a broken chain block after the first, say).
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new ConfigError('TLS_CERT_FILE', `(${files.certFile}) cannot be served: ${(err as Error).message}`)
  }
  return {
    cert,
    key,
    subject: certificate.subject.replace(/\n/g, ', '),
    fingerprint: certificate.fingerprint256,
    validTo: certificate.validTo
  }
}

function readPem(file: string, variable: 'TLS_CERT_FILE' | 'TLS_KEY_FILE'): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new ConfigError(variable, `(${file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

/**
 * Fastify's `https` option when TLS is on: Node's HTTPS server, with the HTTP server options the
 * edge sets (Fastify passes `http` to plain HTTP servers only). Off: nothing, plain HTTP.
 */
export function httpsServerOptions(
  files: TlsFiles | undefined,
  http: HttpServerOptions | null | undefined
): { https?: HttpsServerOptions } {
  if (files === undefined) return {}
  const { cert, key } = readTlsPair(files)
  return { https: { ...http, cert, key } }
}
