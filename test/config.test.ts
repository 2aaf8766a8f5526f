import { resolve } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults follow the contract', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    port: 3000,
    host: '0.0.0.0',
    logLevel: 'info',
    redisUrl: undefined,
    jwtSecretGenerated: true,
    guestSessions: true,
    sessionRatePerMin: 30,
    trustProxy: false,
    corsOrigins: undefined,
    historyLimit: 1000,
    userRoomMessagesPerMin: 30,
    maxMessageLength: 2000,
    messageRatePerSec: 5,
    messageBurst: 20,
    roomRatePerSec: 10,
    roomBurst: 120,
    maxConnectionsPerUser: 10,
    maxConnectionsPerAddress: 1000,
    metricsToken: undefined,
    shutdownGraceMs: 10000,
    drainTimeoutMs: 4000,
    requestTimeoutMs: 30000
  })
  t.ok(config.jwtSecret.length >= 32, 'a random secret when JWT_SECRET is unset')
  t.not(loadConfig({}).jwtSecret, config.jwtSecret, 'a new one per process')
  t.ok(config.maxFrameBytes > config.maxMessageLength * 6, 'frames well above the text limit')
})

t.test('values are read and typed', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'DEBUG',
    REDIS_URL: 'redis://localhost:6379/0',
    JWT_SECRET: 's'.repeat(32),
    GUEST_SESSIONS: 'false',
    SESSION_RATE_PER_MIN: '5',
    TRUST_PROXY: '10.0.0.0/8, 127.0.0.1, loopback, fd00::/8',
    CORS_ORIGINS: 'https://a.example.com, http://localhost:5173',
    HISTORY_LIMIT: '50',
    USER_ROOM_MESSAGES_PER_MIN: '12',
    MAX_MESSAGE_LENGTH: '500',
    MESSAGE_RATE_PER_SEC: '0.5',
    MESSAGE_BURST: '3',
    ROOM_RATE_PER_SEC: '2.5',
    ROOM_BURST: '7',
    MAX_CONNECTIONS_PER_USER: '4',
    MAX_CONNECTIONS_PER_ADDRESS: '0',
    COALESCE_WINDOW_MS: '7',
    COALESCE_MIN_SOCKETS: '8',
    MAX_BUFFERED_BYTES: '1048576',
    METRICS_TOKEN: 'scrape',
    SHUTDOWN_GRACE_MS: '2500'
  })
  t.match(config, {
    port: 8080,
    host: '127.0.0.1',
    logLevel: 'debug',
    redisUrl: 'redis://localhost:6379/0',
    jwtSecret: 's'.repeat(32),
    jwtSecretGenerated: false,
    guestSessions: false,
    sessionRatePerMin: 5,
    trustProxy: ['10.0.0.0/8', '127.0.0.1', 'loopback', 'fd00::/8'],
    corsOrigins: ['https://a.example.com', 'http://localhost:5173'],
    historyLimit: 50,
    userRoomMessagesPerMin: 12,
    maxMessageLength: 500,
    messageRatePerSec: 0.5,
    messageBurst: 3,
    roomRatePerSec: 2.5,
    roomBurst: 7,
    maxConnectionsPerUser: 4,
    maxConnectionsPerAddress: 0,
    coalesceWindowMs: 7,
    coalesceMinSockets: 8,
    maxBufferedBytes: 1048576,
    metricsToken: 'scrape',
    shutdownGraceMs: 2500,
    drainTimeoutMs: 1000,
    requestTimeoutMs: 30000
  })
  t.equal(loadConfig({ MESSAGE_RATE_PER_SEC: '0' }).messageRatePerSec, 0, '0 turns the limit off')
  t.equal(loadConfig({ USER_ROOM_MESSAGES_PER_MIN: '0' }).userRoomMessagesPerMin, 0, '0 turns the budget off')
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true, 'TRUST_PROXY=true trusts every hop')
  t.equal(loadConfig({ TRUST_PROXY: '0' }).trustProxy, false, '0 trusts no proxy')
  t.equal(loadConfig({ PORT: '  ' }).port, 3000, 'blank is unset')
})

const bad: Array<[Record<string, string>, string]> = [
  [{ PORT: 'abc' }, 'PORT'],
  [{ PORT: '70000' }, 'PORT'],
  [{ PORT: '3000.5' }, 'PORT'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
  [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
  [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
  [{ GUEST_SESSIONS: 'sometimes' }, 'GUEST_SESSIONS'],
  [{ CORS_ORIGINS: 'not a url' }, 'CORS_ORIGINS'],
  [{ CORS_ORIGINS: 'https://a.example.com/path' }, 'CORS_ORIGINS'],
  [{ HISTORY_LIMIT: '0' }, 'HISTORY_LIMIT'],
  [{ MAX_MESSAGE_LENGTH: '-5' }, 'MAX_MESSAGE_LENGTH'],
  [{ MESSAGE_RATE_PER_SEC: 'fast' }, 'MESSAGE_RATE_PER_SEC'],
  [{ MESSAGE_RATE_PER_SEC: '-1' }, 'MESSAGE_RATE_PER_SEC'],
  [{ MESSAGE_BURST: '-1' }, 'MESSAGE_BURST'],
  [{ USER_ROOM_MESSAGES_PER_MIN: '-1' }, 'USER_ROOM_MESSAGES_PER_MIN'],
  [{ USER_ROOM_MESSAGES_PER_MIN: '2.5' }, 'USER_ROOM_MESSAGES_PER_MIN'],
  [{ USER_ROOM_MESSAGES_PER_MIN: 'many' }, 'USER_ROOM_MESSAGES_PER_MIN'],
  [{ MAX_CONNECTIONS_PER_ADDRESS: '-1' }, 'MAX_CONNECTIONS_PER_ADDRESS'],
  [{ MAX_CONNECTIONS_PER_ADDRESS: 'lots' }, 'MAX_CONNECTIONS_PER_ADDRESS'],
  [{ MESSAGE_BURST: '0' }, 'MESSAGE_BURST'],
  [{ SESSION_RATE_PER_MIN: '-1' }, 'SESSION_RATE_PER_MIN'],
  [{ TRUST_PROXY: 'proxy.example.com' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '10.0.0.0/40' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '10.0.0.1/8/8' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '1' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '0.0.0.0/0' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '::/0' }, 'TRUST_PROXY'],
  [{ ROOM_RATE_PER_SEC: '-1' }, 'ROOM_RATE_PER_SEC'],
  [{ ROOM_BURST: '0' }, 'ROOM_BURST'],
  [{ MAX_CONNECTIONS_PER_USER: '0' }, 'MAX_CONNECTIONS_PER_USER'],
  [{ SHUTDOWN_GRACE_MS: '1e4' }, 'SHUTDOWN_GRACE_MS'],
  [{ TOKEN_TTL_SECONDS: '5' }, 'TOKEN_TTL_SECONDS'],
  [{ COALESCE_WINDOW_MS: '-1' }, 'COALESCE_WINDOW_MS'],
  [{ COALESCE_MIN_SOCKETS: '0' }, 'COALESCE_MIN_SOCKETS'],
  [{ MAX_BUFFERED_BYTES: '1000' }, 'MAX_BUFFERED_BYTES'],
  [{ MAX_BUFFERED_BYTES: '4MB' }, 'MAX_BUFFERED_BYTES']
]

t.test('a bad value throws a ConfigError naming the variable', async (t) => {
  for (const [env, variable] of bad) {
    t.throws(
      () => loadConfig(env),
      { name: 'ConfigError', variable, message: new RegExp(`^invalid configuration: ${variable} `) },
      `${JSON.stringify(env)} is refused`
    )
  }
  t.ok(new ConfigError('X', 'y') instanceof Error)
})

t.test('TLS_CERT_FILE and TLS_KEY_FILE come together, or not at all', async (t) => {
  t.equal(loadConfig({}).tls, undefined, 'unset: plain HTTP')
  t.same(
    loadConfig({ TLS_CERT_FILE: ' /etc/chat/tls.crt ', TLS_KEY_FILE: 'tls.key' }).tls,
    { certFile: '/etc/chat/tls.crt', keyFile: resolve('tls.key') },
    'paths trimmed, a relative one resolved against the working directory'
  )
  for (const [env, variable] of [
    [{ TLS_CERT_FILE: '/etc/chat/tls.crt' }, 'TLS_KEY_FILE'],
    [{ TLS_KEY_FILE: '/etc/chat/tls.key' }, 'TLS_CERT_FILE'],
    [{ TLS_CERT_FILE: '/etc/chat/tls.crt', TLS_KEY_FILE: ' ' }, 'TLS_KEY_FILE']
  ] as const) {
    t.throws(
      () => loadConfig(env),
      { name: 'ConfigError', variable, message: new RegExp(`^invalid configuration: ${variable} must be set with`) },
      `${JSON.stringify(env)} is refused`
    )
  }
})
