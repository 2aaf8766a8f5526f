/// <reference lib="dom" />
// The web client in a real browser: history on load, on scroll and after a big catch-up; joins refused and retried.
import t from 'tap'
import { guest, request, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'
import { bobSays, generalWithHistory, joinFromPage, launch, message, person, say } from './browser.js'

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

t.test('a first page that does not fill a tall window is followed by older ones without a scroll', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const url = await generalWithHistory(t, 60, 'm')
  const ada = await person(t, browser, url, 'Ada', { width: 1920, height: 2400 })
  await ada.locator('#messages .message .text').getByText('m1', { exact: true }).waitFor()
  t.equal(await ada.locator('#messages .message .text').count(), 60)
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
