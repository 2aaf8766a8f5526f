// The web client in a real browser: private rooms made and shared by invite links, the room list
// from the server on every device, mutes as the muted one sees them.
import t from 'tap'
import { startApp } from '../helpers.js'
import {
  createPrivate,
  inviteLink,
  joinFromPage,
  launch,
  listed,
  memberAction,
  message,
  openInviteSignedOut,
  person,
  say
} from './browser.js'

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
  await other.getByRole('button', { name: 'Leave Release party' }).click()
  await listed(alice, /Release party/).waitFor({ state: 'detached' })
  t.pass('left on one device, gone from the other (room:removed, left)')
  t.equal(await alice.locator('#notice').isVisible(), false, 'without a word: the user did it')
  await other.reload()
  await listed(other, /#lobby/).waitFor()
  t.equal(await listed(other, /Release party/).count(), 0, 'and for good')
})

t.test('a muted member is told why a line is not sent, and sends it once unmuted', async (t) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const { url } = await startApp(t)
  const alice = await person(t, browser, url, 'Alice')
  await createPrivate(alice, 'Quiet')
  const bob = await openInviteSignedOut(t, browser, await inviteLink(alice), 'Bob')
  await bob.getByRole('heading', { name: 'Quiet', exact: true }).waitFor()
  await alice.getByText('2 here: ').waitFor()
  t.equal(await bob.getByRole('button', { name: 'Invite people' }).isVisible(), false, 'a member is offered no invite')
  await memberAction(alice, 'Bob', 'Mute')
  await alice.getByRole('status').filter({ hasText: 'Bob is muted' }).waitFor()
  await say(bob, 'can I talk?')
  await bob.locator('#messages .pending', { hasText: "you can't write in this room right now" }).waitFor()
  await memberAction(alice, 'Bob', 'Unmute')
  await alice.getByRole('status').filter({ hasText: 'Bob may write again' }).waitFor()
  await bob.getByRole('button', { name: 'Retry' }).click()
  await message(alice, 'can I talk?').waitFor()
  t.pass('sent once unmuted, by Retry')

  // Removed while his tab was offline: told when it is back, and the room is gone.
  await bob.context().setOffline(true)
  await bob.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor()
  await memberAction(alice, 'Bob', 'Remove')
  await alice.getByRole('status').filter({ hasText: 'Bob was removed' }).waitFor()
  await say(alice, 'said after Bob was removed')
  await bob.context().setOffline(false)
  await bob.getByRole('status').filter({ hasText: "You're no longer a member of Quiet." }).waitFor({ timeout: 20_000 })
  t.equal(await listed(bob, /Quiet/).count(), 0, 'the room left his list')
  t.equal(await message(bob, 'said after Bob was removed').count(), 0, 'and he reads nothing said after')
})
