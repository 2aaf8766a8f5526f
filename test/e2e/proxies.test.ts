// The web client in a real browser behind proxies that refuse or hold WebSockets: long-polling instead.
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import t, { type Test } from 'tap'
import { startApp } from '../helpers.js'
import { bobSays, launch, message, person, say, storedInGeneral, transportsOf } from './browser.js'

/**
 * An HTTP proxy in front of `url` that passes requests but no WebSocket: it answers an upgrade
 * 403 ('refuse') or holds it unanswered ('hold'), as some corporate proxies do.
 */
async function proxyWithoutWebSockets(t: Test, url: string, upgrade: 'refuse' | 'hold'): Promise<string> {
  const target = new URL(url)
  const held = new Set<Duplex>()
  const proxy = createServer((req, res) => {
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      }
    )
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  proxy.on('upgrade', (_req, socket: Duplex) => {
    if (upgrade === 'refuse')
      return socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    held.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of held) socket.destroy()
    proxy.closeAllConnections()
    proxy.close()
  })
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`
}

t.test('behind a proxy that refuses WebSockets the page chats over long-polling', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const viaProxy = await proxyWithoutWebSockets(t, url, 'refuse')
  let seen: string[] = []
  const ada = await person(t, browser, viaProxy, 'Ada', undefined, (page) => (seen = transportsOf(page)))
  await bobSays(t, url, 'general', 'from Bob, direct')
  await message(ada, 'from Bob, direct').waitFor()
  await say(ada, 'from Ada, by long-polling')
  await message(ada, 'from Ada, by long-polling').waitFor()
  t.same(await storedInGeneral(t, url), ['from Bob, direct', 'from Ada, by long-polling'], 'both ways')
  t.equal(seen[0], 'websocket', 'a WebSocket was tried first')
  t.ok(seen.includes('polling'), 'then long-polling')
})

t.test(
  'behind a proxy that holds WebSockets unanswered the page falls back after the connect timeout, and starts with long-polling next time',
  async (t) => {
    const browser = await launch(t)
    if (browser === undefined) return
    const { url } = await startApp(t)
    const viaProxy = await proxyWithoutWebSockets(t, url, 'hold')
    const context = await browser.newContext()
    const page = await context.newPage()
    page.on('pageerror', (err) => t.fail(`script error: ${err.message}`))
    let seen = transportsOf(page)
    await page.goto(viaProxy)
    await page.getByLabel('Display name').fill('Ada')
    await page.getByRole('button', { name: 'Start chatting' }).click()
    // The held WebSocket ends in Socket.IO's 20 s connect timeout.
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 45_000 })
    t.equal(seen[0], 'websocket', 'a WebSocket was tried first')
    t.ok(seen.includes('polling'), 'then long-polling')
    await say(page, 'after the fallback')
    await message(page, 'after the fallback').waitFor()

    const reloaded = await context.newPage()
    seen = transportsOf(reloaded)
    await reloaded.goto(viaProxy)
    await reloaded.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
    await message(reloaded, 'after the fallback').waitFor()
    t.equal(seen[0], 'polling', 'the next page starts with long-polling instead of waiting again')
  }
)
