/// <reference lib="dom" />
// The web client in a real browser: two people chatting, what the page shows and keeps.
import t from 'tap'
import { guest, request, startApp } from '../helpers.js'
import { adaAndGrace, bobSays, joinFromPage, launch, message, person, say } from './browser.js'

t.test('two people chat both ways and see each other, typing included', async (t) => {
  const pair = await adaAndGrace(t)
  if (pair === undefined) return
  const { url, ada, grace } = pair
  t.pass('Ada sees Grace arrive')

  await say(ada, 'Hello Grace!')
  await message(grace, 'Hello Grace!').waitFor()
  await say(grace, 'Hi Ada.\nHow are you?')
  await message(ada, 'Hi Ada.').waitFor()
  t.equal(
    await message(ada, 'Hi Ada.').innerText(),
    'Hi Ada.\nHow are you?',
    'Shift+Enter-free newlines are kept as lines'
  )
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
  await ada.getByText(/^1 here: Ada( guest)? \(you\)$/).waitFor()
  t.pass('Ada sees Grace leave')

  // Another room, with an unread count while Ada looks elsewhere.
  await joinFromPage(ada, 'random')
  await ada.getByRole('heading', { name: '#random' }).waitFor()
  await bobSays(t, url, 'general', 'psst')
  await ada.getByLabel('1 unread').waitFor()
  await ada
    .locator('#my-rooms')
    .getByRole('button', { name: /#general/ })
    .click()
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
  await ada.getByText(/^1 here: Ada( guest)? \(you\)$/).waitFor()
  t.equal(await ada.getByText('Grace is typing…').count(), 0, 'her leaving ends her typing')
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
  t.equal(
    await ada.evaluate(() => (window as unknown as { added: number }).added),
    1,
    'one node added to the list for one message'
  )
})

t.test(
  'a message refused as too long goes back to the composer to be shortened; room names as shown are understood',
  async (t) => {
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
    t.equal(
      await ada.getByLabel('Join or create a room').inputValue(),
      'has space',
      'a refused name stays to be corrected'
    )
    await joinFromPage(ada, '#lobby')
    await ada.locator('#room-title', { hasText: '#lobby' }).waitFor()
    t.equal(await ada.evaluate(() => document.activeElement?.id), 'text', 'the composer has the focus after a join')
  }
)

t.test(
  "two tabs of one browser keep each other's rooms and sign out together; a big room's header counts",
  async (t) => {
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
    for (let i = 1; i <= 13; i++)
      await request((await guest(t, url, `Guest ${i}`)).socket, 'room:join', { room: 'only-in-tab1' })
    await tab1.getByText('14 here: ').waitFor()
    t.match(await tab1.locator('#members').innerText(), / and 2 more$/, 'a big room is counted, not listed in full')

    await tab1.getByRole('button', { name: 'Sign out' }).click()
    await tab2.getByText('You were signed out in another tab.').waitFor()
    t.equal(await tab2.getByLabel('Display name').isVisible(), true, 'signing out in one tab signs out the others')
  }
)
