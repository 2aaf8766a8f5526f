import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
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
