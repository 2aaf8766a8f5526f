// What the browser tests share: Debian's Chromium driven by playwright-core (no browser
// download), pages signed in to the real service, and a few ways to act and look in them.
import { type Browser, chromium, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { guest, request, requireTool, startApp } from '../helpers.js'

export async function launch(t: Test): Promise<Browser | undefined> {
  const executablePath = requireTool(t, 'chromium')
  if (executablePath === undefined) return undefined
  const browser = await chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync'
    ]
  })
  t.teardown(() => browser.close())
  return browser
}

/** A page signed in as `name`, failing the test on any script error in it. */
export async function person(
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
  // Joined: the member list names the user (before the join's answer it reads "0 here").
  await page.locator('#members', { hasText: '(you)' }).waitFor()
  return page
}

/** The texts #general holds now, read by a socket client of its own. */
export async function storedInGeneral(t: Test, url: string): Promise<string[]> {
  const reader = await guest(t, url, 'Reader')
  const { messages } = await request(reader.socket, 'room:join', { room: 'general' })
  return messages.map((m: { text: string }) => m.text)
}

export async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' })
  await box.fill(text)
  await box.press('Enter')
}

/** Joins (or creates) a room from the page's form. */
export async function joinFromPage(page: Page, room: string): Promise<void> {
  await page.getByLabel('Join or create a room').fill(room)
  await page.getByRole('button', { name: 'Join', exact: true }).click()
}

/** Bob, a socket client, joins `room` and says `text` there. */
export async function bobSays(t: Test, url: string, room: string, text: string): Promise<void> {
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room })
  await request(bob.socket, 'message:send', { room, text })
}

/** A fresh service whose #general holds `count` messages from Bob, `${prefix}1` first; its URL. */
export async function generalWithHistory(t: Test, count: number, prefix: string): Promise<string> {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  for (let i = 1; i <= count; i++) await request(bob.socket, 'message:send', { room: 'general', text: `${prefix}${i}` })
  return url
}

export const message = (page: Page, text: string) =>
  page.locator('#messages .message:not(.pending) .text', { hasText: text })

/** Ada and Grace signed in to one room on a fresh service, each in her own browser context. */
export async function adaAndGrace(t: Test): Promise<{ url: string; ada: Page; grace: Page } | undefined> {
  const browser = await launch(t)
  if (browser === undefined) return undefined
  const { url } = await startApp(t)
  const ada = await person(t, browser, url, 'Ada')
  const grace = await person(t, browser, url, 'Grace')
  await ada.getByText(/^2 here: Ada( guest)? \(you\), Grace/).waitFor()
  return { url, ada, grace }
}

/** Socket.IO requests a page made, by transport, in order. */
export function transportsOf(page: Page): string[] {
  const seen: string[] = []
  page.on('request', (r) => {
    const transport = /\/socket\.io\/\?.*transport=(\w+)/.exec(r.url())?.[1]
    if (transport !== undefined) seen.push(transport)
  })
  page.on('websocket', (ws) => ws.url().includes('/socket.io/') && seen.push('websocket'))
  return seen
}

// Private rooms, members and moderation, as a person does them in the page.

/** Makes a private room from the sidebar and waits for it to open; returns its server-made name. */
export async function createPrivate(page: Page, title: string): Promise<string> {
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
export async function inviteLink(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Invite people' }).click()
  const input = page.getByLabel('Invite link')
  await input.waitFor()
  return input.inputValue()
}

/** Someone new, in a browser context of their own, who opens `link` and signs in as `name`. */
export async function openInviteSignedOut(t: Test, browser: Browser, link: string, name: string): Promise<Page> {
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
export const listed = (page: Page, label: string | RegExp) => page.locator('#my-rooms .room-button', { hasText: label })

/** Opens a member's menu in the member list and picks an action ("Remove", "Message"...). */
export async function memberAction(page: Page, name: string, action: string): Promise<void> {
  await page.locator('#member-list').getByRole('button', { name, exact: true }).click()
  await page.getByRole('button', { name: `${action} ${name}`, exact: true }).click()
}

/** Deletes a message the page shows, confirming when asked. */
export async function deleteMessage(page: Page, text: string): Promise<void> {
  const item = page.locator('#messages .message', { hasText: text })
  await item.getByRole('button', { name: /^Delete message/ }).click()
  await item.getByRole('button', { name: 'Delete', exact: true }).click()
}

export const tombstone = (page: Page) =>
  page.locator('#messages .message.deleted .tombstone', { hasText: 'Message deleted' })
