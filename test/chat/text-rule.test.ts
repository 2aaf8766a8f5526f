import t from 'tap'
import { hasVisibleText } from '../../src/chat/limits.js'
import { guest, request, startApp } from '../helpers.js'

const room = 'general'

// Texts that show nothing: white space as Unicode counts it, and invisible characters.
const blank: Array<[string, string]> = [
  ['U+FEFF only (not white space to Unicode, but shows nothing)', '\uFEFF'],
  ['U+200B zero-width space only', '\u200B\u200B'],
  ['U+0085 next line only', '\u0085'],
  ['zero-width joiner, word joiner, soft hyphen and a variation selector', '\u200D\u2060\u00AD\uFE0F'],
  ['a Hangul filler and a braille blank', '\u3164\u2800'],
  ['white space around invisible characters', ' \uFEFF\n\u200B\t\u3000']
]
// Each has something that shows; the invisible characters around it are kept.
const visible: Array<[string, string]> = [
  ['a letter between U+FEFF and U+200B', '\uFEFFa\u200B'],
  ['an emoji after U+0085', '\u0085😀'],
  ['a letter with its combining accent', 'e\u0301'],
  ['a digit inside zero-width spaces', '\u200B1\u200B']
]

t.test('the text rule: something that shows, as the schema and the client both test it', async (t) => {
  for (const [name, text] of blank) t.equal(hasVisibleText(text), false, name)
  for (const [name, text] of visible) t.equal(hasVisibleText(text), true, name)
})

t.test(
  'message:send refuses a text of only white space or invisible characters, and stores exactly a text with something visible',
  async (t) => {
    const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
    const alice = await guest(t, url, 'Alice')
    await request(alice.socket, 'room:join', { room })
    for (const [name, text] of blank) {
      const answer = await request(alice.socket, 'message:send', { room, text })
      t.equal(answer.error?.code, 'INVALID_PAYLOAD', `${name} → INVALID_PAYLOAD`)
    }
    for (const [name, text] of visible) {
      const answer = await request(alice.socket, 'message:send', { room, text })
      t.equal(answer.ok, true, `${name} is accepted`)
      t.equal(answer.message?.text, text, `${name} is stored exactly as given`)
    }
    const stored = await request(alice.socket, 'room:history', { room })
    t.same(
      stored.messages.map((m: { text: string }) => m.text),
      visible.map(([, text]) => text),
      'only the texts with something visible were stored, as given'
    )
  }
)
