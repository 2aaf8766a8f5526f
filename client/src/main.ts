// The web client: guest sign-in, rooms with unread counts, history on scroll, optimistic sends
// that survive rate limits and reconnects, presence and typing. This file wires the page's
// controls to the chat of the signed-in user (chat.ts); payload and event types are the
// server's own (src/chat/protocol.ts).
import { Chat } from './chat.js'
import type { Line } from './outbox.js'
import { forgetSession, SESSION_KEY, type Session, savedSession, signIn } from './session.js'
import { $, showRoomsMenu } from './view.js'

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
      signOut('Your session is no longer valid. Pick a name to continue; your rooms are kept.', 'refused')
  })
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
$('sign-out').addEventListener('click', () => signOut(undefined, 'signed-out'))
// The session ended in another tab of this browser (signed out, or refused there): this tab
// follows, rather than chat on as someone who signed out. Nothing is carried over: whoever
// signs in next may be someone else. (The rooms were kept or forgotten by that tab.)
window.addEventListener('storage', (event) => {
  if (event.key !== SESSION_KEY || event.newValue !== null || page.chat === undefined) return
  signOut('You were signed out in another tab.', 'elsewhere')
})
$('toggle-rooms').addEventListener('click', () => showRoomsMenu(!document.body.classList.contains('show-rooms')))
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && document.body.classList.contains('show-rooms')) {
    showRoomsMenu(false)
    $('toggle-rooms').focus()
  }
})

const restored = savedSession()
if (restored === undefined) {
  $('sign-in').hidden = false
  $<HTMLInputElement>('name').focus()
} else {
  start(restored)
}
