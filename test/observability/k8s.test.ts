import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadConfig } from '../../src/config.js'
import { startApp } from '../helpers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const docs = (file: string) =>
  parseAllDocuments(readFileSync(`${root}/deploy/k8s/${file}`, 'utf8')).map((d) => d.toJS())

t.test('the Kubernetes manifests match the code: probe paths, ports, timings', async (t) => {
  const chat = docs('chat.yaml')
  const redis = docs('redis.yaml')
  const byKind = (kind: string, list = chat) => list.find((d) => d.kind === kind)
  const config = byKind('ConfigMap').data as Record<string, string>
  const secret = byKind('Secret').stringData as Record<string, string>
  const deployment = byKind('Deployment')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]

  // The manifest's environment is a valid configuration for the service.
  const parsed = loadConfig({ ...config, ...secret })
  t.equal(parsed.port, container.ports[0].containerPort, 'the container port is the PORT the service listens on')
  t.ok(deployment.spec.replicas >= 2, 'several replicas')

  // The probes hit routes that exist and answer as the probes expect.
  const { url } = await startApp(t)
  for (const [probe, expected] of [
    ['startupProbe', '/healthz'],
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz']
  ] as const) {
    const get = container[probe].httpGet
    t.equal(get.path, expected, `${probe} uses ${expected}`)
    t.equal(get.port, container.ports[0].name, `${probe} uses the named container port`)
    const res = await fetch(`${url}${get.path}`)
    await res.arrayBuffer()
    t.equal(res.status, 200, `${get.path} answers 200 on a healthy node`)
  }
  t.ok(
    container.livenessProbe.timeoutSeconds >= 1 && container.livenessProbe.failureThreshold >= 3,
    'liveness is not trigger-happy'
  )

  // The drain fits: preStop pause + SHUTDOWN_GRACE_MS < terminationGracePeriodSeconds.
  const preStop = container.lifecycle.preStop.exec.command
  t.same(preStop.slice(0, 1), ['sleep'])
  const pauseMs = Number(preStop[1]) * 1000
  t.ok(pauseMs > 0, 'a preStop pause')
  t.ok(
    pauseMs + parsed.shutdownGraceMs < pod.terminationGracePeriodSeconds * 1000,
    'the grace period outlasts pause plus drain'
  )

  t.ok(container.resources.requests.cpu && container.resources.requests.memory, 'resource requests')
  t.ok(container.resources.limits.cpu && container.resources.limits.memory, 'resource limits')

  // The Service reaches the container port; REDIS_URL reaches the Redis Service.
  const service = byKind('Service')
  t.equal(service.spec.ports[0].targetPort, container.ports[0].name)
  t.same(service.spec.selector, deployment.spec.selector.matchLabels)
  const redisService = byKind('Service', redis)
  const redisUrl = new URL(parsed.redisUrl!)
  t.equal(redisUrl.hostname, redisService.metadata.name, 'REDIS_URL names the Redis Service')
  t.equal(Number(redisUrl.port), redisService.spec.ports[0].port)
  const redisContainer = byKind('StatefulSet', redis).spec.template.spec.containers[0]
  const redisArgs = redisContainer.args.join(' ')
  t.match(redisArgs, /--appendonly yes/, 'Redis persists')
  // Full, Redis refuses writes rather than being OOM-killed: its maxmemory leaves room under
  // the container's limit for the fork of an AOF rewrite.
  t.match(redisArgs, /--maxmemory-policy noeviction/)
  const maxMiB = Number(/--maxmemory (\d+)mb/.exec(redisArgs)?.[1])
  const limitMiB = Number(/^(\d+)Mi$/.exec(redisContainer.resources.limits.memory)?.[1])
  t.ok(maxMiB > 0 && maxMiB <= 0.8 * limitMiB, `maxmemory ${maxMiB} MiB well under the ${limitMiB} MiB limit`)
  // Evictions (a node drain) take one replica at a time, which the others can absorb.
  const budget = byKind('PodDisruptionBudget')
  t.same(
    budget.spec.selector.matchLabels,
    deployment.spec.selector.matchLabels,
    'the disruption budget covers the replicas'
  )
  t.ok(budget.spec.maxUnavailable >= 1 && budget.spec.maxUnavailable < deployment.spec.replicas)
  t.equal(budget.spec.unhealthyPodEvictionPolicy, 'AlwaysAllow', 'unready pods (Redis away) can still be evicted')
  t.ok(
    pod.topologySpreadConstraints.some((c: { topologyKey: string }) => c.topologyKey === 'kubernetes.io/hostname'),
    'replicas spread over nodes'
  )
  for (const spec of [pod, byKind('StatefulSet', redis).spec.template.spec]) {
    t.equal(spec.securityContext.runAsNonRoot, true)
    t.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', 'Pod Security "restricted" is met')
  }
  const notes = readFileSync(`${root}/deploy/k8s/README.md`, 'utf8')
  t.match(notes, /[Ss]ticky sessions/, 'the notes explain sticky sessions')
})

t.test('the Ingress terminates TLS and carries WebSockets to the Service', async (t) => {
  const chat = docs('chat.yaml')
  const ingress = chat.find((d) => d.kind === 'Ingress')
  const service = chat.find((d) => d.kind === 'Service')
  t.equal(ingress.apiVersion, 'networking.k8s.io/v1')
  t.equal(ingress.spec.ingressClassName, 'nginx', 'written for ingress-nginx, whose annotations it uses')
  const [tls] = ingress.spec.tls
  t.match(tls.secretName, /^[a-z0-9-]+$/, 'the certificate comes from a Secret')
  const hosts = ingress.spec.rules.map((r: { host: string }) => r.host)
  t.same(tls.hosts, hosts, 'every host it routes is served over TLS')
  const notes = ingress.metadata.annotations as Record<string, string>
  t.equal(notes['nginx.ingress.kubernetes.io/ssl-redirect'], 'true', 'plain HTTP is sent to HTTPS')
  // Socket.IO pings every 25 s and waits 20 s for the answer: an idle socket must outlive that.
  for (const timeout of ['proxy-read-timeout', 'proxy-send-timeout']) {
    t.ok(Number(notes[`nginx.ingress.kubernetes.io/${timeout}`]) > 45, `${timeout} outlasts a heartbeat`)
  }
  t.equal(notes['nginx.ingress.kubernetes.io/affinity'], 'cookie', 'long-polling sessions stay on one pod')
  const backend = ingress.spec.rules[0].http.paths[0].backend.service
  t.equal(backend.name, service.metadata.name, 'it routes to the chat Service')
  t.ok(
    service.spec.ports.some((p: { name: string }) => p.name === backend.port.name),
    'on a port the Service has'
  )
  const config = chat.find((d) => d.kind === 'ConfigMap').data as Record<string, string>
  t.equal(config.TLS_CERT_FILE, undefined, 'the pods behind it speak plain HTTP')
  const readme = readFileSync(`${root}/deploy/k8s/README.md`, 'utf8')
  t.match(readme, /chat-tls/, 'the notes say how to provide the certificate')
})
