// The web client's sign-in in a real browser (issue 17): tokens refreshed before they expire on
// the live socket and in every tab, a token that cannot be refreshed ending in a sign-in with the
// rooms kept (never a reconnect loop), signing out for real, guests marked and people named
// alike told apart.
import { createSigner } from 'fast-jwt'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { idTag } from '../../client/src/look-alikes.js'
import { buildApp } from '../../src/app.js'
import { api, client, collect, connect, guest, request, startApp, TEST_SECRET, testConfig, until } from '../helpers.js'
import { joinFromPage, launch, listed, message, person, say } from './browser.js'

/** A service whose tokens last `seconds` (below TOKEN_TTL_SECONDS' floor of 60, for tests only). */
async function shortLived(t: Test, seconds: number): Promise<string> {
  const app = await buildApp({ ...testConfig(), tokenTtlSeconds: seconds }, { logger: false })
  t.teardown(() => app.close())
  return app.listen({ port: 0, host: '127.0.0.1' })
}

/** Someone signed in by the operator's own means (not a guest), for an hour: a socket in `room`. */
async function member(t: Test, url: string, id: string, name: string, room = 'general') {
  const token = createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: id, name })
  const socket = await connect(client(t, url, token))
  await request(socket, 'room:join', { room })
  return socket
}

const stored = (page: Page) =>
  page.evaluate(
    () => JSON.parse(localStorage.getItem('chat.session') ?? 'null') as { token: string; expiresAt: number }
  )

/** How many Socket.IO connections the page opened (WebSocket or long-polling handshakes). */
function connections(page: Page): { count: number; urls: string[] } {
  const seen = { count: 0, urls: [] as string[] }
  const add = (url: string) => {
    seen.count++
    seen.urls.push(url)
  }
  page.on('websocket', (ws) => ws.url().includes('/socket.io/') && add(ws.url()))
  page.on('request', (r) => /\/socket\.io\/\?(?!.*sid=).*transport=polling/.test(r.url()) && add(r.url()))
  return seen
}

t.test(
  'the page keeps working past its token’s expiry: refreshed on the live socket, and in the other tab',
  async (t) => {
    const browser = await launch(t)
    if (browser === undefined) return
    const url = await shortLived(t, 6)
    const bob = await member(t, url, 'bob-1', 'Bob')
    const heard = collect(bob)
    const ada = await person(t, browser, url, 'Ada')
    const first = connections(ada)
    const second = await ada.context().newPage()
    second.on('pageerror', (err) => t.fail(`script error in Ada's second tab: ${err.message}`))
    await second.goto(url)
    await second.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
    await second.locator('#members', { hasText: '(you)' }).waitFor()
    const secondConnections = connections(second)

    const original = await stored(ada)
    await ada.waitForFunction(
      (token) => JSON.parse(localStorage.getItem('chat.session') ?? '{}').token !== token,
      original.token
    )
    t.pass('refreshed before it expired')
    // Past the original token's end (the server cuts a socket within a second of it).
    await ada.waitForFunction((exp) => Date.now() > exp + 2000, original.expiresAt, { timeout: 15_000 })
    await say(ada, 'after the expiry, tab one')
    await say(second, 'after the expiry, tab two')
    await until(() => heard.filter((m) => m.text?.startsWith('after the expiry')).length === 2, 10_000, 'both sends')
    await message(ada, 'after the expiry, tab two').waitFor()
    t.same(
      { first: first.urls, second: secondConnections.urls },
      { first: [], second: [] },
      'no tab connected again: each socket took the new token live'
    )
    t.ok(await ada.locator('#sign-in').isHidden(), 'still signed in')
    const renewed = await stored(second)
    t.ok(renewed.expiresAt > original.expiresAt, 'the saved session is the new one')
    t.equal((await api(url, renewed.token, 'GET', '/api/me/rooms')).status, 200, 'and its token works')
  }
)

t.test('a token that cannot be refreshed ends in a sign-in with the rooms kept, never a reconnect loop', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const url = await shortLived(t, 4)
  const ada = await person(t, browser, url, 'Ada', undefined, (page) =>
    page.route('**/api/session/refresh', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: '{"code":"UNAVAILABLE","message":"down"}' })
    )
  )
  await joinFromPage(ada, 'side-room')
  await listed(ada, '#side-room').waitFor()
  const opened = connections(ada)
  await ada.getByText('Your session is no longer valid').waitFor({ timeout: 15_000 })
  t.equal(opened.count, 0, 'the cut socket did not connect again with its dead token')
  await ada.getByLabel('Display name').fill('Ada')
  await ada.getByRole('button', { name: 'Start chatting' }).click()
  await ada.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  await listed(ada, '#side-room').waitFor()
  t.pass('signed in again, with the rooms kept')
})

t.test('Sign out ends the session on the server, and the other tab signs out too', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const ada = await person(t, browser, url, 'Ada')
  const second = await ada.context().newPage()
  await second.goto(url)
  await second.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  const { token } = await stored(ada)
  t.equal((await api(url, token, 'GET', '/api/me/rooms')).status, 200, 'the token works before')

  await ada.getByRole('button', { name: 'Sign out' }).click()
  await ada.getByLabel('Display name').waitFor()
  await second.getByText('You were signed out in another tab.').waitFor()
  // The page asks the server to end it just after it forgot it: the refusal comes soon after.
  let status = 0
  for (const deadline = Date.now() + 5000; status !== 401 && Date.now() < deadline; ) {
    status = (await api(url, token, 'GET', '/api/me/rooms')).status
  }
  t.equal(status, 401, 'the old token is refused by the API')
  const socket = client(t, url, token)
  const refused = await connect(socket).then(
    () => 'connected',
    (err: { data?: { code?: string } }) => err.data?.code
  )
  t.equal(refused, 'UNAUTHORIZED', 'and by the socket server')
  t.equal(await ada.evaluate(() => localStorage.getItem('chat.session')), null, 'forgotten in the browser')
})

t.test('a token revoked on the server signs the page out, saying so', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const ada = await person(t, browser, url, 'Ada')
  const opened = connections(ada)
  const { token } = await stored(ada)
  t.equal((await api(url, token, 'DELETE', '/api/session')).status, 204)
  await ada.getByText('this session was ended on the server').waitFor()
  t.ok(await ada.locator('#chat').isHidden(), 'signed out')
  t.same(opened.urls, [], 'no reconnect with the revoked token')
})

t.test('guests are marked; someone the operator signed in is not; staff names are refused', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const bob = await member(t, url, 'bob-1', 'Bob')
  await request(bob, 'message:send', { room: 'general', text: 'hello from Bob' })
  const ada = await person(t, browser, url, 'Ada')
  await say(ada, 'hello from Ada')
  await message(ada, 'hello from Ada').waitFor()
  const line = (name: string) => ada.locator('#member-list .member', { hasText: name })
  await line('Ada').locator('.role.guest').waitFor()
  t.equal(await line('Bob').locator('.role.guest').count(), 0, 'Bob is no guest')
  const author = (name: string) => ada.locator('#messages .message .author', { hasText: name })
  t.equal(await author('Ada').locator('.role.guest').count(), 1, "Ada's message says guest")
  t.equal(await author('Bob').locator('.role.guest').count(), 0, "Bob's does not")
  t.match(await ada.locator('#members').textContent(), /Ada guest \(you\)/, 'who is here says it too')
  const { token } = await stored(ada)
  const roster = (await api(url, token, 'GET', '/api/rooms/general/members')).body.members as Array<{
    name: string
    guest?: true
  }>
  t.same(
    roster.map((m) => [m.name, m.guest === true]).sort(),
    [
      ['Ada', true],
      ['Bob', false]
    ],
    'the member list the page reads says who is a guest (for members not here too)'
  )

  const page = await (await browser.newContext()).newPage()
  await page.goto(url)
  await page.getByLabel('Display name').fill('Admin')
  await page.getByRole('button', { name: 'Start chatting' }).click()
  const said = await page.locator('#sign-in-error').textContent()
  t.ok(said !== null && said.length > 0, `a staff name is refused in words: ${said}`)
  t.ok(await page.locator('#chat').isHidden(), 'and not signed in')
})

t.test('two people named alike in one room are told apart by a tag from their ids', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const alice = await person(t, browser, url, 'Alice')
  const fake = await guest(t, url, 'Аlice') // a Cyrillic А
  await request(fake.socket, 'room:join', { room: 'general' })
  await request(fake.socket, 'message:send', { room: 'general', text: 'I am Alice, trust me' })
  const bob = await member(t, url, 'bob-1', 'Bob')
  await request(bob, 'message:send', { room: 'general', text: 'hi all' })
  await message(alice, 'hi all').waitFor()
  const { user } = await alice.evaluate(() => JSON.parse(localStorage.getItem('chat.session') ?? '{}'))
  const realTag = `#${idTag(user.id)}`
  const fakeTag = `#${idTag(fake.user.id)}`
  t.not(realTag, fakeTag)
  const line = (name: string) => alice.locator('#member-list .member', { hasText: name })
  await line('Alice (you)').locator('.id-tag', { hasText: realTag }).waitFor()
  await line('Аlice').locator('.id-tag', { hasText: fakeTag }).waitFor()
  t.equal(await line('Bob').locator('.id-tag').count(), 0, 'nobody looks like Bob: no tag')
  const author = alice.locator('#messages .message', { hasText: 'I am Alice' }).locator('.author')
  t.match(await author.textContent(), fakeTag, "the look-alike's message carries her tag")
  t.match(await alice.locator('#members').textContent(), new RegExp(`Alice ${realTag}.*\\(you\\)`), 'who is here')
  // Alice's own messages from now on carry hers.
  await say(alice, 'the real one')
  await message(alice, 'the real one').waitFor()
  t.match(
    await alice.locator('#messages .message', { hasText: 'the real one' }).locator('.author').textContent(),
    realTag
  )
})
