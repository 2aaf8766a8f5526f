// One name rule for guests and tokens, names that pose as staff, and guests marked wherever
// other people see them.
import t from 'tap'
import { checkName, posesAsStaff } from '../../src/chat/names.js'
import { client, connect, next, request, signIn, startApp } from '../helpers.js'

t.test('the name rule', async (t) => {
  const accepted: Array<[string, string]> = [
    ['  Zoë 🚀  ', 'Zoë 🚀'],
    ['Zoe\u0308', 'Zoë'], // NFC: e and a combining diaeresis become one ë
    ['李小龍', '李小龍'],
    ['x'.repeat(32), 'x'.repeat(32)]
  ]
  for (const [raw, name] of accepted) t.same(checkName(raw), { name }, `${JSON.stringify(raw)} accepted`)
  const refused: Array<[string, string]> = [
    ['empty', ''],
    ['33 code points', 'x'.repeat(33)],
    ['a zero-width space', 'Al\u200Bice'],
    ['a zero-width joiner', 'Al\u200Dice'],
    ['a right-to-left override', 'evil\u202Etxt.exe'],
    ['a bidi isolate', 'Ann\u2067x\u2069'],
    ['a right-to-left mark', 'Ann\u200F'],
    ['an Arabic letter mark', 'Ann\u061C'],
    ['a soft hyphen', 'Al\u00ADice'],
    ['a variation selector', 'Ann\uFE0F'],
    ['a tag character', 'Ann\u{E0041}'],
    ['a Hangul filler', 'Ann\u3164'],
    ['a newline', 'two\nlines'],
    ['a line separator', 'two\u2028lines'],
    ['a lone surrogate', 'bob\uD800'],
    ['only a combining mark', '\u0301'],
    ['a combining mark first', '\u0301Bob'],
    ['only white space', ' \t ']
  ]
  for (const [what, raw] of refused) t.ok('refused' in checkName(raw), `${what} is refused`)
})

t.test('names that pose as staff, in any case and after folding', async (t) => {
  for (const name of [
    'admin',
    'Admin',
    'ADMIN',
    'Ａdmin',
    'аdmin',
    'Adm1n',
    'ad min',
    'System',
    'SYSTEM',
    'Moderator'
  ]) {
    t.ok(posesAsStaff(name), `${name} poses as staff`)
  }
  for (const name of [
    'administrator',
    'support',
    'Staff',
    'chat',
    'Chat Service',
    'mod-erator',
    'Ｓｙｓｔｅｍ',
    'Ádmin'
  ]) {
    t.ok(posesAsStaff(name), `${name} poses as staff`)
  }
  for (const name of ['Alice', 'Adminah', 'Stafford', 'Chatterjee', 'Systems Al', 'sam']) {
    t.notOk(posesAsStaff(name), `${name} is a name like any other`)
  }
})

async function post(url: string, name: string) {
  const res = await fetch(`${url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name })
  })
  return { status: res.status, body: (await res.json()) as any }
}

t.test("a guest may not take staff's names, and the review's look-alikes are refused or marked", async (t) => {
  const { url } = await startApp(t)
  for (const name of ['admin', 'System', 'Ａdmin', 'moderator', 'Support', 'staff', 'Administrator', 'chat']) {
    const res = await post(url, name)
    t.equal(res.status, 400, `${name}: 400`)
    t.equal(res.body.code, 'INVALID_PAYLOAD')
  }
  for (const name of ['Al\u200Bice', 'Ann\u200F', 'evil\u202Etxt.exe']) {
    t.equal((await post(url, name)).status, 400, `${JSON.stringify(name)}: 400`)
  }
  const lookAlike = await post(url, 'Ａlice')
  t.equal(lookAlike.status, 201, 'Ａlice may sign in...')
  t.same(lookAlike.body.user, { id: lookAlike.body.user.id, name: 'Ａlice', guest: true }, '...marked a guest')
  const claims = JSON.parse(Buffer.from(lookAlike.body.token.split('.')[1], 'base64url').toString())
  t.equal(claims.guest, true, 'the token says guest: true')
  t.match(claims.jti, /^[0-9a-f-]{36}$/, 'and has a jti')
})

t.test('a guest is marked in members, messages, history, presence and typing', async (t) => {
  const { url } = await startApp(t)
  const ann = await signIn(url, 'Ann')
  const mallory = await signIn(url, 'Ａlice')
  const annSocket = await connect(client(t, url, ann.token))
  await request(annSocket, 'room:join', { room: 'lobby' })
  const guestSocket = await connect(client(t, url, mallory.token))
  const joinedSeen = next(annSocket, 'presence', (e) => e.user.id === mallory.user.id && e.status === 'joined')
  const joined = await request(guestSocket, 'room:join', { room: 'lobby' })
  t.same((await joinedSeen).user, { id: mallory.user.id, name: 'Ａlice', guest: true }, 'presence')
  t.ok(
    joined.members.some((m: any) => m.id === mallory.user.id && m.guest === true),
    'the join answer lists the guest as a guest'
  )
  const typing = next(annSocket, 'typing', (e) => e.user.id === mallory.user.id)
  await request(guestSocket, 'typing', { room: 'lobby', typing: true })
  t.equal((await typing).user.guest, true, 'typing')
  const seen = next(annSocket, 'message', (m: any) => m.user?.id === mallory.user.id)
  await request(guestSocket, 'message:send', { room: 'lobby', text: 'hi, it is me' })
  t.equal(((await seen) as any).user.guest, true, 'the message author')
  const history = await request(annSocket, 'room:history', { room: 'lobby' })
  t.equal(history.messages.at(-1).user.guest, true, 'history')
  const left = next(annSocket, 'presence', (e) => e.user.id === mallory.user.id && e.status === 'left')
  guestSocket.disconnect()
  t.equal((await left).user.guest, true, 'presence on leaving')
})
