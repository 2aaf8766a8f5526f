import t from 'tap'
import { idTag, lookAlikeTags, skeleton, skeletons } from '../../client/src/look-alikes.js'

const alike = (a: string, b: string) => skeletons(a).some((key) => skeletons(b).includes(key))

t.test('the look-alikes of the security review meet their original', async (t) => {
  for (const fake of [
    'Alice',
    'alice',
    'ALICE',
    'Ａlice', // full-width A
    'Ａｌｉｃｅ',
    'Аlice', // Cyrillic А
    'Αlice', // Greek Alpha
    'Alicе', // Cyrillic е
    'AIice', // a capital I for the l
    'A1ice',
    'A|ice',
    'Al\u200Bice', // a zero-width space
    'Al\u00ADice', // a soft hyphen
    'A\u0301lice', // a combining accent
    'Álice',
    'Al ice'
  ]) {
    t.ok(alike(fake, 'Alice'), `${JSON.stringify(fake)} looks like Alice`)
  }
  t.ok(alike('mary', 'rnary'), 'rn reads as m')
  t.ok(alike('BOB', 'ВОВ'), 'Cyrillic capitals read as Latin')
  t.ok(alike('Oscar', '0scar'), 'a zero reads as O')
  t.ok(alike('Straße', 'STRASSE'), 'ß folds to ss')
  t.ok(alike('Σίσυφος', 'ΣΊΣΥΦΟΣ'), 'Greek case and accents fold')
})

t.test('different names stay different', async (t) => {
  for (const [a, b] of [
    ['Alice', 'Alina'],
    ['Bob', 'Rob'],
    ['Ada', 'Adam'],
    ['Alice', 'Alice2'],
    ['李', '季'],
    ['Иван', 'Иванна']
  ] as const) {
    t.notOk(alike(a, b), `${a} and ${b}`)
  }
})

t.test('a skeleton is a string of prototypes', async (t) => {
  t.equal(skeleton('Ａlice'), 'alice')
  t.equal(skeleton('Аlice'), 'alice')
  t.equal(skeleton('AIice'), 'alice')
})

t.test('tags: only look-alikes get one, each different, the same for one id wherever shown', async (t) => {
  const alice = { id: '3b8c1f0e-5a7e-4c59-9a3f-2d1c9e8b7a61', name: 'Alice' }
  const fake = { id: 'f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b', name: 'Аlice' }
  const bob = { id: 'b0b', name: 'Bob' }
  const tags = lookAlikeTags([alice, bob, fake, alice])
  t.same([...tags.keys()].sort(), [alice.id, fake.id].sort(), 'Alice and her look-alike, not Bob')
  t.match(tags.get(alice.id), /^#[0-9a-f]{4}$/)
  t.not(tags.get(alice.id), tags.get(fake.id), 'told apart')
  t.equal(tags.get(alice.id), `#${idTag(alice.id)}`, 'the tag is a function of the id alone')
  t.same(lookAlikeTags([alice, bob]).size, 0, 'nobody alike, no tags')

  const twins = lookAlikeTags([
    { id: 'u1', name: 'Sam' },
    { id: 'u2', name: 'Sam' }
  ])
  t.equal(twins.size, 2, 'the same exact name by two people is told apart too')
})

t.test('tags grow when four digits would not tell two ids apart', async (t) => {
  // Look for two ids whose tags share their first four digits, as someone signing in again and
  // again could.
  const seen = new Map<string, string>()
  let pair: [string, string] | undefined
  for (let i = 0; pair === undefined; i++) {
    const id = `user-${i}`
    const tag = idTag(id)
    const other = seen.get(tag)
    if (other !== undefined) pair = [other, id]
    seen.set(tag, id)
  }
  const [a, b] = pair
  const tags = lookAlikeTags([
    { id: a, name: 'Alice' },
    { id: b, name: 'ALICE' }
  ])
  t.not(tags.get(a), tags.get(b))
  t.ok((tags.get(a)?.length ?? 0) > 5, 'longer than four digits')
})
