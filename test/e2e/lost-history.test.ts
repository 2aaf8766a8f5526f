// The web client in a real browser: the server loses its history (a memory store restarted, Redis flushed).
import { Redis } from 'ioredis'
import t from 'tap'
import { freePort, guest, request, startApp } from '../helpers.js'
import { startNode } from '../processes.js'
import { startRedis } from '../redis-server.js'
import { joinFromPage, launch, message, person, say } from './browser.js'

t.test(
  'a server that comes back without its history (memory store): the page shows what it has now, not a mix; a line written meanwhile goes once it is back',
  async (t) => {
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
    t.same(
      texts,
      [...Array.from({ length: 8 }, (_, i) => `new ${i + 1}`), 'written offline'],
      "the new server's messages, none of the old, and the line written meanwhile"
    )
    await ada.getByText("The server lost this room's earlier history").waitFor()
    await ada.getByLabel('1 unread').waitFor()
    t.pass("the other room counts the new server's message as unread, and no longer the three that are gone")
  }
)

t.test(
  'Redis loses its data under an open page: the next message, under a seq the page holds, brings the new history',
  async (t) => {
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
    await ada
      .locator('#messages .message:not(.pending) .text', { hasText: 'old' })
      .first()
      .waitFor({ state: 'detached' })
    t.same(
      await ada.locator('#messages .message:not(.pending) .text').allInnerTexts(),
      ['new 1'],
      'only the history the server has now'
    )
  }
)
