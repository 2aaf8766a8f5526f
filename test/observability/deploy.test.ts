import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { readTlsPair } from '../../src/tls.js'
import { requireTool } from '../helpers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('docker-compose.yml is valid and wires the whole stack', async (t) => {
  const compose = requireTool(t, 'docker-compose')
  if (compose === undefined) return
  const run = spawnSync(compose, ['config'], { cwd: root, encoding: 'utf8' })
  t.equal(run.status, 0, `docker-compose config: ${run.stderr}`)
  for (const service of [
    'redis:',
    'chat-1:',
    'chat-2:',
    'lb:',
    'prometheus:',
    'grafana:',
    'otel-collector:',
    'tempo:'
  ]) {
    t.match(run.stdout, new RegExp(`^  ${service}`, 'm'), `the stack has ${service.slice(0, -1)}`)
  }
  t.match(run.stdout, /--enable-feature=exemplar-storage/, 'Prometheus stores exemplars')
  t.match(
    run.stdout,
    /OTEL_EXPORTER_OTLP_ENDPOINT: http:\/\/otel-collector:4318/,
    'the nodes export traces to the collector'
  )
  t.match(run.stdout, /REDIS_URL: redis:\/\/redis:6379/, 'the nodes share Redis')
  const nginx = readFileSync(`${root}/deploy/compose/nginx.conf`, 'utf8')
  t.match(nginx, /proxy_set_header Upgrade \$http_upgrade/, 'the load balancer passes WebSocket upgrades')
  t.match(nginx, /ip_hash/, 'and keeps long-polling clients on one node')
})

t.test('the Dockerfile builds on Node 20 and runs node itself, so SIGTERM reaches the drain', async (t) => {
  const dockerfile = readFileSync(`${root}/Dockerfile`, 'utf8')
  t.match(dockerfile, /^FROM node:20/m)
  t.match(dockerfile, /RUN npm ci/)
  t.match(dockerfile, /RUN npm run build/)
  t.match(dockerfile, /^USER node$/m, 'not root')
  t.match(dockerfile, /^EXPOSE 3000$/m)
  t.match(dockerfile, /HEALTHCHECK .*\/healthz/)
  t.match(dockerfile, /^CMD \["node", .*"--import", "\.\/dist\/server\/telemetry\.js", "dist\/server\/server\.js"\]$/m)
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'))
  t.ok(pkg.scripts.build, 'npm run build exists')
  for (const copied of ['src', 'client', 'scripts', 'tsconfig.build.json', '.npmrc']) {
    t.match(dockerfile, new RegExp(`COPY .*${copied.replace('.', '\\.')}`), `the build stage copies ${copied}`)
  }
})

t.test('the compose stack terminates TLS in nginx, with a self-signed certificate made at start', async (t) => {
  const compose = requireTool(t, 'docker-compose')
  if (compose === undefined) return
  const openssl = requireTool(t, 'openssl')
  if (openssl === undefined) return
  const run = spawnSync(compose, ['config'], { cwd: root, encoding: 'utf8' })
  t.equal(run.status, 0, `docker-compose config: ${run.stderr}`)
  const lb = (parse(run.stdout) as { services: Record<string, any> }).services.lb
  t.ok(
    lb.ports.some((p: { target: number }) => p.target === 443),
    'nginx publishes 443'
  )
  const volumes: string[] = lb.volumes
  const script = volumes.find((v) => v.includes('/deploy/compose/tls-self-signed.sh:'))
  t.match(script, /:\/docker-entrypoint\.d\/\d+-[\w-]+\.sh:ro$/, "the image's entrypoint runs the certificate script")
  t.ok(
    volumes.some((v) => /^lb-tls:\/etc\/nginx\/tls(:rw)?$/.test(v)),
    'the certificate is kept in a volume'
  )
  t.notOk(run.stdout.includes('TLS_CERT_FILE'), 'the nodes speak plain HTTP behind nginx')

  const nginx = readFileSync(`${root}/deploy/compose/nginx.conf`, 'utf8')
  t.match(nginx, /listen 443 ssl;/, 'nginx serves TLS')
  t.match(nginx, /ssl_certificate +\/etc\/nginx\/tls\/tls\.crt;/)
  t.match(nginx, /ssl_certificate_key +\/etc\/nginx\/tls\/tls\.key;/)
  t.match(nginx, /listen 80;\s+#[^\n]*\n\s+return 301 https:\/\/\$host:8443\$request_uri;/, 'plain HTTP only redirects')
  t.match(nginx, /add_header Strict-Transport-Security "max-age=\d+[^"]*" always;/, 'and sends HSTS')
  const tlsServer = nginx.slice(nginx.indexOf('listen 443'))
  t.match(tlsServer, /proxy_set_header Upgrade \$http_upgrade/, 'WebSocket upgrades pass through the TLS server')

  // The script itself, on this machine's openssl, into a scratch directory in place of the volume.
  const dir = mkdtempSync(join(tmpdir(), 'chat-lb-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const make = () =>
    spawnSync('sh', [`${root}/deploy/compose/tls-self-signed.sh`], {
      env: { ...process.env, TLS_DIR: dir, TLS_HOSTNAME: 'chat.example.test' },
      encoding: 'utf8'
    })
  const first = make()
  t.equal(first.status, 0, first.stderr)
  const pair = readTlsPair({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') })
  t.equal(pair.subject, 'CN=chat.example.test', 'a certificate for TLS_HOSTNAME, with its key')
  t.equal(statSync(join(dir, 'tls.key')).mode & 0o077, 0, 'the key is readable by its owner only')
  const again = make()
  t.equal(again.status, 0, again.stderr)
  t.equal(
    readTlsPair({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }).fingerprint,
    pair.fingerprint,
    'a certificate already there (mounted, or made before) is kept'
  )
})
