// The baseline: the Socket.IO tutorial's server, with rooms so that it does the same fan-out as
// the service (no validation, no sequence numbers, no history, no metrics, no tracing).
import { createServer } from 'node:http'
import { Server } from 'socket.io'

const httpServer = createServer()
const io = new Server(httpServer, { serveClient: false })
io.on('connection', (socket) => {
  socket.on('join', (room: string, ack?: () => void) => {
    void socket.join(room)
    ack?.()
  })
  socket.on('msg', (room: string, text: string) => io.to(room).emit('msg', text))
})
httpServer.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'))
process.on('SIGTERM', () => process.exit(0))
