// The tripwire for src/chat/delivery/engine-internals.ts: the private parts of Socket.IO,
// Engine.IO and ws that the direct frame writes, holds, drain and slow-consumer cuts rely on,
// checked on real connections. An upgrade that changes any of them fails here, by name.
import t from 'tap'
import * as wsModule from 'ws'
import {
  bufferedBytes,
  corkableOf,
  cutConnection,
  engineConnections,
  packetOf,
  recipientOf,
  webSocketOf,
  writePacket
} from '../../src/chat/delivery/engine-internals.js'
import { guest, next, startApp } from '../helpers.js'

const message = { id: 'm1', room: 'r', seq: 1, user: { id: 'u', name: 'U' }, text: 'hé', ts: 1 }

t.test('what the delivery relies on is there, in the shape it expects', async (t) => {
  t.type((wsModule as unknown as { Sender?: { frame?: unknown } }).Sender?.frame, 'function', 'ws exports Sender.frame')
  const { app, url } = await startApp(t)
  const ws = await guest(t, url, 'OverWebSocket')
  const polling = await guest(t, url, 'OverPolling', { transports: ['polling'] })
  const sockets = [...app.io.of('/').sockets.values()]
  const byName = (name: string) => sockets.find((s) => s.data.user.name === name)!
  const direct = byName('OverWebSocket')
  const conn = direct.conn as unknown as Record<string, any>
  t.equal(conn.readyState, 'open', 'Engine.IO socket: readyState')
  t.ok(Array.isArray(conn.writeBuffer), 'Engine.IO socket: writeBuffer is an array')
  t.equal(conn.transport?.name, 'websocket', 'Engine.IO transport: name')
  const raw = conn.transport?.socket as Record<string, any> | undefined
  t.equal(raw?.readyState, 1, 'ws socket under the transport: readyState OPEN')
  t.type(raw?._sender?.sendFrame, 'function', 'ws socket: _sender.sendFrame')
  t.type(raw?._socket?.cork, 'function', 'ws socket: _socket.cork (the TCP socket)')
  t.type(raw?._socket?.uncork, 'function', 'ws socket: _socket.uncork')
  t.type(raw?.bufferedAmount, 'number', 'ws socket: bufferedAmount')
  t.type(raw?.terminate, 'function', 'ws socket: terminate')
  t.type(
    (direct.client as unknown as Record<string, unknown>).writeToEngine,
    'function',
    'Socket.IO client: writeToEngine'
  )
  t.equal(webSocketOf(direct.conn), raw, 'webSocketOf finds it')
  t.equal(corkableOf(direct.conn), raw?._socket, 'corkableOf finds its TCP socket')
  t.equal(corkableOf(byName('OverPolling').conn), undefined, 'long-polling has none')
  t.type(bufferedBytes(direct.conn), 'number')
  t.type(bufferedBytes(byName('OverPolling').conn), 'number')
  t.equal(engineConnections(app.io).length, 2, "the Engine.IO server's clients, by id")

  // A packet written both ways reaches both clients as the event it encodes.
  const packet = packetOf('/', [JSON.stringify(message)])
  const gotDirect = next(ws.socket, 'message')
  const gotPolling = next(polling.socket, 'message')
  t.equal(writePacket(recipientOf(direct), packet), 'direct', 'the frame goes straight to the WebSocket')
  t.equal(writePacket(recipientOf(byName('OverPolling')), packet), 'engine', 'through Engine.IO for long-polling')
  t.same(await gotDirect, message)
  t.same(await gotPolling, message)
  const batch = next(ws.socket, 'messages')
  writePacket(recipientOf(direct), packetOf('/', [JSON.stringify(message), JSON.stringify({ ...message, seq: 2 })]))
  t.same(
    (await batch).map((m: { seq: number }) => m.seq),
    [1, 2],
    'several as one `messages` packet'
  )

  // A cut closes the connection at once, over either transport.
  const closed = [ws, polling].map((g) => new Promise<string>((resolve) => g.socket.once('disconnect', resolve)))
  cutConnection(direct.conn)
  cutConnection(byName('OverPolling').conn)
  t.match(await closed[0], /transport (close|error)/, 'the WebSocket is terminated')
  t.match(await closed[1], /transport (close|error)|ping timeout/, 'the long-polling session is closed')
})
