/// <reference lib="dom" />
// The web client in a real browser: a WebSocket first, long-polling first when told, and an upgrade that breaks.
import t from 'tap'
import { startApp, until } from '../helpers.js'
import { launch, message, person, say, storedInGeneral, transportsOf } from './browser.js'

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
