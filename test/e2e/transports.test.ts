/// <reference lib="dom" />
// The web client in a real browser: WebSocket first, long-polling behind proxies that refuse or hold WebSockets.
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { startApp, until } from '../helpers.js'
import { bobSays, launch, message, person, say, storedInGeneral } from './browser.js'

/** Socket.IO requests a page made, by transport, in order. */
function transportsOf(page: Page): string[] {
  const seen: string[] = []
  page.on('request', (r) => {
    const transport = /\/socket\.io\/\?.*transport=(\w+)/.exec(r.url())?.[1]
    if (transport !== undefined) seen.push(transport)
  })
  page.on('websocket', (ws) => ws.url().includes('/socket.io/') && seen.push('websocket'))
  return seen
}

/**
 * An HTTP proxy in front of `url` that passes requests but no WebSocket: it answers an upgrade
 * 403 ('refuse') or holds it unanswered ('hold'), as some corporate proxies do.
 */
async function proxyWithoutWebSockets(t: Test, url: string, upgrade: 'refuse' | 'hold'): Promise<string> {
  const target = new URL(url)
  const held = new Set<Duplex>()
  const proxy = createServer((req, res) => {
    const forward = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  proxy.on('upgrade', (_req, socket: Duplex) => {
    if (upgrade === 'refuse') return socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
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

t.test('a page connects over a WebSocket straight away, with no long-polling before it', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  let seen: string[] = []
  const ada = await person(t, browser, url, 'Ada', undefined, (page) => (seen = transportsOf(page)))
  await say(ada, 'over a WebSocket')
  await message(ada, 'over a WebSocket').waitFor()
  t.same(seen, ['websocket'], 'one WebSocket, no long-polling request')

  // A browser told to start with long-polling (a WebSocket once timed out) upgrades, and
  // forgets that once the upgrade worked.
  await ada.evaluate(() => localStorage.setItem('chat.polling-first-until', String(Date.now() + 3_600_000)))
  seen.length = 0
  await ada.reload()
  await ada.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  await ada.waitForFunction(() => localStorage.getItem('chat.polling-first-until') === null)
  t.equal(seen[0], 'polling', 'long-polling first')
  t.ok(seen.includes('websocket'), 'then the upgrade')
})

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

t.test('behind a proxy that holds WebSockets unanswered the page falls back after the connect timeout, and starts with long-polling next time', async (t) => {
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
})

t.test('a WebSocket upgrade that fails after its probe was answered does not leave the page stuck', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { app, url } = await startApp(t)
  let probes = 0
  const ada = await person(t, browser, url, 'Ada', undefined, async (page) => {
    // Long-polling first, as after a proxy held a WebSocket: the page upgrades.
    await page.addInitScript(() => localStorage.setItem('chat.polling-first-until', String(Date.now() + 3_600_000)))
    // The probe's answer reaches the page, then the WebSocket drops (a proxy, or a server
    // stalled past its upgrade timeout). engine.io-client is left with long-polling paused,
    // and without the page's own recovery nothing goes either way until the 45 s ping timeout.
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer()
      server.onMessage((data) => {
        ws.send(data)
        if (data === '3probe') {
          probes++
          void ws.close()
        }
      })
    })
  })
  await say(ada, 'after the broken upgrade')
  await message(ada, 'after the broken upgrade').waitFor({ timeout: 15_000 })
  // The stuck session closed too, not left to the server's 45 s ping timeout.
  await until(() => app.io.engine.clientsCount === 1, 15_000, 'one Engine.IO session left')
  t.same(await storedInGeneral(t, url), ['after the broken upgrade'], 'stored once')
  t.equal(probes, 1, 'the page stays on long-polling after that, instead of upgrading into it again')
})
