// Rendering. Every piece of text from the server or another user goes through textContent,
// never innerHTML: a message is shown as the characters it contains.
import type { ErrorBody, Member, Message } from '../../src/chat/protocol.js'
import type { Pending, RoomState } from './room-state.js'

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing`)
  return el as T
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (className !== undefined) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

const GROUP_WINDOW_MS = 5 * 60_000
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' })

function when(ts: number): string {
  const date = new Date(ts)
  const today = new Date().toDateString() === date.toDateString()
  return today ? timeFormat.format(date) : `${dayFormat.format(date)} ${timeFormat.format(date)}`
}

/** Words for an error code, for people rather than programs. */
export function describeError(error: ErrorBody): string {
  switch (error.code) {
    case 'RATE_LIMITED':
      return `You're sending too fast. Trying again in ${Math.ceil((error.retryAfterMs ?? 1000) / 1000)} s…`
    case 'UNAVAILABLE':
      return "The server can't store messages right now. Try again in a moment."
    case 'NOT_IN_ROOM':
      return "You're not in this room any more. Join it again to send."
    case 'INVALID_PAYLOAD':
      return `Not sent: ${error.message}`
    default:
      return 'Something went wrong on the server. Try again.'
  }
}

function messageItem(m: Message, previous: Message | undefined, me: Member): HTMLLIElement {
  const grouped = previous !== undefined && previous.user.id === m.user.id && m.ts - previous.ts < GROUP_WINDOW_MS
  const item = el('li', `message${grouped ? ' grouped' : ''}${m.user.id === me.id ? ' mine' : ''}`)
  item.dataset.seq = String(m.seq)
  if (!grouped) {
    const head = el('div', 'head')
    head.append(el('span', 'author', m.user.name))
    const time = el('time', 'time', when(m.ts))
    time.dateTime = new Date(m.ts).toISOString()
    head.append(time)
    item.append(head)
  }
  item.append(el('div', 'text', m.text))
  return item
}

function pendingItem(p: Pending, onRetry: (clientId: string) => void, onDiscard: (clientId: string) => void): HTMLLIElement {
  const item = el('li', `message mine pending ${p.state}`)
  item.dataset.clientId = p.clientId
  item.append(el('div', 'text', p.text))
  const status = el('div', 'status')
  if (p.state === 'sending') status.textContent = 'Sending…'
  else if (p.error !== undefined) status.textContent = describeError(p.error)
  if (p.state === 'failed') {
    const retry = el('button', 'link', 'Retry')
    retry.type = 'button'
    retry.addEventListener('click', () => onRetry(p.clientId))
    const discard = el('button', 'link', 'Discard')
    discard.type = 'button'
    discard.addEventListener('click', () => onDiscard(p.clientId))
    status.append(' ', retry, ' ', discard)
  }
  item.append(status)
  return item
}

export function renderMessages(
  room: RoomState | undefined,
  me: Member,
  handlers: { retry: (clientId: string) => void; discard: (clientId: string) => void },
  keep: 'bottom' | 'position' | 'auto'
): void {
  const list = $<HTMLOListElement>('messages')
  const fromBottom = list.scrollHeight - list.scrollTop
  const atBottom = fromBottom - list.clientHeight < 60
  const fragment = document.createDocumentFragment()
  if (room !== undefined) {
    let previous: Message | undefined
    for (const m of room.ordered()) {
      fragment.append(messageItem(m, previous, me))
      previous = m
    }
    const waiting = [...room.pending.values()].sort((a, b) => a.createdAt - b.createdAt)
    for (const p of waiting) fragment.append(pendingItem(p, handlers.retry, handlers.discard))
    if (previous === undefined && waiting.length === 0 && room.joined) {
      fragment.append(el('li', 'empty', 'No messages yet. Say hello!'))
    }
  }
  list.replaceChildren(fragment)
  // 'auto' follows new messages only for a reader already at the bottom.
  if (keep === 'position') list.scrollTop = list.scrollHeight - fromBottom
  else if (keep === 'bottom' || atBottom) list.scrollTop = list.scrollHeight
}

export function renderRooms(
  rooms: RoomState[],
  active: string | undefined,
  onOpen: (name: string) => void,
  onLeave: (name: string) => void
): void {
  const list = $('my-rooms')
  list.replaceChildren(
    ...rooms.map((room) => {
      const item = el('li', room.name === active ? 'active' : undefined)
      const open = el('button', 'room-button')
      open.type = 'button'
      open.append(el('span', 'room-name', `#${room.name}`))
      if (room.unread > 0 && room.name !== active) {
        const badge = el('span', 'badge', String(room.unread))
        badge.setAttribute('aria-label', `${room.unread} unread`)
        open.append(badge)
      }
      if (room.name === active) open.setAttribute('aria-current', 'true')
      open.addEventListener('click', () => onOpen(room.name))
      const leave = el('button', 'leave icon', '×')
      leave.type = 'button'
      leave.setAttribute('aria-label', `Leave ${room.name}`)
      leave.addEventListener('click', () => onLeave(room.name))
      item.append(open, leave)
      return item
    })
  )
}

export function renderPublicRooms(rooms: Array<{ name: string; members: number }>, onJoin: (name: string) => void): void {
  const list = $('public-rooms')
  if (rooms.length === 0) {
    list.replaceChildren(el('li', 'empty', 'No one is chatting yet.'))
    return
  }
  list.replaceChildren(
    ...rooms.slice(0, 20).map((room) => {
      const item = el('li')
      const join = el('button', 'room-button')
      join.type = 'button'
      join.append(el('span', 'room-name', `#${room.name}`), el('span', 'count', `${room.members} online`))
      join.addEventListener('click', () => onJoin(room.name))
      item.append(join)
      return item
    })
  )
}

export function renderRoomHead(room: RoomState | undefined, me: Member): void {
  $('room-title').textContent = room === undefined ? 'No room yet' : `#${room.name}`
  const members = $('members')
  if (room === undefined) {
    members.textContent = 'Join a room to start.'
    return
  }
  const names = [...room.members.values()].map((m) => (m.id === me.id ? `${m.name} (you)` : m.name))
  members.textContent = `${names.length} here: ${names.join(', ')}`
  const typists = [...room.typing.values()].filter((t) => t.until > Date.now()).map((t) => t.member.name)
  $('typing').textContent =
    typists.length === 0 ? '' : typists.length === 1 ? `${typists[0]} is typing…` : `${typists.join(', ')} are typing…`
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline'

export function renderConnection(state: ConnectionState, detail?: string): void {
  const node = $('connection')
  node.dataset.state = state
  const words: Record<ConnectionState, string> = {
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: 'Offline'
  }
  node.textContent = detail === undefined ? words[state] : `${words[state]} ${detail}`
}
