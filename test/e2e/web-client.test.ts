/// <reference lib="dom" />
// The web client in a real browser: Debian's Chromium driven by playwright-core (no browser
// download), against the real service.
import { mkdirSync, mkdtempSync } from 'node:fs'
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { type Browser, chromium, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { freePort, guest, request, startApp, until } from '../helpers.js'
import { startNode, untilReady } from '../processes.js'
import { startRedis } from '../redis-server.js'
import { requireTool } from '../helpers.js'

// `npm run screenshots` refreshes the README's pictures; a plain test run keeps its own.
const screenshots =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : `${mkdtempSync(join(tmpdir(), 'chat-screenshots-'))}/`

async function launch(t: Test): Promise<Browser | undefined> {
  const executablePath = requireTool(t, 'chromium')
  if (executablePath === undefined) return undefined
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

/** A page signed in as `name`, failing the test on any script error in it. */
async function person(
  t: Test,
  browser: Browser,
  url: string,
  name: string,
  viewport = { width: 1280, height: 800 },
  beforeLoad?: (page: Page) => unknown
): Promise<Page> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  page.on('pageerror', (err) => t.fail(`script error in ${name}'s page: ${err.message}`))
  await beforeLoad?.(page)
  await page.goto(url)
  await page.getByLabel('Display name').fill(name)
  await page.getByRole('button', { name: 'Start chatting' }).click()
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  await page.getByText('1 here').or(page.getByText(/\d here/)).first().waitFor()
  return page
}

/** The texts #general holds now, read by a socket client of its own. */
async function storedInGeneral(t: Test, url: string): Promise<string[]> {
  const reader = await guest(t, url, 'Reader')
  const { messages } = await request(reader.socket, 'room:join', { room: 'general' })
  return messages.map((m: { text: string }) => m.text)
}

async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' })
  await box.fill(text)
  await box.press('Enter')
}

/** Joins (or creates) a room from the page's form. */
async function joinFromPage(page: Page, room: string): Promise<void> {
  await page.getByLabel('Join or create a room').fill(room)
  await page.getByRole('button', { name: 'Join', exact: true }).click()
}

/** Bob, a socket client, joins `room` and says `text` there. */
async function bobSays(t: Test, url: string, room: string, text: string): Promise<void> {
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room })
  await request(bob.socket, 'message:send', { room, text })
}

/** A fresh service whose #general holds `count` messages from Bob, `${prefix}1` first; its URL. */
async function generalWithHistory(t: Test, count: number, prefix: string): Promise<string> {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  for (let i = 1; i <= count; i++) await request(bob.socket, 'message:send', { room: 'general', text: `${prefix}${i}` })
  return url
}

const message = (page: Page, text: string) => page.locator('#messages .message:not(.pending) .text', { hasText: text })

/** Ada and Grace signed in to one room on a fresh service, each in her own browser context. */
async function adaAndGrace(t: Test): Promise<{ url: string; ada: Page; grace: Page } | undefined> {
  const browser = await launch(t)
  if (browser === undefined) return undefined
  const { url } = await startApp(t)
  const ada = await person(t, browser, url, 'Ada')
  const grace = await person(t, browser, url, 'Grace')
  await ada.getByText('2 here: Ada (you), Grace').waitFor()
  return { url, ada, grace }
}

t.test('two people chat both ways and see each other, typing included', async (t) => {
  const pair = await adaAndGrace(t)
  if (pair === undefined) return
  const { url, ada, grace } = pair
  t.pass('Ada sees Grace arrive')

  await say(ada, 'Hello Grace!')
  await message(grace, 'Hello Grace!').waitFor()
  await say(grace, 'Hi Ada.\nHow are you?')
  await message(ada, 'Hi Ada.').waitFor()
  t.equal(await message(ada, 'Hi Ada.').innerText(), 'Hi Ada.\nHow are you?', 'Shift+Enter-free newlines are kept as lines')
  t.equal(await ada.locator('#messages .message:not(.pending)').count(), 2, 'each message once')

  await grace.getByRole('textbox', { name: 'Message' }).pressSequentially('typing…')
  await ada.getByText('Grace is typing…').waitFor()
  t.pass('typing shows on the other side')

  // Shift+Enter breaks the line instead of sending.
  const box = ada.getByRole('textbox', { name: 'Message' })
  await box.fill('first line')
  await box.press('Shift+Enter')
  await box.pressSequentially('second line')
  t.equal(await box.inputValue(), 'first line\nsecond line')
  await box.press('Enter')
  await message(grace, 'second line').waitFor()

  await grace.getByRole('button', { name: 'Sign out' }).click()
  await ada.getByText('1 here: Ada (you)').waitFor()
  t.pass('Ada sees Grace leave')

  // Another room, with an unread count while Ada looks elsewhere.
  await joinFromPage(ada, 'random')
  await ada.getByRole('heading', { name: '#random' }).waitFor()
  await bobSays(t, url, 'general', 'psst')
  await ada.getByLabel('1 unread').waitFor()
  await ada.locator('#my-rooms').getByRole('button', { name: /#general/ }).click()
  await message(ada, 'psst').waitFor()
  t.equal(await ada.getByLabel('1 unread').count(), 0, 'reading the room clears its count')
})

t.test('someone who closes the tab while typing is shown typing no more', async (t) => {
  const pair = await adaAndGrace(t)
  if (pair === undefined) return
  const { ada, grace } = pair
  await grace.getByRole('textbox', { name: 'Message' }).pressSequentially('half a thou')
  await ada.getByText('Grace is typing…').waitFor()
  // A closed tab says nothing more, not even that it stopped typing.
  await grace.context().close()
  await ada.getByText('1 here: Ada (you)').waitFor()
  t.equal(await ada.getByText('Grace is typing…').count(), 0, 'her leaving ends her typing')
})

t.test('the session survives a reload, and older history loads on scroll', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const url = await generalWithHistory(t, 80, 'old ')
  const ada = await person(t, browser, url, 'Ada')
  await message(ada, 'old 80').waitFor()
  t.equal(await ada.locator('#messages .message .text').count(), 50, 'the latest 50 first')
  await ada.locator('#messages').evaluate((list) => (list.scrollTop = 0))
  await message(ada, 'old 1').first().waitFor()
  t.equal(await ada.locator('#messages .message .text').count(), 80, 'scrolling up loaded the older ones')

  await ada.reload()
  await ada.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  t.equal(await ada.getByLabel('Display name').isVisible(), false, 'still signed in after a reload')
  await message(ada, 'old 80').waitFor()
})

t.test('a catch-up too big for one answer shows the newest, says so, and the rest loads on scroll', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', ROOM_RATE_PER_SEC: '0' })
  const ada = await person(t, browser, url, 'Ada')
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  await request(bob.socket, 'message:send', { room: 'general', text: 'before' })
  await message(ada, 'before').waitFor()
  // While Ada is away, 150 messages of 12 KB each as JSON (control characters take 6 bytes):
  // 1.8 MB, more than one answer carries.
  await ada.context().setOffline(true)
  await ada.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
  const filler = '\u0001'.repeat(1990)
  for (let i = 1; i <= 150; i++) await request(bob.socket, 'message:send', { room: 'general', text: `m${i}:${filler}` })
  await ada.context().setOffline(false)
  await message(ada, 'm150:').waitFor({ timeout: 20_000 })
  await ada.getByText('Not every message from while you were away is shown').waitFor()
  t.ok((await ada.locator('#messages .message .text').count()) < 150, 'the newest first')
  // Scrolling up brings the rest, page by page, down to the first.
  for (let i = 0; i < 20 && (await message(ada, 'before').count()) === 0; i++) {
    await ada.locator('#messages').evaluate((list) => (list.scrollTop = 0))
    await ada.waitForTimeout(300)
  }
  await message(ada, 'before').waitFor()
  const texts = await ada.locator('#messages .message:not(.pending) .text').allInnerTexts()
  t.same(
    texts.map((text) => text.split(':')[0]),
    ['before', ...Array.from({ length: 150 }, (_, i) => `m${i + 1}`)],
    'every message once, in order'
  )
})

t.test('a rate limit is explained in words and the send retried by itself, stored once', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '1', MESSAGE_BURST: '2' })
  const ada = await person(t, browser, url, 'Ada')
  for (const text of ['one', 'two', 'three', 'four']) await say(ada, text)
  await ada.locator('#messages .status', { hasText: "You're sending too fast" }).first().waitFor()
  t.pass('the rate limit is explained in words')
  await message(ada, 'four').waitFor({ timeout: 15_000 })
  const texts = await ada.locator('#messages .message:not(.pending) .text').allInnerTexts()
  t.same(texts, ['one', 'two', 'three', 'four'], 'each sent once, in order')
  t.equal(await ada.locator('#join-error').innerText(), '', 'no stray error shown')
})

t.test('a join refused for rate is explained and retried by itself', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t, { ROOM_RATE_PER_SEC: '1', ROOM_BURST: '1' })
  // Signing in joins #general, which takes the one token there is.
  const ada = await person(t, browser, url, 'Ada')
  await joinFromPage(ada, 'random')
  await ada.locator('#join-error', { hasText: "You're joining rooms too fast" }).waitFor()
  t.pass('the refusal is explained in words')
  // Written before the room is joined: it waits for the join, rather than fail as not in the room.
  await say(ada, 'written before the join')
  await ada.locator('#join-error:empty').waitFor({ state: 'attached', timeout: 10_000 })
  t.pass('and the error goes once the join went through')
  await message(ada, 'written before the join').waitFor()
  await bobSays(t, url, 'random', 'in random')
  await message(ada, 'in random').waitFor()
  t.pass('Ada is in #random')
  t.equal(await ada.locator('#messages .pending').count(), 0, 'nothing left waiting or failed')
})

t.test('a join refused while Redis is away is tried again by itself once it is back', async (t) => {
  const browser = await launch(t)
  const redis = await startRedis(t)
  if (browser === undefined || redis === undefined) return
  const { url } = await startApp(t, { REDIS_URL: redis.url })
  const ada = await person(t, browser, url, 'Ada')
  await redis.stop()
  await joinFromPage(ada, 'random')
  await ada.locator('#join-error', { hasText: "can't take joins right now" }).waitFor()
  t.pass('the refusal is explained in words')
  await redis.start()
  await ada.locator('#join-error:empty').waitFor({ state: 'attached', timeout: 20_000 })
  await bobSays(t, url, 'random', 'Redis is back')
  await message(ada, 'Redis is back').waitFor()
  t.pass('Ada joined #random once Redis was back')
})

t.test('a message that looks like HTML is shown as text and runs nothing', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const ada = await person(t, browser, url, 'Ada')
  const grace = await person(t, browser, url, '<b>Grace</b>')
  let dialogs = 0
  grace.on('dialog', (dialog) => {
    dialogs++
    void dialog.dismiss()
  })
  const attack = '<img src=x onerror=alert(1)>'
  await say(ada, attack)
  await message(grace, attack).waitFor()
  t.equal(await message(grace, attack).innerText(), attack, 'the characters themselves')
  t.equal(await grace.locator('#messages img').count(), 0, 'no element was made from it')
  await ada.getByText('<b>Grace</b>', { exact: false }).first().waitFor()
  t.equal(await ada.locator('#members b').count(), 0, 'names are text too')
  t.equal(dialogs, 0, 'nothing ran')
})

t.test('the server restarts under an open page: it shows reconnecting, then every missed message once', async (t) => {
  const browser = await launch(t)
  const redis = await startRedis(t)
  if (browser === undefined || redis === undefined) return
  const env = { REDIS_URL: redis.url, LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '3000' }
  const port = await freePort()
  let node = await startNode(t, port, env)
  const other = await startNode(t, await freePort(), env)
  const ada = await person(t, browser, node.url, 'Ada')
  const bob = await guest(t, other.url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  await request(bob.socket, 'message:send', { room: 'general', text: 'before the restart' })
  await message(ada, 'before the restart').waitFor()

  node.proc.kill('SIGTERM')
  t.equal(await node.exited, 0)
  await ada.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
  t.pass('the page says it is reconnecting')
  for (const text of ['missed one', 'missed two', 'missed three']) {
    await request(bob.socket, 'message:send', { room: 'general', text })
  }
  node = await startNode(t, port, env)
  await untilReady(node.url)
  await ada.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 20_000 })
  await message(ada, 'missed three').waitFor()
  const texts = await ada.locator('#messages .message:not(.pending) .text').allInnerTexts()
  t.same(texts, ['before the restart', 'missed one', 'missed two', 'missed three'], 'every message once, in order')
  await say(ada, 'back')
  await request(bob.socket, 'room:history', { room: 'general' })
  await message(ada, 'back').waitFor()
})

t.test('a server that comes back without its history (memory store): the page shows what it has now, not a mix; a line written meanwhile goes once it is back', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const env = { LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '3000', MESSAGE_RATE_PER_SEC: '0' }
  const port = await freePort()
  let node = await startNode(t, port, env)
  const ada = await person(t, browser, node.url, 'Ada')
  const bob = await guest(t, node.url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  for (let i = 1; i <= 5; i++) await request(bob.socket, 'message:send', { room: 'general', text: `old ${i}` })
  await message(ada, 'old 5').waitFor()
  // And a room Ada is in but not looking at, with three unread.
  await joinFromPage(ada, 'side')
  await ada.locator('#room-title', { hasText: '#side' }).waitFor()
  await ada.locator('#my-rooms').getByRole('button', { name: '#general' }).click()
  await request(bob.socket, 'room:join', { room: 'side' })
  for (let i = 1; i <= 3; i++) await request(bob.socket, 'message:send', { room: 'side', text: `old side ${i}` })
  await ada.getByLabel('3 unread').waitFor()

  // Ada's page stays away until the new server has seqs 1 to 8 of its own: the same seqs,
  // other messages.
  await ada.context().setOffline(true)
  node.proc.kill('SIGTERM')
  t.equal(await node.exited, 0)
  await ada.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
  await say(ada, 'written offline')
  await ada.locator('#messages .pending', { hasText: 'Waiting for the connection…' }).waitFor()
  t.pass('a line written while away waits in the list, and says so')
  node = await startNode(t, port, env)
  const bob2 = await guest(t, node.url, 'Bob')
  await request(bob2.socket, 'room:join', { room: 'general' })
  for (let i = 1; i <= 8; i++) await request(bob2.socket, 'message:send', { room: 'general', text: `new ${i}` })
  await request(bob2.socket, 'room:join', { room: 'side' })
  await request(bob2.socket, 'message:send', { room: 'side', text: 'new side 1' })
  await ada.context().setOffline(false)
  await message(ada, 'written offline').waitFor({ timeout: 20_000 })
  await message(ada, 'new 1').waitFor()
  const texts = await ada.locator('#messages .message:not(.pending) .text').allInnerTexts()
  t.same(texts, [...Array.from({ length: 8 }, (_, i) => `new ${i + 1}`), 'written offline'], "the new server's messages, none of the old, and the line written meanwhile")
  await ada.getByText("The server lost this room's earlier history").waitFor()
  await ada.getByLabel('1 unread').waitFor()
  t.pass("the other room counts the new server's message as unread, and no longer the three that are gone")
})

t.test('a server that no longer accepts the token (restarted with another JWT_SECRET): signing in again keeps rooms, waiting lines and the draft', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const port = await freePort()
  const env = { LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '3000' }
  let node = await startNode(t, port, { ...env, JWT_SECRET: 'a'.repeat(40) })
  const ada = await person(t, browser, node.url, 'Ada')
  await joinFromPage(ada, 'lobby')
  await ada.locator('#room-title', { hasText: '#lobby' }).waitFor()
  node.proc.kill('SIGTERM')
  t.equal(await node.exited, 0)
  await ada.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
  await say(ada, 'written while away')
  await ada.getByRole('textbox', { name: 'Message' }).fill('a draft')
  node = await startNode(t, port, { ...env, JWT_SECRET: 'b'.repeat(40) })
  await ada.getByText('Your session is no longer valid').waitFor({ timeout: 20_000 })
  await ada.getByLabel('Display name').fill('Ada')
  await ada.getByRole('button', { name: 'Start chatting' }).click()
  await message(ada, 'written while away').waitFor()
  t.pass('the waiting line went under the new sign-in')
  t.equal(await ada.locator('#room-title').innerText(), '#lobby', 'the rooms, and the open one, are kept')
  t.equal(await ada.getByRole('textbox', { name: 'Message' }).inputValue(), 'a draft', 'the draft is kept')
})

/** Ada's page on a node of its own, which is then stopped (SIGSTOP) with the connection open. */
async function stalledPage(t: Test): Promise<{ node: Awaited<ReturnType<typeof startNode>>; ada: Page } | undefined> {
  const browser = await launch(t)
  if (browser === undefined) return undefined
  const node = await startNode(t, await freePort(), { LOG_LEVEL: 'warn' })
  const ada = await person(t, browser, node.url, 'Ada')
  node.proc.kill('SIGSTOP')
  t.teardown(() => node.proc.kill('SIGCONT'))
  return { node, ada }
}

t.test('a server that stalls: the line says it is still trying, and is stored once when the server wakes', async (t) => {
  const stalled = await stalledPage(t)
  if (stalled === undefined) return
  const { node, ada } = stalled
  await say(ada, 'into the stall')
  // The acknowledgement times out after 10 s; the line is sent again with the same clientId.
  await ada.locator('#messages .pending', { hasText: 'No answer yet; still trying…' }).waitFor({ timeout: 20_000 })
  node.proc.kill('SIGCONT')
  // At once, as a rule: room to spare for a loaded machine, and what the page showed if it
  // never comes.
  await message(ada, 'into the stall')
    .waitFor({ timeout: 40_000 })
    .catch(async (err: Error) => {
      const seen = `${await ada.locator('#connection').innerText()} | ${await ada.locator('#messages').innerText()}`
      throw new Error(`${err.message}\npage: ${seen}`)
    })
  await ada.locator('#messages .pending').waitFor({ state: 'detached' })
  t.same(await storedInGeneral(t, node.url), ['into the stall'], 'stored once')
})

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

t.test('a join that gets no answer from a stalled server is tried again once it wakes, and the room works', async (t) => {
  const stalled = await stalledPage(t)
  if (stalled === undefined) return
  const { node, ada } = stalled
  await joinFromPage(ada, 'later')
  await say(ada, 'in the room joined during the stall')
  // The join's acknowledgement times out after 10 s while the connection stays open.
  await ada.waitForTimeout(11_000)
  node.proc.kill('SIGCONT')
  await message(ada, 'in the room joined during the stall').waitFor({ timeout: 30_000 })
  t.pass('joined and sent after the stall, without a reconnect')
})

t.test('Redis loses its data under an open page: the next message, under a seq the page holds, brings the new history', async (t) => {
  const browser = await launch(t)
  const redis = await startRedis(t)
  if (browser === undefined || redis === undefined) return
  const { url } = await startApp(t, { REDIS_URL: redis.url, MESSAGE_RATE_PER_SEC: '0' })
  const ada = await person(t, browser, url, 'Ada')
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  for (const text of ['old 1', 'old 2', 'old 3']) await request(bob.socket, 'message:send', { room: 'general', text })
  await message(ada, 'old 3').waitFor()
  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())
  await admin.flushall()
  await request(bob.socket, 'message:send', { room: 'general', text: 'new 1' })
  await message(ada, 'new 1').waitFor()
  await ada.getByText("The server lost this room's earlier history").waitFor()
  await ada.locator('#messages .message:not(.pending) .text', { hasText: 'old' }).first().waitFor({ state: 'detached' })
  t.same(await ada.locator('#messages .message:not(.pending) .text').allInnerTexts(), ['new 1'], 'only the history the server has now')
})

t.test("other people's messages leave the reader's focus, selection and the rest of the list alone", async (t) => {
  const pair = await adaAndGrace(t)
  if (pair === undefined) return
  const { ada, grace } = pair
  await say(grace, 'select me')
  await message(ada, 'select me').waitFor()
  await ada.getByRole('button', { name: 'Leave general' }).focus()
  await message(ada, 'select me').evaluate((node) => {
    const range = document.createRange()
    range.selectNodeContents(node)
    getSelection()!.removeAllRanges()
    getSelection()!.addRange(range)
    const w = window as unknown as { added: number }
    w.added = 0
    new MutationObserver((records) => {
      for (const r of records) w.added += r.addedNodes.length
    }).observe(document.getElementById('messages')!, { childList: true, subtree: true })
  })
  await say(grace, 'a new line')
  await grace.getByRole('textbox', { name: 'Message' }).press('a') // typing shows at Ada's too
  await ada.getByText('Grace is typing…').waitFor()
  await message(ada, 'a new line').waitFor()
  t.equal(await ada.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Leave general', 'focus stayed')
  t.equal(await ada.evaluate(() => getSelection()!.toString()), 'select me', 'the selection stayed')
  t.equal(await ada.evaluate(() => (window as unknown as { added: number }).added), 1, 'one node added to the list for one message')
})

t.test('a first page that does not fill a tall window is followed by older ones without a scroll', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const url = await generalWithHistory(t, 60, 'm')
  const ada = await person(t, browser, url, 'Ada', { width: 1920, height: 2400 })
  await ada.locator('#messages .message .text').getByText('m1', { exact: true }).waitFor()
  t.equal(await ada.locator('#messages .message .text').count(), 60)
})

t.test('a message refused as too long goes back to the composer to be shortened; room names as shown are understood', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t, { MAX_MESSAGE_LENGTH: '10' })
  const ada = await person(t, browser, url, 'Ada')
  await say(ada, 'eleven char')
  await ada.getByText('Not sent: too long. A message can have at most 10 characters.').waitFor()
  t.equal(await ada.getByRole('button', { name: 'Retry' }).count(), 0, 'no retry for what cannot succeed')
  await ada.getByRole('button', { name: 'Edit' }).click()
  t.equal(await ada.getByRole('textbox', { name: 'Message' }).inputValue(), 'eleven char', 'back in the composer')
  t.equal(await ada.locator('#messages .pending').count(), 0, 'and no longer in the list')
  await say(ada, 'ten chars!')
  await message(ada, 'ten chars!').waitFor()

  await joinFromPage(ada, 'has space')
  await ada.locator('#join-error', { hasText: 'Room names are' }).waitFor()
  t.equal(await ada.getByLabel('Join or create a room').inputValue(), 'has space', 'a refused name stays to be corrected')
  await joinFromPage(ada, '#lobby')
  await ada.locator('#room-title', { hasText: '#lobby' }).waitFor()
  t.equal(await ada.evaluate(() => document.activeElement?.id), 'text', 'the composer has the focus after a join')
})

t.test("two tabs of one browser keep each other's rooms and sign out together; a big room's header counts", async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const tab1 = await person(t, browser, url, 'Ada')
  const tab2 = await tab1.context().newPage()
  await tab2.goto(url)
  await tab2.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  await joinFromPage(tab1, 'only-in-tab1')
  await tab1.locator('#room-title', { hasText: '#only-in-tab1' }).waitFor()
  await say(tab2, 'tab 2 here')
  await message(tab2, 'tab 2 here').waitFor()
  await tab1.reload()
  await tab1.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  // In "Your rooms": the room may also be listed under "Active rooms" once that list refreshes.
  await tab1.locator('#my-rooms').getByRole('button', { name: '#only-in-tab1' }).waitFor()
  t.pass("tab 2's activity did not write its own room list over tab 1's")

  // Thirteen more people: the header names twelve members and counts the rest.
  for (let i = 1; i <= 13; i++) await request((await guest(t, url, `Guest ${i}`)).socket, 'room:join', { room: 'only-in-tab1' })
  await tab1.getByText('14 here: ').waitFor()
  t.match(await tab1.locator('#members').innerText(), / and 2 more$/, 'a big room is counted, not listed in full')

  await tab1.getByRole('button', { name: 'Sign out' }).click()
  await tab2.getByText('You were signed out in another tab.').waitFor()
  t.equal(await tab2.getByLabel('Display name').isVisible(), true, 'signing out in one tab signs out the others')
})

t.test('screenshots of the main screens, desktop and phone', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  mkdirSync(screenshots, { recursive: true })
  const { url } = await startApp(t)
  const signIn = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  await signIn.goto(url)
  await signIn.getByLabel('Display name').waitFor()
  await signIn.screenshot({ path: `${screenshots}desktop-sign-in.png` })

  const grace = await person(t, browser, url, 'Grace')
  const ada = await person(t, browser, url, 'Ada')
  const phone = await person(t, browser, url, 'Linus', { width: 390, height: 844 })
  await say(grace, 'Morning! Has anyone looked at the release notes?')
  await message(ada, 'release notes').waitFor()
  await say(ada, 'Yes — the rollout went fine.\nNo lost messages during the restart.')
  await say(ada, 'Dashboards are green too.')
  await message(grace, 'Dashboards').waitFor()
  await grace.getByRole('textbox', { name: 'Message' }).pressSequentially('Great')
  await ada.getByText('Grace is typing…').waitFor()
  await ada.screenshot({ path: `${screenshots}desktop-chat.png` })
  await message(phone, 'Dashboards').waitFor()
  await phone.screenshot({ path: `${screenshots}phone-chat.png` })
  await phone.getByRole('button', { name: 'Rooms' }).click()
  await phone.getByText('Your rooms').waitFor()
  await phone.screenshot({ path: `${screenshots}phone-rooms.png` })
  t.pass(`saved to ${screenshots}`)
})
