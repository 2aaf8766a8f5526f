// The only reader of process.env. Every variable is parsed and checked once, here, so the rest
// of the code gets one typed object and a bad value stops the boot with a line naming it.
import { createPublicKey, randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import ipaddr from 'ipaddr.js'

export interface Config {
  port: number
  host: string
  logLevel: string
  redisUrl: string | undefined
  jwtSecret: string
  /** True when JWT_SECRET was unset and a per-process secret was generated. */
  jwtSecretGenerated: boolean
  tokenTtlSeconds: number
  /** Tokens from the operator's identity provider (JWT_JWKS_URL or JWT_PUBLIC_KEY); undefined: HS256 only. */
  identityProvider: IdentityProviderConfig | undefined
  guestSessions: boolean
  /** Guest sign-ins per minute from one client address (0: no limit). */
  sessionRatePerMin: number
  /** Fastify's `trustProxy`: which proxies' X-Forwarded-For gives the client's address. */
  trustProxy: boolean | string[]
  corsOrigins: string[] | undefined
  historyLimit: number
  /** Messages one user may add to one room per minute, across connections and nodes (0: no budget). */
  userRoomMessagesPerMin: number
  maxMessageLength: number
  /** Largest Socket.IO frame accepted; a bigger one closes that connection only. */
  maxFrameBytes: number
  messageRatePerSec: number
  messageBurst: number
  roomRatePerSec: number
  roomBurst: number
  maxConnectionsPerUser: number
  /** Connections one client address (an IPv6 /64) may hold open on a node (0: no limit). */
  maxConnectionsPerAddress: number
  /** The longest a message in a busy room waits to go out with others in one `messages` packet; 0 sends each alone. */
  coalesceWindowMs: number
  coalesceMinSockets: number
  /** Output a connection may have waiting (unread by its client) before it is cut off. */
  maxBufferedBytes: number
  metricsToken: string | undefined
  shutdownGraceMs: number
  /** Derived: the longest each of the drain's two waits (answers, then closes) may take. */
  drainTimeoutMs: number
  /** The longest a request may take to arrive whole (headers and body); then 408. */
  requestTimeoutMs: number
  /** PEM files to serve HTTPS and WSS with (read again when they change); unset: plain HTTP. */
  tls: { certFile: string; keyFile: string } | undefined
}

/** Algorithms an identity provider's tokens may use (never HS*: those are the service's own). */
export type ProviderAlgorithm = 'RS256' | 'ES256' | 'EdDSA'

export interface IdentityProviderConfig {
  /** Where the keys come from: a JWKS fetched over HTTP, or one PEM public key and its algorithm. */
  keys: { kind: 'jwks'; url: string } | { kind: 'pem'; pem: string; algorithm: ProviderAlgorithm }
  issuer: string
  audience: string
  /** The claim holding the display name; undefined: `name`, else `preferred_username`. */
  nameClaim: string | undefined
  rolesClaim: string
  /** Least time between two JWKS fetches, so unknown `kid`s cannot make the service hammer the provider. */
  jwksCooldownMs: number
  /** Most time the JWKS is used without asking the provider again. */
  jwksRefreshMs: number
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string
  ) {
    super(`invalid configuration: ${variable} ${detail}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got ${JSON.stringify(raw)}`)
  const value = Number(raw)
  if (value < min || value > max) {
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${raw}`)
  }
  return value
}

function number(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value)) throw new ConfigError(name, `must be a number, got ${JSON.stringify(raw)}`)
  if (value < min || value > max) {
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${raw}`)
  }
  return value
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name)?.toLowerCase()
  if (raw === undefined) return fallback
  if (['true', '1', 'yes', 'on'].includes(raw)) return true
  if (['false', '0', 'no', 'off'].includes(raw)) return false
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`)
}

function origins(env: Env, name: string): string[] | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  return raw.split(',').map((entry) => {
    const origin = entry.trim()
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      throw new ConfigError(name, `has an entry that is not an origin: ${JSON.stringify(origin)}`)
    }
    if (url.origin !== origin.replace(/\/$/, '') || !/^https?:$/.test(url.protocol)) {
      throw new ConfigError(name, `entries must look like https://chat.example.com, got ${JSON.stringify(origin)}`)
    }
    return url.origin
  })
}

/** http:// is for a provider inside a private network (`keycloak:8080`, 10.0.0.5); others need https://. */
function privateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '')
  if (ipaddr.isValid(host))
    return ['private', 'loopback', 'uniqueLocal', 'linkLocal'].includes(ipaddr.parse(host).range())
  return !host.includes('.') || /\.(local|internal|localhost|svc|cluster\.local)$/.test(host)
}

function jwksUrl(env: Env, name: string): string | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, 'must be a URL such as https://idp.example.com/.well-known/jwks.json')
  }
  if (url.protocol === 'http:' && !privateHost(url.hostname)) {
    throw new ConfigError(name, 'must be https:// (http:// only for a host inside a private network)')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(name, 'must be an https:// URL')
  return url.href
}

/** A PEM public key (`\n` escapes allowed, as env files write them) and the algorithm its type implies. */
function publicKey(env: Env, name: string): { pem: string; algorithm: ProviderAlgorithm } | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  const pem = raw.replace(/\\n/g, '\n')
  let key: ReturnType<typeof createPublicKey>
  try {
    key = createPublicKey(pem)
  } catch {
    throw new ConfigError(name, 'must be a PEM public key (-----BEGIN PUBLIC KEY-----...)')
  }
  // createPublicKey takes a private key too (and derives its public half): a secret in the wrong place.
  if (/PRIVATE KEY/.test(pem)) throw new ConfigError(name, 'must be a public key, not a private key')
  const { asymmetricKeyType: type, asymmetricKeyDetails: details } = key
  const spki = key.export({ type: 'spki', format: 'pem' }).toString()
  if (type === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return { pem: spki, algorithm: 'RS256' }
  if (type === 'ec' && details?.namedCurve === 'prime256v1') return { pem: spki, algorithm: 'ES256' }
  if (type === 'ed25519') return { pem: spki, algorithm: 'EdDSA' }
  throw new ConfigError(
    name,
    'must be an RSA key of at least 2048 bits (RS256), a P-256 key (ES256) or an Ed25519 key (EdDSA)'
  )
}

function claimName(env: Env, name: string): string | undefined {
  const raw = read(env, name)
  if (raw !== undefined && raw.length > 256)
    throw new ConfigError(name, 'must be a claim name of at most 256 characters')
  return raw
}

function identityProvider(env: Env): IdentityProviderConfig | undefined {
  const url = jwksUrl(env, 'JWT_JWKS_URL')
  const pem = publicKey(env, 'JWT_PUBLIC_KEY')
  const issuer = read(env, 'JWT_ISSUER')
  const audience = read(env, 'JWT_AUDIENCE')
  const nameClaim = claimName(env, 'JWT_NAME_CLAIM')
  const rolesClaim = claimName(env, 'JWT_ROLES_CLAIM') ?? 'roles'
  if (url !== undefined && pem !== undefined) {
    throw new ConfigError('JWT_PUBLIC_KEY', 'and JWT_JWKS_URL are both set; set one of them')
  }
  if (url === undefined && pem === undefined) {
    for (const variable of ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_NAME_CLAIM', 'JWT_ROLES_CLAIM']) {
      if (read(env, variable) !== undefined) {
        throw new ConfigError(variable, 'is set, but neither JWT_JWKS_URL nor JWT_PUBLIC_KEY is')
      }
    }
    return undefined
  }
  // Without both, any token the provider signs for any client of it would be taken for this service's.
  if (issuer === undefined) throw new ConfigError('JWT_ISSUER', 'is required with JWT_JWKS_URL or JWT_PUBLIC_KEY')
  if (audience === undefined) throw new ConfigError('JWT_AUDIENCE', 'is required with JWT_JWKS_URL or JWT_PUBLIC_KEY')
  return {
    keys:
      url !== undefined
        ? { kind: 'jwks', url }
        : { kind: 'pem', ...(pem as { pem: string; algorithm: ProviderAlgorithm }) },
    issuer,
    audience,
    nameClaim,
    rolesClaim,
    jwksCooldownMs: 30_000,
    jwksRefreshMs: 3_600_000
  }
}

/** Named ranges that proxy-addr (behind Fastify's `trustProxy`) understands. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']

/**
 * false (no proxy: the peer's address is the client's), true (trust every hop), or the proxies'
 * addresses and CIDR ranges, comma-separated. No hop counts: a count trusts whoever connects,
 * so a client reaching the node directly could name any address (Fastify refuses them too).
 */
function trustProxy(env: Env, name: string): boolean | string[] {
  const raw = read(env, name)
  if (raw === undefined) return false
  const lower = raw.toLowerCase()
  if (['true', 'yes', 'on'].includes(lower)) return true
  if (['false', 'no', 'off', '0'].includes(lower)) return false
  if (/^\d+$/.test(raw)) {
    throw new ConfigError(
      name,
      "takes the proxies' addresses or CIDR ranges, not a count of hops (a count would trust any peer)"
    )
  }
  return raw.split(',').map((entry) => {
    const value = entry.trim()
    const [address = '', prefix, extra] = value.split('/')
    const family = isIP(address)
    // At least /1: a /0 range is every address (say `true`), and proxy-addr refuses it.
    const prefixOk =
      prefix === undefined ||
      (/^\d+$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (family === 6 ? 128 : 32))
    if (PROXY_RANGES.includes(value.toLowerCase())) return value.toLowerCase()
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(
        name,
        `entries must be addresses, CIDR ranges or ${PROXY_RANGES.join('/')}, got ${JSON.stringify(value)}`
      )
    }
    return value
  })
}

function redisUrl(env: Env, name: string): string | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, 'must be a URL such as redis://localhost:6379')
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(name, `must start with redis:// or rediss://, got ${url.protocol}//`)
  }
  return raw
}

/** Both files or neither; their contents are checked when the server is made (src/tls.ts). */
function tlsFiles(env: Env): Config['tls'] {
  const certFile = read(env, 'TLS_CERT_FILE')
  const keyFile = read(env, 'TLS_KEY_FILE')
  if (certFile === undefined && keyFile === undefined) return undefined
  if (certFile === undefined) throw new ConfigError('TLS_CERT_FILE', 'must be set with TLS_KEY_FILE (both or neither)')
  if (keyFile === undefined) throw new ConfigError('TLS_KEY_FILE', 'must be set with TLS_CERT_FILE (both or neither)')
  return { certFile: resolve(certFile), keyFile: resolve(keyFile) }
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = read(env, 'LOG_LEVEL')?.toLowerCase() ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`)
  }
  const secret = read(env, 'JWT_SECRET')
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes long (HS256 needs a strong secret)')
  }
  const maxMessageLength = int(env, 'MAX_MESSAGE_LENGTH', 2000, 1, 100_000)
  const shutdownGraceMs = int(env, 'SHUTDOWN_GRACE_MS', 10_000, 100, 600_000)
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: read(env, 'HOST') ?? '0.0.0.0',
    logLevel,
    redisUrl: redisUrl(env, 'REDIS_URL'),
    jwtSecret: secret ?? randomBytes(32).toString('base64url'),
    jwtSecretGenerated: secret === undefined,
    tokenTtlSeconds: int(env, 'TOKEN_TTL_SECONDS', 86_400, 60, 31_536_000),
    identityProvider: identityProvider(env),
    guestSessions: bool(env, 'GUEST_SESSIONS', true),
    sessionRatePerMin: int(env, 'SESSION_RATE_PER_MIN', 30, 0, 1_000_000),
    trustProxy: trustProxy(env, 'TRUST_PROXY'),
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    historyLimit: int(env, 'HISTORY_LIMIT', 1000, 1, 1_000_000),
    // Above what anyone types (a burst of 30, then one every 2 s), and pushing a full history
    // of 1,000 out of a room takes one user half an hour instead of seconds.
    userRoomMessagesPerMin: int(env, 'USER_ROOM_MESSAGES_PER_MIN', 30, 0, 1_000_000),
    maxMessageLength,
    // A character can take up to 6 bytes once JSON-escaped (\uXXXX); leave room for the envelope.
    maxFrameBytes: Math.max(64 * 1024, maxMessageLength * 6 + 4096),
    messageRatePerSec: number(env, 'MESSAGE_RATE_PER_SEC', 5, 0, 1_000_000),
    messageBurst: int(env, 'MESSAGE_BURST', 20, 1, 1_000_000),
    roomRatePerSec: number(env, 'ROOM_RATE_PER_SEC', 10, 0, 1_000_000),
    // More than the rooms a connection may be in, so a client rejoining all of them after a
    // reconnect never waits.
    roomBurst: int(env, 'ROOM_BURST', 120, 1, 1_000_000),
    maxConnectionsPerUser: int(env, 'MAX_CONNECTIONS_PER_USER', 10, 1, 10_000),
    // Room for an office or a mobile carrier behind one address; a bound on what one machine
    // can hold open with guest identities made at the sign-in limit.
    maxConnectionsPerAddress: int(env, 'MAX_CONNECTIONS_PER_ADDRESS', 1000, 0, 1_000_000),
    coalesceWindowMs: int(env, 'COALESCE_WINDOW_MS', 3, 0, 1000),
    coalesceMinSockets: int(env, 'COALESCE_MIN_SOCKETS', 32, 1, 1_000_000),
    maxBufferedBytes: int(env, 'MAX_BUFFERED_BYTES', 4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    metricsToken: read(env, 'METRICS_TOKEN'),
    shutdownGraceMs,
    // The drain waits twice (answers, then closing connections), each at most 40% of the grace
    // period, which leaves a fifth of it for closing the rest and exiting.
    drainTimeoutMs: Math.floor(shutdownGraceMs * 0.4),
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
    tls: tlsFiles(env)
  }
}

/**
 * Whether traces are exported, by the standard OpenTelemetry variables (the SDK reads the rest
 * of them itself): an OTLP endpoint or an explicit exporter turns tracing on, and
 * OTEL_SDK_DISABLED=true turns it off. With none set, no SDK starts and nothing is exported.
 */
export function tracingEnabled(env: Env = process.env): boolean {
  if (read(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return false
  const exporter = read(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase()
  if (exporter !== undefined) return exporter !== 'none'
  return (
    read(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined ||
    read(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined
  )
}

/**
 * The service name for the SDK to set: `chat-service` unless the standard variables name one
 * (OTEL_SERVICE_NAME, or service.name in OTEL_RESOURCE_ATTRIBUTES), which the SDK then reads
 * itself; undefined in that case, since a name given to the SDK would win over theirs.
 */
export function otelServiceName(env: Env = process.env): string | undefined {
  if (read(env, 'OTEL_SERVICE_NAME') !== undefined) return undefined
  const attributes = read(env, 'OTEL_RESOURCE_ATTRIBUTES') ?? ''
  return attributes.split(',').some((pair) => pair.split('=')[0]?.trim() === 'service.name')
    ? undefined
    : 'chat-service'
}
