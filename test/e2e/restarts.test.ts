// The web client in a real browser: the server restarts under an open page, or comes back with another secret.
import t from 'tap'
import { freePort, guest, request } from '../helpers.js'
import { startNode, untilReady } from '../processes.js'
import { startRedis } from '../redis-server.js'
import { joinFromPage, launch, message, person, say } from './browser.js'

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

t.test(
  'a server that no longer accepts the token (restarted with another JWT_SECRET): signing in again keeps rooms, waiting lines and the draft',
  async (t) => {
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
  }
)
