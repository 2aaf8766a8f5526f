// The web client: guest sign-in, rooms with unread counts, history on scroll, optimistic sends
// that survive rate limits and reconnects, presence and typing. Payload and event types are
// the server's own (src/chat/protocol.ts).
import { DEFAULT_PAGE_SIZE, hasVisibleText, isRoomName, MAX_PAGE_SIZE } from '../../src/chat/limits.js'
import type { Message } from '../../src/chat/protocol.js'
import { Connection } from './connection.js'
import { type ChatSocket, request } from './request.js'
import { ROOM_RETRY, SEND_RETRY } from './retry.js'
import { type Pending, RoomState } from './room-state.js'
import {
  fetchRooms,
  forgetRoom,
  forgetSession,
  rememberActive,
  rememberRoom,
  SESSION_KEY,
  type Session,
  savedRooms,
  savedSession,
  signIn
} from './session.js'
import {
  $,
  describeError,
  messagesFit,
  renderConnection,
  renderMessages,
  renderPublicRooms,
  renderRoomHead,
  renderRooms
} from './view.js'

const HISTORY_LOST = "The server lost this room's earlier history; here is what it has now."
const TYPING_SENT_EVERY_MS = 2000
const TYPING_IDLE_MS = 3000
const TYPING_SHOWN_MS = 6000

let session: Session | undefined
let connection: Connection | undefined
let socket: ChatSocket | undefined
const rooms = new Map<string, RoomState>()
let active: string | undefined
let loadingOlder = false
let roomsTimer: ReturnType<typeof setInterval> | undefined

function newClientId(): string {
  // crypto.randomUUID exists only in secure contexts; getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

const activeRoom = () => (active === undefined ? undefined : rooms.get(active))

function render(keep: 'bottom' | 'position' | 'auto' = 'auto'): void {
  if (session === undefined) return
  const room = activeRoom()
  renderRooms([...rooms.values()], active, openRoom, leaveRoom)
  renderRoomHead(room, session.user)
  const online = room?.joined === true && socket?.connected === true
  renderMessages(room, session.user, { retry: retrySend, edit: editSend, discard: discardSend }, keep, online)
  // Lines written while the connection is away wait in the list, and go once the room is
  // joined again (their clientIds make that safe).
  $<HTMLTextAreaElement>('text').disabled = room === undefined
  $<HTMLTextAreaElement>('text').placeholder = room === undefined ? 'Join a room to write' : `Message #${room.name}`
  $<HTMLButtonElement>('send').disabled = room === undefined
  // A page of history that does not fill the list leaves nothing to scroll: the next page is
  // read now, as a scroll to the top would.
  if (room?.joined === true && messagesFit()) void loadOlder()
}

function showNote(text: string | undefined): void {
  const note = $('history-note')
  note.hidden = text === undefined
  note.textContent = text ?? ''
}

// --- Rooms -----------------------------------------------------------------------------------

/** Joins (or creates) a room and opens it; false if the name is not a room name. */
async function joinRoom(name: string): Promise<boolean> {
  if (!isRoomName(name)) {
    showJoinError('Room names are 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.')
    return false
  }
  showJoinError(undefined)
  let room = rooms.get(name)
  if (room === undefined) rooms.set(name, (room = new RoomState(name)))
  rememberRoom(name)
  openRoom(name)
  if (socket?.connected === true && !room.joined) await sendJoin(room)
  return true
}

/** Each room's join under way (asked, or waiting to ask again): a new one replaces it. */
const joins = new Map<RoomState, AbortController>()
/** Rooms with a gap fill under way (asked, or waiting to ask again): one at a time. */
const filling = new Map<RoomState, AbortController>()
/** The room a shown join error is about, if it came from a refused join. */
let joinErrorRoom: string | undefined

function showJoinError(text: string | undefined, room?: string): void {
  $('join-error').textContent = text ?? ''
  joinErrorRoom = room
}

/** Ends what is under way for a room that is no longer ours. */
function cancelRoom(room: RoomState): void {
  joins.get(room)?.abort()
  filling.get(room)?.abort()
  sends.get(room)?.controller.abort()
}

async function sendJoin(room: RoomState): Promise<void> {
  if (socket === undefined) return
  joins.get(room)?.abort()
  const controller = new AbortController()
  joins.set(room, controller)
  // Asked from one before the last seq held, so that the answer brings that one again to
  // compare (RoomState.rejoined).
  const last = room.messages.size > 0 ? room.lastSeq() : undefined
  const since = last === undefined ? undefined : last - 1
  // Too many joins at once (a reconnect with very many rooms), the store away, or no answer in
  // time from a connection still open (a stalled server): again later. Disconnected meanwhile:
  // the next connect rejoins. Left meanwhile: nothing to do with the answer.
  const outcome = await request(
    socket,
    'room:join',
    since === undefined ? { room: room.name } : { room: room.name, since },
    {
      policy: ROOM_RETRY,
      signal: controller.signal,
      wanted: () => !room.joined,
      onRetry: (failure) => {
        if ('error' in failure) showJoinError(describeError(failure.error, 'join'), room.name)
      }
    }
  )
  if (joins.get(room) === controller) joins.delete(room)
  if (outcome.status === 'refused') {
    showJoinError(describeError(outcome.error, 'join'), room.name)
    // Refused as it is (a connection's rooms are bounded): it is no room of ours.
    if (outcome.error.code === 'INVALID_PAYLOAD' && !room.joined && room.messages.size === 0 && room.pending.size === 0)
      dropRoom(room.name)
    return
  }
  if (outcome.status !== 'ok') return
  const answer = outcome.answer
  room.joined = true
  if (joinErrorRoom === room.name) showJoinError(undefined)
  refreshPublicRoomsSoon()
  room.members.clear()
  for (const m of answer.members) room.members.set(m.id, m)
  const continues = last === undefined ? 'continues' : room.rejoined(last, answer.messages, answer.recovered)
  if (continues !== 'continues') {
    // The server no longer has everything after what we hold, or holds another history: start
    // from what it has.
    room.reset()
    if (room.name === active) {
      showNote(
        continues === 'trimmed'
          ? 'Not every message from while you were away is shown; scroll up for the earlier ones still kept.'
          : HISTORY_LOST
      )
    }
    // What comes after our seq in another history means nothing: its latest page instead.
    if (continues === 'lost') return sendJoin(room)
  }
  const fresh = room.add(answer.messages)
  // A page may come back short (the server bounds an answer's size): only seq 1 ends it.
  if (since === undefined) room.hasOlder = (answer.messages[0]?.seq ?? 1) > 1
  // What came after what we held is news; so is a whole history that replaced ours (whose
  // unread count went with it). A first join's history is not.
  if ((since !== undefined || room.replaced) && room.name !== active)
    room.unread += fresh.filter((m) => m.user.id !== session?.user.id).length
  room.replaced = false
  render(since === undefined ? 'bottom' : 'auto')
  void pump(room)
}

function openRoom(name: string): void {
  if (active !== name) showNote(undefined)
  active = name
  const room = rooms.get(name)
  if (room !== undefined) room.unread = 0
  rememberActive(name)
  showRoomsMenu(false)
  render('bottom')
  $<HTMLTextAreaElement>('text').focus()
}

function leaveRoom(name: string): void {
  dropRoom(name)
  if (socket === undefined) return
  void request(socket, 'room:leave', { room: name }).then((outcome) => {
    if (outcome.status === 'ok' || outcome.status === 'refused') refreshPublicRoomsSoon()
  })
}

/** Forgets a room here and in what is saved; the next room is shown if it was the open one. */
function dropRoom(name: string): void {
  const room = rooms.get(name)
  if (room !== undefined) cancelRoom(room)
  rooms.delete(name)
  forgetRoom(name)
  if (active === name) {
    active = rooms.keys().next().value
    showNote(undefined)
    rememberActive(active)
  }
  render('bottom')
}

/** The rooms menu on a narrow screen: open or shut, and the button that toggles it says which. */
function showRoomsMenu(open: boolean): void {
  document.body.classList.toggle('show-rooms', open)
  $('toggle-rooms').setAttribute('aria-expanded', String(open))
}

let roomsRefresh: ReturnType<typeof setTimeout> | undefined
/** Presence changes move the counts: refresh the list soon, at most once a second. */
function refreshPublicRoomsSoon(): void {
  if (roomsRefresh !== undefined) return
  roomsRefresh = setTimeout(() => {
    roomsRefresh = undefined
    void refreshPublicRooms()
  }, 1000)
}

async function refreshPublicRooms(): Promise<void> {
  if (session === undefined) return
  renderPublicRooms(await fetchRooms(session.token).catch(() => []), (name) => void joinRoom(name))
}

// --- Messages --------------------------------------------------------------------------------

function incoming(messages: Message[]): void {
  for (const m of messages) {
    const room = rooms.get(m.room)
    if (room === undefined) continue
    const held = room.messages.get(m.seq)
    if (held !== undefined && held.id !== m.id) {
      // Another message under a seq we hold: the server's history started over (a Redis that
      // lost its data, a room that expired). Start from what it has now.
      room.reset()
      room.joined = false
      if (room.name === active) showNote(HISTORY_LOST)
      void sendJoin(room)
      continue
    }
    if (room.leavesGap(m)) void fillGap(room)
    const fresh = room.add([m])
    if (fresh.length > 0 && m.room !== active && m.user.id !== session?.user.id) room.unread++
    room.typing.delete(m.user.id)
  }
  render()
}

/** A hole in the seqs (a missed broadcast): read what is missing instead of living with it. */
async function fillGap(room: RoomState): Promise<void> {
  if (filling.has(room) || socket === undefined) return
  const controller = new AbortController()
  filling.set(room, controller)
  let after = room.lastSeq()
  for (;;) {
    // Refused, or unanswered on a connection still open: the same hole again later, while it is
    // still there (a rejoin may fill it first).
    const outcome = await request(
      socket,
      'room:history',
      { room: room.name, after, limit: MAX_PAGE_SIZE },
      {
        policy: ROOM_RETRY,
        signal: controller.signal,
        wanted: () => room.lastSeq() === after
      }
    )
    if (outcome.status !== 'ok') break
    room.add(outcome.answer.messages)
    render()
    // A page cut short (the server bounds an answer's size) leaves the rest of the hole: on.
    if (outcome.answer.messages.length === 0 || room.lastSeq() <= after || !room.hasHole()) break
    after = room.lastSeq()
  }
  if (filling.get(room) === controller) filling.delete(room)
}

/** Not before this time (a refused or failed page waits a little before the next try). */
let olderNotBefore = 0

async function loadOlder(): Promise<void> {
  const room = activeRoom()
  const oldest = room?.oldestSeq()
  if (
    room === undefined ||
    oldest === undefined ||
    !room.hasOlder ||
    loadingOlder ||
    oldest <= 1 ||
    Date.now() < olderNotBefore
  )
    return
  if (socket === undefined) return
  loadingOlder = true
  const outcome = await request(socket, 'room:history', { room: room.name, before: oldest, limit: DEFAULT_PAGE_SIZE })
  loadingOlder = false
  // Asked again by the next scroll, not by a timer; after a failure, not before a moment.
  if (outcome.status !== 'ok') {
    olderNotBefore = Date.now() + (outcome.status === 'refused' ? (outcome.error.retryAfterMs ?? 2000) : 2000)
    return
  }
  const { messages } = outcome.answer
  // Short pages go on (the server bounds an answer's size); an empty one is the end.
  if (messages.length === 0) room.hasOlder = false
  room.add(messages)
  render('position')
}

function send(text: string): void {
  const room = activeRoom()
  if (room === undefined || !hasVisibleText(text)) return
  room.queue(newClientId(), text)
  stopTyping()
  render('bottom')
  void pump(room)
}

/**
 * Sends a room's pending lines one at a time, oldest first, so they are stored in the order
 * they were written: a line held back (rate limit, outage) holds back the ones after it. A
 * line that failed for good waits for the user (Retry or Discard) and is skipped meanwhile.
 */
/** Each room's line being sent (asked, or waiting out a refusal): one at a time. */
const sends = new Map<RoomState, { line: Pending; controller: AbortController }>()

async function pump(room: RoomState): Promise<void> {
  // Only into a room this connection has joined (a line written meanwhile waits for the join),
  // and only a room still ours (one left and joined again is a new RoomState).
  if (sends.has(room) || socket?.connected !== true || !room.joined || rooms.get(room.name) !== room) return
  const next = [...room.pending.values()]
    .filter((p) => p.state !== 'failed')
    .sort((a, b) => a.createdAt - b.createdAt)[0]
  if (next === undefined || next.state === 'waiting') return
  const controller = new AbortController()
  sends.set(room, { line: next, controller })
  // Held back (rate limit, outage): the line says why and waits; no answer (a stalled server):
  // sent again at once, its clientId making that safe.
  const outcome = await request(
    socket,
    'message:send',
    { room: room.name, text: next.text, clientId: next.clientId },
    {
      policy: SEND_RETRY,
      signal: controller.signal,
      wanted: () => room.pending.has(next.clientId) && room.joined && rooms.get(room.name) === room,
      onRetry: (failure) => {
        if ('unanswered' in failure) next.unanswered = true
        else {
          next.error = failure.error
          next.state = 'waiting'
        }
        render()
      },
      onResume: () => {
        next.state = 'sending'
        next.error = undefined
      }
    }
  )
  sends.delete(room)
  if (room.pending.has(next.clientId)) {
    // Not sent now (disconnected, or its wait cut short): it goes again, the same clientId
    // making that safe, now or after the reconnect.
    if (outcome.status === 'ok') room.add([outcome.answer.message])
    else if (outcome.status === 'refused') {
      next.error = outcome.error
      next.state = 'failed'
    } else {
      if (outcome.status === 'offline' && outcome.dropped) next.unanswered = true
      next.state = 'sending'
      next.error = undefined
    }
  }
  render()
  void pump(room)
}

function retrySend(clientId: string): void {
  const room = activeRoom()
  const pending = room?.pending.get(clientId)
  if (room === undefined || pending === undefined) return
  pending.state = 'sending'
  pending.error = undefined
  // Back in line by its original time: ahead of a later line that is waiting out a refusal.
  const sending = sends.get(room)
  if (sending?.line.state === 'waiting') sending.controller.abort()
  render()
  void pump(room)
}

/** A line refused as it is goes back to the composer to be changed (what is there stays, after it). */
function editSend(clientId: string): void {
  const room = activeRoom()
  const pending = room?.pending.get(clientId)
  if (room === undefined || pending === undefined) return
  room.pending.delete(clientId)
  textarea.value = textarea.value === '' ? pending.text : `${pending.text}\n${textarea.value}`
  fitComposer()
  render()
  textarea.focus()
  void pump(room)
}

function discardSend(clientId: string): void {
  const room = activeRoom()
  room?.pending.delete(clientId)
  render()
  if (room !== undefined) void pump(room)
}

// --- Typing ----------------------------------------------------------------------------------

let typingSentAt = 0
/** The room the typing indicator was sent for (the user may switch rooms meanwhile). */
let typingRoom: string | undefined
let typingIdle: ReturnType<typeof setTimeout> | undefined

function typed(): void {
  const room = activeRoom()
  if (room?.joined !== true || socket?.connected !== true) return
  if (typingRoom !== undefined && typingRoom !== room.name) stopTyping()
  if (Date.now() - typingSentAt > TYPING_SENT_EVERY_MS) {
    typingSentAt = Date.now()
    typingRoom = room.name
    socket.emit('typing', { room: room.name, typing: true })
  }
  clearTimeout(typingIdle)
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS)
}

function stopTyping(): void {
  clearTimeout(typingIdle)
  const room = typingRoom
  typingSentAt = 0
  typingRoom = undefined
  // Not buffered while disconnected: the indicator expires on the other side anyway.
  if (room !== undefined && socket?.connected === true && rooms.get(room)?.joined === true) {
    socket.emit('typing', { room, typing: false })
  }
}

// --- Connection ------------------------------------------------------------------------------

function connect(current: Session): void {
  const own = new Connection(current.token, {
    connected: () => {
      for (const room of rooms.values()) void sendJoin(room)
      void refreshPublicRooms()
    },
    disconnected: () => {
      for (const room of rooms.values()) room.joined = false
      render()
    },
    status: renderConnection,
    // A new name brings back the same rooms.
    unauthorized: () =>
      signOut('Your session is no longer valid. Pick a name to continue; your rooms are kept.', 'refused')
  })
  connection = own
  socket = own.socket
  own.socket.on('message', (m) => incoming([m]))
  own.socket.on('messages', (list) => incoming(list))
  own.socket.on('presence', ({ room, user, status }) => {
    const state = rooms.get(room)
    if (state === undefined) return
    if (status === 'joined') state.members.set(user.id, user)
    else {
      state.members.delete(user.id)
      // Someone who left is typing no more (a closed tab never says so).
      state.typing.delete(user.id)
    }
    render()
    refreshPublicRoomsSoon()
  })
  own.socket.on('typing', ({ room, user, typing }) => {
    const state = rooms.get(room)
    if (state === undefined) return
    if (typing) state.typing.set(user.id, { member: user, until: Date.now() + TYPING_SHOWN_MS })
    else state.typing.delete(user.id)
    render()
    if (typing) setTimeout(() => render(), TYPING_SHOWN_MS + 50)
  })
  own.socket.on('chat:error', (error) => {
    // A typing indicator that was refused (rate limit) is not worth a word to the user.
    if (error.event === 'typing') return
    showJoinError(describeError(error))
  })
}

function start(current: Session): void {
  session = current
  $('sign-in').hidden = true
  $('chat').hidden = false
  $('me').textContent = current.user.name
  const saved = savedRooms()
  for (const name of saved.rooms) if (isRoomName(name)) rooms.set(name, new RoomState(name))
  if (rooms.size === 0) {
    rooms.set('general', new RoomState('general'))
    rememberRoom('general')
  }
  active = saved.active !== undefined && rooms.has(saved.active) ? saved.active : rooms.keys().next().value
  for (const line of carried.splice(0)) rooms.get(line.room)?.queue(newClientId(), line.text)
  render('bottom')
  $<HTMLTextAreaElement>('text').focus()
  renderConnection('connecting')
  connect(current)
  roomsTimer = setInterval(() => void refreshPublicRooms(), 15_000)
}

/** Lines not yet sent when the server refused the session: they go under the next sign-in. */
let carried: Array<{ room: string; text: string }> = []

/**
 * How a session ends: `signed-out` (Sign out: all is forgotten); `refused` (the server no
 * longer takes the token, and the same person signs in again: their rooms, the lines still
 * waiting and the draft come back); `elsewhere` (another tab ended it: the saved rooms are that
 * tab's business, and nothing is carried, since whoever signs in next may be someone else).
 */
type Ending = 'signed-out' | 'refused' | 'elsewhere'

function signOut(reason: string | undefined, ending: Ending): void {
  carried =
    ending === 'refused'
      ? [...rooms.values()].flatMap((room) =>
          [...room.pending.values()]
            .sort((a, b) => a.createdAt - b.createdAt)
            .map((p) => ({ room: room.name, text: p.text }))
        )
      : []
  clearInterval(roomsTimer)
  stopTyping()
  connection?.close()
  connection = undefined
  socket = undefined
  session = undefined
  for (const room of rooms.values()) cancelRoom(room)
  rooms.clear()
  active = undefined
  forgetSession(ending !== 'signed-out')
  if (ending !== 'refused') textarea.value = ''
  $('chat').hidden = true
  $('sign-in').hidden = false
  $('sign-in-error').textContent = reason ?? ''
  $<HTMLInputElement>('name').focus()
}

// --- Wiring ----------------------------------------------------------------------------------

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
  // Rooms are shown as #name, so #name is understood too.
  const name = input.value.trim().replace(/^#/, '')
  // A name that is refused stays in the box, to be corrected.
  void joinRoom(name).then((ok) => {
    if (ok) input.value = ''
  })
})

const textarea = $<HTMLTextAreaElement>('text')
$('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  if ($<HTMLButtonElement>('send').disabled) return
  send(textarea.value)
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
function fitComposer(): void {
  textarea.style.height = ''
  textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`
}
textarea.addEventListener('input', () => {
  fitComposer()
  typed()
})
$('messages').addEventListener('scroll', () => {
  if ($('messages').scrollTop < 40) void loadOlder()
})
$('sign-out').addEventListener('click', () => signOut(undefined, 'signed-out'))
// The session ended in another tab of this browser (signed out, or refused there): this tab
// follows, rather than chat on as someone who signed out. Nothing is carried over: whoever
// signs in next may be someone else. (The rooms were kept or forgotten by that tab.)
window.addEventListener('storage', (event) => {
  if (event.key !== SESSION_KEY || event.newValue !== null || session === undefined) return
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
