import { guest, request } from './helpers.js'
const t = { teardown() {} }
const a = await guest(t, 'http://127.0.0.1:3101', 'A')
console.log(JSON.stringify(await request(a.socket, 'room:join', { room: 'x' })))
console.log(JSON.stringify(await request(a.socket, 'message:send', { room: 'x', text: 'while down' })))
process.exit(0)
