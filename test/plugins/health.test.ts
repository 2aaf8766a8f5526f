import t from 'tap'
import { buildApp } from '../../src/app.js'
import { MemoryStore } from '../../src/chat/store/memory-store.js'
import { startApp, testConfig } from '../helpers.js'

t.test('/healthz and /readyz answer once listening', async (t) => {
  const { url } = await startApp(t)
  const health = await fetch(`${url}/healthz`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const ready = await fetch(`${url}/readyz`)
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', checks: { server: 'ready', store: 'ok' } })
})

t.test('/readyz is 503 while starting and while the store is unreachable; /healthz stays 200', async (t) => {
  const store = new MemoryStore(10)
  let down = false
  store.ping = async () => {
    if (down) throw new Error('store down')
  }
  const app = await buildApp(testConfig(), { logger: false, store })
  t.teardown(() => app.close())
  const starting = await app.inject('/readyz')
  t.equal(starting.statusCode, 503)
  t.same(starting.json(), { status: 'not_ready', checks: { server: 'starting', store: 'ok' } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.equal((await app.inject('/readyz')).statusCode, 200)
  down = true
  const unreachable = await app.inject('/readyz')
  t.equal(unreachable.statusCode, 503)
  t.same(unreachable.json(), { status: 'not_ready', checks: { server: 'ready', store: 'unreachable' } })
  t.equal((await app.inject('/healthz')).statusCode, 200, 'liveness checks no dependency')
  down = false
  t.equal((await app.inject('/readyz')).statusCode, 200, 'ready again once the store answers')
})

t.test('a store that hangs counts as unreachable, without hanging the probe', async (t) => {
  const store = new MemoryStore(10)
  store.ping = () => new Promise(() => {})
  const app = await buildApp(testConfig(), { logger: false, store })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.equal(res.json().checks.store, 'unreachable')
})
