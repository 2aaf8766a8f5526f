// The README's screenshots, taken from the web client in a real browser.
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startApp } from '../helpers.js'
import { createPrivate, inviteLink, launch, message, person, say } from './browser.js'

// `npm run screenshots` refreshes the README's pictures; a plain test run keeps its own.
const screenshots =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : `${mkdtempSync(join(tmpdir(), 'chat-screenshots-'))}/`

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

  // A private room with its member list, and the owner's menu on a member.
  await createPrivate(ada, 'Release team')
  const link = await inviteLink(ada)
  await grace.goto(link)
  await grace.getByRole('heading', { name: 'Release team', exact: true }).waitFor()
  await say(grace, 'Thanks for the invite!')
  await message(ada, 'Thanks for the invite!').waitFor()
  await ada.keyboard.press('Escape')
  await ada.locator('#member-list').getByRole('button', { name: 'Grace', exact: true }).click()
  await ada.getByRole('button', { name: 'Make moderator Grace', exact: true }).waitFor()
  await ada.screenshot({ path: `${screenshots}desktop-private-room.png` })
  t.pass(`saved to ${screenshots}`)
})
