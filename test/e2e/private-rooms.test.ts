// The web client in a real browser: private rooms made and shared by invite links, the room list
// from the server on every device, direct conversations from the member list, deletion and
// removal as the people in the room see them.
import type { Browser, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { startApp } from '../helpers.js'
import { adaAndGrace, joinFromPage, launch, message, person, say } from './browser.js'

/** Makes a private room from the sidebar and waits for it to open; returns its server-made name. */
async function createPrivate(page: Page, title: string): Promise<string> {
  await page.getByLabel('New private room').fill(title)
  await page.getByRole('button', { name: 'Create', exact: true }).click()
  await page.getByRole('heading', { name: title, exact: true }).waitFor()
  await page.locator('#members', { hasText: '(you)' }).waitFor()
  const saved = await page.evaluate(() => localStorage.getItem('chat.rooms'))
  const name = (JSON.parse(saved ?? '{}') as { active?: string }).active
  if (name === undefined || !name.startsWith('p.')) throw new Error(`no private room open: ${saved}`)
  return name
}

/** The open room's invite link, made from its header. */
async function inviteLink(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Invite people' }).click()
  const input = page.getByLabel('Invite link')
  await input.waitFor()
  return input.inputValue()
}

/** Someone new, in a browser context of their own, who opens `link` and signs in as `name`. */
async function openInviteSignedOut(t: Test, browser: Browser, link: string, name: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  page.on('pageerror', (err) => t.fail(`script error in ${name}'s page: ${err.message}`))
  await page.goto(link)
  await page.getByText('Sign in to accept your invitation').waitFor()
  await page.getByLabel('Display name').fill(name)
  await page.getByRole('button', { name: 'Start chatting' }).click()
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
  return page
}

/** A room's button in the page's own room list ("Your rooms"). */
const listed = (page: Page, label: string | RegExp) => page.locator('#my-rooms .room-button', { hasText: label })

/** Opens a member's menu in the member list and picks an action ("Remove", "Message"...). */
async function memberAction(page: Page, name: string, action: string): Promise<void> {
  await page.locator('#member-list').getByRole('button', { name, exact: true }).click()
  await page.getByRole('button', { name: `${action} ${name}`, exact: true }).click()
}

/** Deletes a message the page shows, confirming when asked. */
async function deleteMessage(page: Page, text: string): Promise<void> {
  const item = page.locator('#messages .message', { hasText: text })
  await item.getByRole('button', { name: /^Delete message/ }).click()
  await item.getByRole('button', { name: 'Delete', exact: true }).click()
}

const tombstone = (page: Page) => page.locator('#messages .message.deleted .tombstone', { hasText: 'Message deleted' })

t.test('Alice makes a private room and Bob joins by its invite link; Carol can neither see nor join it', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const alice = await person(t, browser, url, 'Alice')
  const room = await createPrivate(alice, 'Plans')
  t.equal(await alice.locator('#room-kind').textContent(), 'private room', 'its kind is shown')
  t.match(await listed(alice, /Plans/).textContent(), /private/, 'and in the room list')
  const link = await inviteLink(alice)
  t.match(link, /\/#invite=[A-Za-z0-9_%-]{16,}$/, 'the code is in the fragment, never sent to the server')
  await say(alice, 'welcome to the plans')

  const bob = await openInviteSignedOut(t, browser, link, 'Bob')
  await bob.getByRole('heading', { name: 'Plans', exact: true }).waitFor()
  await message(bob, 'welcome to the plans').waitFor()
  t.equal(new URL(bob.url()).hash, '', 'the fragment is cleared once used')
  await alice.getByText('2 here: ').waitFor()
  await say(bob, 'thanks Alice')
  await message(alice, 'thanks Alice').waitFor()
  t.pass('they chat both ways')
  // Roles in the member list.
  await alice.locator('#member-list .member', { hasText: 'Alice (you)' }).getByText('owner').waitFor()

  const carol = await person(t, browser, url, 'Carol')
  t.equal(await listed(carol, /Plans/).count(), 0, "not in Carol's rooms")
  t.notOk((await carol.locator('#sidebar').innerText()).includes(room), 'nor anywhere in her sidebar')
  await joinFromPage(carol, room)
  await carol.locator('#join-error', { hasText: "You can't join this room" }).waitFor()
  t.equal(await listed(carol, room).count(), 0, 'the refused room is not kept')
  t.equal(await message(carol, 'welcome to the plans').count(), 0, 'she sees nothing of it')

  // A bad code, opened by someone signed in, says so.
  await bob.goto(`${url}/#invite=not-a-real-code`)
  await bob.getByRole('status').filter({ hasText: 'This invite link does not work' }).waitFor()
  t.equal(new URL(bob.url()).hash, '', 'that fragment is cleared too')
})

t.test('the room list is the same on another device, kinds and titles included', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const alice = await person(t, browser, url, 'Alice')
  await createPrivate(alice, 'Release party')
  await joinFromPage(alice, 'lobby')
  await alice.getByRole('heading', { name: '#lobby' }).waitFor()
  await alice.locator('#members', { hasText: '(you)' }).waitFor()
  // Another device: the same session, nothing else of this browser's.
  const session = await alice.evaluate(() => localStorage.getItem('chat.session'))
  const other = await (await browser.newContext()).newPage()
  other.on('pageerror', (err) => t.fail(`script error: ${err.message}`))
  await other.addInitScript((saved) => {
    if (localStorage.getItem('chat.session') === null) localStorage.setItem('chat.session', saved ?? '')
  }, session)
  await other.goto(url)
  await listed(other, /Release party/).waitFor()
  t.match(await listed(other, /Release party/).textContent(), /private/, 'the private room, by its title and kind')
  await listed(other, /#lobby/).waitFor()
  t.pass('and the public room joined on the first device')
  await listed(other, /Release party/).click()
  await other.getByRole('heading', { name: 'Release party', exact: true }).waitFor()
  await other.locator('#members', { hasText: '(you)' }).waitFor()
  t.pass('it opens and joins there')
})

t.test('a direct conversation started from the member list appears at once on the other side', async (t) => {
  const pair = await adaAndGrace(t)
  if (pair === undefined) return
  const { ada, grace } = pair
  await memberAction(ada, 'Grace', 'Message')
  await ada.getByRole('heading', { name: 'Grace', exact: true }).waitFor()
  t.equal(await ada.locator('#room-kind').textContent(), 'direct conversation')
  // Grace did nothing: the room comes to her list by itself (room:added).
  await listed(grace, /Ada/).waitFor()
  t.match(await listed(grace, /Ada/).textContent(), /direct/, "named by the other person's name, as direct")
  await ada.locator('#members', { hasText: '(you)' }).waitFor()
  await say(ada, 'just between us')
  await grace.getByLabel('1 unread').waitFor()
  await listed(grace, /Ada/).click()
  await message(grace, 'just between us').waitFor()
  await say(grace, 'sure')
  await message(ada, 'sure').waitFor()
  t.pass('they talk there')
})

t.test(
  'a message deleted by its author shows as deleted in the other browser, after a reload and in a tab that was offline',
  async (t) => {
    const browser = await launch(t)
    if (browser === undefined) return
    const { url } = await startApp(t)
    const ada = await person(t, browser, url, 'Ada')
    const grace = await person(t, browser, url, 'Grace')
    const linus = await person(t, browser, url, 'Linus')
    await say(ada, 'oops, my password')
    await say(grace, 'from Grace')
    await message(linus, 'from Grace').waitFor()
    await message(ada, 'from Grace').waitFor()
    t.equal(
      await ada
        .locator('#messages .message', { hasText: 'from Grace' })
        .getByRole('button', { name: /^Delete/ })
        .count(),
      0,
      "a member is offered no delete on someone else's message"
    )

    await linus.context().setOffline(true)
    await linus.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
    await deleteMessage(ada, 'oops, my password')
    await tombstone(grace).waitFor()
    await message(grace, 'oops, my password').waitFor({ state: 'detached' })
    t.pass('deleted in the other browser')
    await tombstone(ada).waitFor()
    await say(ada, 'after the deletion')
    await message(grace, 'after the deletion').waitFor()

    await linus.context().setOffline(false)
    await message(linus, 'after the deletion').waitFor({ timeout: 20_000 })
    await tombstone(linus).waitFor()
    t.equal(await message(linus, 'oops, my password').count(), 0, 'the tab that was away shows it deleted')
    const texts = await linus.locator('#messages .message:not(.pending) .text').allInnerTexts()
    t.same(texts, ['from Grace', 'after the deletion'], 'the deletion is no message of its own, and no gap')

    await grace.reload()
    await message(grace, 'after the deletion').waitFor()
    await tombstone(grace).waitFor()
    t.equal(await message(grace, 'oops, my password').count(), 0, 'and after a reload')
  }
)

t.test(
  'the owner deletes, removes and bans from the member list; those removed are told and see no more',
  async (t) => {
    const browser = await launch(t)
    if (browser === undefined) return
    const { url } = await startApp(t)
    const alice = await person(t, browser, url, 'Alice')
    await createPrivate(alice, 'Board')
    const link = await inviteLink(alice)
    const bob = await openInviteSignedOut(t, browser, link, 'Bob')
    await bob.getByRole('heading', { name: 'Board', exact: true }).waitFor()
    const dave = await openInviteSignedOut(t, browser, link, 'Dave')
    await dave.getByRole('heading', { name: 'Board', exact: true }).waitFor()
    await alice.getByText('3 here: ').waitFor()

    await say(dave, 'spam from Dave')
    await message(alice, 'spam from Dave').waitFor()
    await deleteMessage(alice, 'spam from Dave')
    await tombstone(dave).waitFor()
    await tombstone(bob).waitFor()
    t.pass("the owner deleted someone else's message, for everyone")

    await memberAction(alice, 'Bob', 'Remove')
    await bob.getByRole('status').filter({ hasText: 'You were removed from Board.' }).waitFor()
    t.equal(await listed(bob, /Board/).count(), 0, 'the room left his list')
    t.equal((await bob.locator('#room-title').innerText()) === 'Board', false, 'and his screen')
    await say(alice, 'after Bob left')
    await message(dave, 'after Bob left').waitFor()
    t.equal(await message(bob, 'after Bob left').count(), 0, 'he sees nothing said after')

    await memberAction(alice, 'Dave', 'Ban')
    await dave.getByRole('status').filter({ hasText: 'You were banned from Board.' }).waitFor()
    t.equal(await listed(dave, /Board/).count(), 0, 'gone from the banned one too')
    await dave.goto(link)
    await dave
      .getByRole('status')
      .filter({ hasText: /invite link (does not work|can't be used)/ })
      .waitFor()
    t.equal(await listed(dave, /Board/).count(), 0, 'the invite no longer lets him in')
  }
)
