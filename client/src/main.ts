// The web client: guest sign-in, rooms with unread counts (public, private and direct), invite
// links, history on scroll, optimistic sends that survive rate limits and reconnects, presence,
// typing, members with roles and moderation. This file wires the page's controls to the chat of
// the signed-in user (chat.ts); payload and event types are the server's own
// (src/chat/protocol.ts).
import { Chat } from './chat.js'
import type { Line } from './outbox.js'
import {
  endSession,
  finishSignOuts,
  forgetSession,
  SESSION_KEY,
  type Session,
  savedSession,
  signIn,
  storedSession
} from './session.js'
import { $, showNotice, showRoomsMenu } from './view.js'

/**
 * How a session ends: `signed-out` (Sign out: all is forgotten); `refused` (the server no
 * longer takes the token, and the same person signs in again: their rooms, the lines still
 * waiting and the draft come back); `elsewhere` (another tab ended it: the saved rooms are that
 * tab's business, and nothing is carried, since whoever signs in next may be someone else).
 */
type Ending = 'signed-out' | 'refused' | 'elsewhere'

/** The page's one piece of state: the chat of whoever is signed in, and what it carries over. */
const page: { chat?: Chat; carried: Line[] } = { carried: [] }

const textarea = $<HTMLTextAreaElement>('text')

/**
 * An invite link's code, from the URL fragment (`/#invite=<code>`: a fragment never reaches
 * the server's or a proxy's logs). Taken once: the fragment is cleared, so that a reload or a
 * shared screenshot of the address bar does not carry it.
 */
function takeInvite(): string | undefined {
  const match = /^#invite=(.*)$/.exec(location.hash)
  if (match === null) return undefined
  history.replaceState(null, '', `${location.pathname}${location.search}`)
  try {
    return decodeURIComponent(match[1] ?? '')
  } catch {
    return ''
  }
}

/** An invite opened before signing in waits for the sign-in. */
function acceptInvite(): void {
  const waiting = /^#invite=/.test(location.hash)
  $('sign-in-invite').hidden = !waiting || page.chat !== undefined
  if (page.chat === undefined || !waiting) return
  const code = takeInvite()
  if (code === undefined) return
  if (code === '') showNotice('This invite link does not work: it was mistyped. Ask for a new one.')
  else void page.chat.acceptInvite(code)
}

function fitComposer(): void {
  textarea.style.height = ''
  textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`
}

function start(session: Session): void {
  $('sign-in').hidden = true
  $('chat').hidden = false
  $('me').textContent = session.user.name
  page.chat = new Chat(session, page.carried.splice(0), {
    edit(text) {
      // What is in the composer stays, after it.
      textarea.value = textarea.value === '' ? text : `${text}\n${textarea.value}`
      fitComposer()
      textarea.focus()
    },
    // A new name brings back the same rooms.
    unauthorized: () =>
      signOut('Your session is no longer valid. Pick a name to continue; your rooms are kept.', 'refused'),
    revoked: () =>
      // Signed out in another tab: its storage event may come first, or this. Either says so.
      signOut(
        storedSession() === undefined
          ? 'You were signed out in another tab.'
          : 'You were signed out: this session was ended on the server. Pick a name to sign in again.',
        'signed-out'
      )
  })
  acceptInvite()
}

function signOut(reason: string | undefined, ending: Ending): void {
  const lines = page.chat?.close() ?? []
  page.chat = undefined
  // Lines not yet sent when the server refused the session go under the next sign-in.
  page.carried = ending === 'refused' ? lines : []
  forgetSession(ending !== 'signed-out')
  if (ending !== 'refused') textarea.value = ''
  $('chat').hidden = true
  $('sign-in').hidden = false
  $('sign-in-error').textContent = reason ?? ''
  $('invite-panel').hidden = true
  $<HTMLInputElement>('name').focus()
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const name = $<HTMLInputElement>('name').value.trim()
  if (name === '') {
    $('sign-in-error').textContent = 'Please enter a name.'
    return
  }
  try {
    start(await signIn(name))
  } catch (err) {
    $('sign-in-error').textContent = (err as Error).message
  }
})

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = $<HTMLInputElement>('room-name')
  // Rooms are shown as #name, so #name is understood too. A name that is refused stays in the
  // box, to be corrected.
  if (page.chat?.join(input.value.trim().replace(/^#/, '')) === true) input.value = ''
})

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const input = $<HTMLInputElement>('new-room-title')
  const title = input.value.trim()
  if (title === '' || page.chat === undefined) {
    $('create-error').textContent = title === '' ? 'Give the room a title.' : ''
    return
  }
  $('create-error').textContent = ''
  const why = await page.chat.createPrivate(title)
  // Refused: the title stays, to be corrected.
  if (why === undefined) input.value = ''
  else $('create-error').textContent = why
})
$('invite').addEventListener('click', () => void page.chat?.makeInvite())
$('copy-invite').addEventListener('click', async () => {
  const input = $<HTMLInputElement>('invite-link')
  input.select()
  // The clipboard API needs a secure context; selected text can still be copied by hand.
  const copied = await navigator.clipboard?.writeText(input.value).then(
    () => true,
    () => false
  )
  $('copy-invite').textContent = copied === true ? 'Copied' : 'Copy link'
  if (copied !== true) $('invite-note').textContent = 'Press Ctrl+C (or ⌘C) to copy the selected link.'
})
$('invite-link').addEventListener('input', () => {
  $('copy-invite').textContent = 'Copy link'
})
$('notice-close').addEventListener('click', () => showNotice(undefined))
$('toggle-members').addEventListener('click', () => {
  const open = !document.body.classList.contains('show-members')
  document.body.classList.toggle('show-members', open)
  $('toggle-members').setAttribute('aria-expanded', String(open))
})
window.addEventListener('hashchange', acceptInvite)

$('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  if ($<HTMLButtonElement>('send').disabled) return
  page.chat?.send(textarea.value)
  textarea.value = ''
  textarea.style.height = ''
  textarea.focus()
})
textarea.addEventListener('keydown', (event) => {
  // Enter sends; Shift+Enter breaks the line; an IME composition is left alone.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    $<HTMLFormElement>('composer').requestSubmit()
  }
})
textarea.addEventListener('input', () => {
  fitComposer()
  page.chat?.typed()
})
$('messages').addEventListener('scroll', () => {
  if ($('messages').scrollTop < 40) page.chat?.loadOlder()
})
$('sign-out').addEventListener('click', () => {
  const session = page.chat?.session
  // Forgotten here first (the other tabs follow at once), then ended on the server: the token
  // is refused from then on, and the sockets that used it, in any tab or device, are cut.
  signOut(undefined, 'signed-out')
  if (session !== undefined) void endSession(session.token, session.expiresAt)
})
// The session ended in another tab of this browser (signed out, or refused there): this tab
// follows, rather than chat on as someone who signed out. Nothing is carried over: whoever
// signs in next may be someone else. (The rooms were kept or forgotten by that tab.)
// A session saved by another tab (a refreshed token) is taken here too.
window.addEventListener('storage', (event) => {
  if (event.key !== SESSION_KEY || page.chat === undefined) return
  if (event.newValue === null) {
    signOut('You were signed out in another tab.', 'elsewhere')
    return
  }
  const saved = storedSession()
  if (saved !== undefined) page.chat.adopt(saved)
})
$('toggle-rooms').addEventListener('click', () => showRoomsMenu(!document.body.classList.contains('show-rooms')))
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && page.chat?.dismiss() === true) return
  if (event.key === 'Escape' && document.body.classList.contains('show-rooms')) {
    showRoomsMenu(false)
    $('toggle-rooms').focus()
  }
})

finishSignOuts()
const restored = savedSession()
if (restored === undefined) {
  $('sign-in').hidden = false
  $('sign-in-invite').hidden = !/^#invite=/.test(location.hash)
  $<HTMLInputElement>('name').focus()
} else {
  start(restored)
}
