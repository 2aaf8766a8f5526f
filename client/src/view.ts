// Rendering. Every piece of text from the server or another user goes through textContent,
// never innerHTML: a message is shown as the characters it contains.
import type { ErrorBody, Member, Message, RoleName } from '../../src/chat/protocol.js'
import type { ConnectionState } from './connection.js'
import { reconcile, replaceIfChanged, type Wanted } from './reconcile.js'
import type { Pending, RoomState } from './room-state.js'

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing`)
  return el as T
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (className !== undefined) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** Look-alike names' tags by user id (look-alikes.ts): who needs one in the open room. */
export type Tags = ReadonlyMap<string, string>

/**
 * A person as every list shows them: the name in its own direction, the tag that tells them from
 * someone named alike (`#3f2a`), `guest` for a guest (a name nobody vouched for), and `(you)`.
 */
export function person(member: Member, tags: Tags, you = false, className = 'person', guest = true): HTMLSpanElement {
  const node = el('span', className)
  node.append(el('bdi', 'name', member.name), ...personTags(member, tags, you, guest))
  return node
}

/** What `person` shows after the name: a look-alike's tag, `guest`, `(you)` (each after a space). */
export function personTags(member: Member, tags: Tags, you = false, guest = true): Array<string | HTMLElement> {
  const parts: Array<string | HTMLElement> = []
  const tag = tags.get(member.id)
  if (tag !== undefined) {
    const chip = el('span', 'id-tag', tag)
    chip.title = `Someone else here has a name like this one: the tag comes from ${you ? 'your' : 'their'} user id`
    parts.push(' ', chip)
  }
  if (guest && member.guest === true) {
    const chip = el('span', 'role guest', 'guest')
    chip.title = 'A guest: a name picked at sign-in, which nobody vouched for'
    parts.push(' ', chip)
  }
  if (you) parts.push(' (you)')
  return parts
}

/** What changes how a person is shown, for list signatures. */
export const personSig = (member: Member, tags: Tags) =>
  `${member.name}\u0000${tags.get(member.id) ?? ''}\u0000${member.guest === true}`

/** A person's name in words, for labels: with their tag when someone is named alike. */
export const personWords = (member: Member, tags: Tags) => {
  const tag = tags.get(member.id)
  return tag === undefined ? member.name : `${member.name} ${tag}`
}

const GROUP_WINDOW_MS = 5 * 60_000
/** How many members the room's header names (the rest are counted). */
const MEMBERS_NAMED = 12
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' })

function when(ts: number): string {
  const date = new Date(ts)
  const today = new Date().toDateString() === date.toDateString()
  return today ? timeFormat.format(date) : `${dayFormat.format(date)} ${timeFormat.format(date)}`
}

/** How a room is called in the list and its header: #name for a public room, else its title. */
export function roomLabel(room: Pick<RoomState, 'kind' | 'name' | 'title'>): string {
  return room.kind === 'public' ? `#${room.name}` : room.title
}

const KIND_WORDS = { public: 'public room', private: 'private room', direct: 'direct conversation' } as const

/** Words for an error code, for people rather than programs; `doing` is what was refused. */
export function describeError(error: ErrorBody, doing: 'send' | 'join' = 'send'): string {
  switch (error.code) {
    case 'FORBIDDEN':
      return doing === 'send'
        ? "Not sent: you can't write in this room right now (you may be muted, or blocked)."
        : "You can't join this room: it is private and you are not a member, or you were banned from it."
    case 'RATE_LIMITED':
      return `You're ${doing === 'send' ? 'sending' : 'joining rooms'} too fast. Trying again in ${Math.ceil((error.retryAfterMs ?? 1000) / 1000)} s…`
    case 'UNAVAILABLE':
      return doing === 'send'
        ? "The server can't store messages right now. Try again in a moment."
        : "The server can't take joins right now. Trying again…"
    case 'NOT_IN_ROOM':
      return "You're not in this room any more. Join it again to send."
    case 'INVALID_PAYLOAD': {
      const tooLong = /more than (\d+) characters/i.exec(error.message)
      if (doing === 'send' && tooLong !== null)
        return `Not sent: too long. A message can have at most ${tooLong[1]} characters.`
      return `${doing === 'send' ? 'Not sent' : "Can't join"}: ${error.message}`
    }
    default:
      return 'Something went wrong on the server. Try again.'
  }
}

/** What a message offers: Delete when the reader may delete it, and its confirmation when asked. */
export interface MessageHandlers {
  /** Whether the reader may delete this message (its author, or the room's owner and moderators). */
  mayDelete: (m: Message) => boolean
  /** The message whose deletion waits for a confirmation, if any. */
  confirming: string | undefined
  ask: (id: string | undefined) => void
  remove: (m: Message) => void
}

function messageItem(m: Message, grouped: boolean, me: Member, handlers: MessageHandlers, tags: Tags): HTMLLIElement {
  const deleted = m.deleted === true
  const item = el(
    'li',
    `message${grouped ? ' grouped' : ''}${m.user.id === me.id ? ' mine' : ''}${deleted ? ' deleted' : ''}`
  )
  if (!grouped) {
    const head = el('div', 'head')
    head.append(person(m.user, tags, false, 'author'))
    const time = el('time', 'time', when(m.ts))
    time.dateTime = new Date(m.ts).toISOString()
    head.append(time)
    item.append(head)
  }
  if (deleted) {
    item.append(el('div', 'tombstone', 'Message deleted'))
    return item
  }
  item.append(textOf(m.text))
  if (handlers.confirming === m.id) {
    const ask = el('div', 'confirm', 'Delete this message for everyone? ')
    const yes = el('button', 'small danger', 'Delete')
    yes.type = 'button'
    yes.addEventListener('click', () => handlers.remove(m))
    const no = el('button', 'small secondary', 'Cancel')
    no.type = 'button'
    no.addEventListener('click', () => handlers.ask(undefined))
    ask.append(yes, ' ', no)
    item.append(ask)
  } else if (handlers.mayDelete(m)) {
    const remove = el('button', 'link delete', 'Delete')
    remove.type = 'button'
    remove.setAttribute('aria-label', `Delete message from ${personWords(m.user, tags)}`)
    remove.addEventListener('click', () => handlers.ask(m.id))
    item.append(remove)
  }
  return item
}

/** A message's text, laid out in its own direction (a Hebrew line reads right to left). */
function textOf(text: string): HTMLDivElement {
  const node = el('div', 'text', text)
  node.dir = 'auto'
  return node
}

function pendingItem(p: Pending, handlers: PendingHandlers, online: boolean): HTMLLIElement {
  const item = el('li', `message mine pending ${p.state}`)
  item.append(textOf(p.text))
  const status = el('div', 'status')
  if (p.state === 'sending') {
    status.textContent = !online
      ? 'Waiting for the connection…'
      : p.unanswered === true
        ? 'No answer yet; still trying…'
        : 'Sending…'
  } else if (p.error !== undefined) status.textContent = describeError(p.error)
  if (p.state === 'failed') {
    // A line the server refused as it is (too long, say) cannot succeed as it is: it goes back
    // to the composer to be changed. Anything else may succeed when tried again.
    const fixable = p.error?.code === 'INVALID_PAYLOAD'
    const again = el('button', 'link', fixable ? 'Edit' : 'Retry')
    again.type = 'button'
    again.addEventListener('click', () => (fixable ? handlers.edit(p.clientId) : handlers.retry(p.clientId)))
    const discard = el('button', 'link', 'Discard')
    discard.type = 'button'
    discard.addEventListener('click', () => handlers.discard(p.clientId))
    status.append(' ', again, ' ', discard)
  }
  item.append(status)
  return item
}

export interface PendingHandlers {
  retry: (clientId: string) => void
  edit: (clientId: string) => void
  discard: (clientId: string) => void
}

export function renderMessages(
  room: RoomState | undefined,
  me: Member,
  handlers: PendingHandlers,
  keep: 'bottom' | 'position' | 'auto',
  online: boolean,
  messageHandlers: MessageHandlers,
  tags: Tags
): void {
  const list = $<HTMLOListElement>('messages')
  const fromBottom = list.scrollHeight - list.scrollTop
  const atBottom = fromBottom - list.clientHeight < 60
  const wanted: Wanted[] = []
  if (room !== undefined) {
    let previous: Message | undefined
    const today = new Date().toDateString()
    for (const m of room.ordered()) {
      const grouped = previous !== undefined && previous.user.id === m.user.id && m.ts - previous.ts < GROUP_WINDOW_MS
      // The id too: after a store lost its history, a seq can come back as another message. And
      // whether it is from today, shown by its time alone (after midnight it gains its date).
      // And what it offers: deleted, deletable, or waiting for the deletion to be confirmed.
      const offers =
        m.deleted === true
          ? 'deleted'
          : messageHandlers.confirming === m.id
            ? 'confirm'
            : messageHandlers.mayDelete(m)
              ? 'delete'
              : ''
      // And how its author is shown (a look-alike may come in later and give them a tag).
      const sig = `${m.id}${grouped ? ' grouped' : ''}${new Date(m.ts).toDateString() === today ? ' today' : ''} ${offers} ${grouped ? '' : personSig(m.user, tags)}`
      wanted.push({ key: `m${m.seq}`, sig, build: () => messageItem(m, grouped, me, messageHandlers, tags) })
      previous = m
    }
    const waiting = [...room.pending.values()].sort((a, b) => a.createdAt - b.createdAt)
    for (const p of waiting) {
      const sig = `${p.state} ${online} ${p.unanswered === true} ${p.error?.code ?? ''} ${p.error?.message ?? ''} ${p.error?.retryAfterMs ?? ''}`
      wanted.push({ key: `p${p.clientId}`, sig, build: () => pendingItem(p, handlers, online) })
    }
    if (previous === undefined && waiting.length === 0 && room.joined) {
      wanted.push({ key: 'empty', sig: '', build: () => el('li', 'empty', 'No messages yet. Say hello!') })
    }
  }
  // Another room's messages share no node with this one's.
  const shown = room?.name ?? ''
  if (list.dataset.room !== shown) {
    list.replaceChildren()
    list.dataset.room = shown
  }
  reconcile(list, wanted)
  // 'auto' follows new messages only for a reader already at the bottom.
  if (keep === 'position') list.scrollTop = list.scrollHeight - fromBottom
  else if (keep === 'bottom' || atBottom) list.scrollTop = list.scrollHeight
}

/** Whether the message list shows everything it holds without a scroll bar. */
export function messagesFit(): boolean {
  const list = $('messages')
  return list.scrollHeight <= list.clientHeight + 40
}

export function renderRooms(
  rooms: RoomState[],
  active: string | undefined,
  onOpen: (name: string) => void,
  onLeave: (name: string) => void
): void {
  const shown = rooms.map((room) => ({ room, unread: room.name === active ? 0 : room.unread }))
  // Keyed by room: a count that changes rebuilds that room's item only, and the focus on any
  // other room's buttons stays.
  reconcile(
    $('my-rooms'),
    shown.map(({ room, unread }) => ({
      key: room.name,
      sig: `${unread} ${room.name === active} ${room.kind} ${room.title}`,
      build: () => roomItem(room, unread, room.name === active, onOpen, onLeave)
    }))
  )
  const unread = shown.reduce((n, room) => n + room.unread, 0)
  document.title = unread > 0 ? `(${unread}) Chat` : 'Chat'
}

/** A room's kind beside its name: a tag for private and direct rooms (a public room's # says it). */
function kindTag(kind: RoomState['kind']): HTMLElement {
  return kind === 'public'
    ? el('span', 'visually-hidden', ` (${KIND_WORDS.public})`)
    : el('span', `kind ${kind}`, kind === 'private' ? 'private' : 'direct')
}

function roomItem(
  room: RoomState,
  unread: number,
  active: boolean,
  onOpen: (name: string) => void,
  onLeave: (name: string) => void
): HTMLLIElement {
  const { name } = room
  const item = el('li', active ? 'active' : undefined)
  const open = el('button', 'room-button')
  open.type = 'button'
  const label = el('span', 'room-name', roomLabel(room))
  label.dir = 'auto'
  const words = el('span', 'room-words')
  words.append(label, kindTag(room.kind))
  open.append(words)
  if (unread > 0) {
    const badge = el('span', 'badge', String(unread))
    badge.setAttribute('aria-label', `${unread} unread`)
    open.append(badge)
  }
  if (active) open.setAttribute('aria-current', 'true')
  open.addEventListener('click', () => onOpen(name))
  const leave = el('button', 'leave icon', '×')
  leave.type = 'button'
  leave.setAttribute('aria-label', `Leave ${room.kind === 'public' ? name : room.title}`)
  leave.addEventListener('click', () => onLeave(name))
  item.append(open, leave)
  return item
}

export function renderPublicRooms(
  rooms: Array<{ name: string; members: number }>,
  onJoin: (name: string) => void
): void {
  const shown = rooms.slice(0, 20)
  const wanted: Wanted[] = shown.map((room) => ({
    key: room.name,
    sig: String(room.members),
    build: () => {
      const item = el('li')
      const join = el('button', 'room-button')
      join.type = 'button'
      join.append(el('span', 'room-name', `#${room.name}`), el('span', 'count', `${room.members} online`))
      join.addEventListener('click', () => onJoin(room.name))
      item.append(join)
      return item
    }
  }))
  if (wanted.length === 0) wanted.push({ key: '', sig: '', build: () => el('li', 'empty', 'No one is chatting yet.') })
  reconcile($('public-rooms'), wanted)
}

/** People as a list, each name in its own direction (a right-to-left name does not reorder the others). */
function names(list: Member[], me: Member, tags: Tags, guest = true): HTMLElement[] {
  return list.flatMap((m, i) => [
    ...(i === 0 ? [] : [el('span', undefined, ', ')]),
    person(m, tags, m.id === me.id, 'person', guest)
  ])
}

export function renderRoomHead(room: RoomState | undefined, me: Member, role: RoleName | undefined, tags: Tags): void {
  const title = room === undefined ? 'No room yet' : roomLabel(room)
  if ($('room-title').textContent !== title) $('room-title').textContent = title
  const kind = room === undefined ? '' : KIND_WORDS[room.kind]
  if ($('room-kind').textContent !== kind) $('room-kind').textContent = kind
  // Owners and moderators invite, to private and public rooms (the server decides; this only offers).
  $('invite').hidden = room === undefined || room.kind === 'direct' || (role !== 'owner' && role !== 'moderator')
  // Changed only when the words change: each is a live region, and a screen reader would
  // read it out again at every message.
  const members = $('members')
  if (room === undefined) {
    replaceIfChanged(members, '', () => [el('span', undefined, 'Join a room to start.')])
    replaceIfChanged($('typing'), '[]', () => [])
    return
  }
  const here = [...room.members.values()]
  // A big room names a few and counts the rest, rather than fill the header with names.
  const named = here.slice(0, MEMBERS_NAMED)
  const more = here.length - named.length
  const sig = (list: Member[]) => JSON.stringify([list.length, ...list.map((m) => `${m.id} ${personSig(m, tags)}`)])
  replaceIfChanged(members, `${here.length} ${sig(named)}`, () => [
    el('span', undefined, `${here.length} here: `),
    ...names(named, me, tags),
    ...(more > 0 ? [el('span', undefined, ` and ${more} more`)] : [])
  ])
  const typists = [...room.typing.values()].filter((t) => t.until > Date.now()).map((t) => t.member)
  replaceIfChanged($('typing'), sig(typists), () =>
    typists.length === 0
      ? []
      : // Who types is shown by name (and tag), as short as can be: who is a guest, the list says.
        [
          ...names(typists, me, tags, false),
          el('span', undefined, typists.length === 1 ? ' is typing…' : ' are typing…')
        ]
  )
}

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

/** A notice for the user (removed from a room, an invite refused...), until dismissed or replaced. */
export function showNotice(text: string | undefined): void {
  $('notice').hidden = text === undefined
  $('notice-text').textContent = text ?? ''
}

/** A note over the open room's messages (undefined: none). */
export function showNote(text: string | undefined): void {
  const note = $('history-note')
  note.hidden = text === undefined
  note.textContent = text ?? ''
}

/** The rooms menu on a narrow screen: open or shut, and the button that toggles it says which. */
export function showRoomsMenu(open: boolean): void {
  document.body.classList.toggle('show-rooms', open)
  $('toggle-rooms').setAttribute('aria-expanded', String(open))
}
