// The web client in a real browser: direct conversations from the member list, deletion and
// removal as the people in the room see them.
import t from 'tap'
import { startApp } from '../helpers.js'
import {
  adaAndGrace,
  createPrivate,
  deleteMessage,
  inviteLink,
  launch,
  listed,
  memberAction,
  message,
  openInviteSignedOut,
  person,
  say,
  tombstone
} from './browser.js'

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
  t.equal(await grace.getByRole('button', { name: 'Remove Ada' }).count(), 0, 'nobody moderates a direct room')
  await memberAction(grace, 'Ada', 'Block')
  await grace.getByRole('status').filter({ hasText: 'You blocked Ada' }).waitFor()
  await say(ada, 'are you there?')
  await ada.locator('#messages .pending', { hasText: "you can't write in this room right now" }).waitFor()
  t.equal(await message(grace, 'are you there?').count(), 0, 'a blocked sender is refused, and told so')
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

    await say(dave, 'hello from Dave')
    await message(bob, 'hello from Dave').waitFor()
    const deleteButton = (text: string) =>
      bob.locator('#messages .message', { hasText: text }).getByRole('button', { name: /^Delete message/ })
    t.equal(await deleteButton('hello from Dave').count(), 0, "a member may not delete Dave's words")
    await memberAction(alice, 'Bob', 'Make moderator')
    await deleteButton('hello from Dave').waitFor()
    t.pass('Bob, made a moderator, may delete them at once, with no reload (room:member)')

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
