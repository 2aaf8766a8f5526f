// A minimal page for now: guest sign-in, one room, messages in and out. The full web client has
// its own issue. Payload and event types come from the server's protocol module.
import { io, type Socket } from 'socket.io-client'
import type { ClientToServerEvents, Message, ServerToClientEvents } from '../../src/chat/protocol.js'

type ChatClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
let socket: ChatClientSocket | undefined
let room: string | undefined
let lastSeq = 0
const seen = new Set<string>()

function show(message: Message): void {
  if (message.room !== room || seen.has(message.id)) return
  seen.add(message.id)
  lastSeq = Math.max(lastSeq, message.seq)
  const item = document.createElement('li')
  const author = document.createElement('span')
  author.className = 'author'
  author.textContent = message.user.name
  const text = document.createElement('span')
  text.textContent = message.text
  item.append(author, text)
  $('messages').append(item)
}

function join(name: string): void {
  if (name !== room) {
    room = name
    lastSeq = 0
    seen.clear()
    $('messages').replaceChildren()
  }
  socket?.emit('room:join', { room: name, ...(lastSeq > 0 ? { since: lastSeq } : {}) }, (res) => {
    if (!res.ok) return void ($('error').textContent = res.error.message)
    res.messages.forEach(show)
  })
}

function connect(token: string): void {
  socket = io({ auth: { token } })
  socket.on('connect', () => {
    $('status').textContent = 'connected'
    if (room !== undefined) join(room)
  })
  socket.on('disconnect', () => ($('status').textContent = 'reconnecting…'))
  socket.on('connect_error', (err) => ($('status').textContent = `cannot connect: ${err.message}`))
  socket.on('message', show)
  socket.on('messages', (list) => list.forEach(show))
}

$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault()
  const name = ($('name') as HTMLInputElement).value
  const res = await fetch('/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name })
  })
  const body = await res.json()
  if (!res.ok) return void ($('error').textContent = body.message)
  $('sign-in').hidden = true
  $('chat').hidden = false
  connect(body.token)
  join(($('room') as HTMLInputElement).value)
})

$('join').addEventListener('submit', (event) => {
  event.preventDefault()
  join(($('room') as HTMLInputElement).value)
})

$('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = $('text') as HTMLInputElement
  if (room === undefined || input.value.trim() === '') return
  socket?.emit('message:send', { room, text: input.value, clientId: crypto.randomUUID() }, (res) => {
    $('error').textContent = res.ok ? '' : res.error.message
    if (res.ok) show(res.message)
  })
  input.value = ''
})
