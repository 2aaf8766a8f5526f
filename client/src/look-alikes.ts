// Names that look alike, told apart: two people in one room whose names a reader could take for
// each other (`Alice`, `Аlice` with a Cyrillic А, `ＡＬＩＣＥ`, `AIice` with a capital I) are each
// shown with a short tag made from their user id (`Alice #3f2a`). Names are reduced to a
// skeleton after UTS #39 (compatibility decomposition, default-ignorables and marks dropped,
// confusables mapped to one prototype), with case folded too. No DOM here.

// The common confusables of UTS #39 (confusables.txt) for Latin, Cyrillic, Greek and the digits,
// by how the characters look: capitals first (before case is folded, so that a capital I is
// still told from a small i), then small letters.
const CAPITALS = table({
  A: 'АΑ',
  B: 'ВΒ',
  C: 'СϹ',
  E: 'ЕΕ',
  H: 'НΗ',
  J: 'Ј',
  K: 'КΚ',
  M: 'МΜ',
  N: 'Ν',
  O: 'ОΟ0',
  P: 'РΡ',
  S: 'Ѕ',
  T: 'ТΤ',
  X: 'ХΧ',
  Y: 'ҮΥ',
  Z: 'Ζ',
  l: 'IΙІӀ1|ǀ'
})
const SMALL = table({
  a: 'аɑα',
  c: 'сϲ',
  d: 'ԁ',
  e: 'еє',
  g: 'ɡ',
  h: 'һ',
  i: 'іıɩι',
  j: 'јϳ',
  k: 'κ',
  l: 'ӏ1|ǀ',
  n: 'ո',
  o: 'оοσ0',
  p: 'рρ',
  q: 'ԛ',
  s: 'ѕ',
  u: 'υս',
  v: 'ν',
  w: 'ԝ',
  x: 'хχ',
  y: 'уγү'
})

function table(rows: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(rows).flatMap(([prototype, others]) => [...others].map((c) => [c, prototype] as const)))
}

// Drawn as nothing, or on the letter before: gone from the skeleton. White space and
// punctuation go too (`Al ice`, `Alice.`): a tag shown once too often costs little.
const DROPPED = /[\p{Default_Ignorable_Code_Point}\p{M}\p{Z}\p{P}\s]/gu

const mapped = (text: string, map: Map<string, string>) => Array.from(text, (c) => map.get(c) ?? c).join('')

/** Full case folding, near enough: `ß` and `SS` alike, final sigma as sigma. */
const folded = (text: string) => text.toUpperCase().toLowerCase()

/** Letter pairs that read as one letter (UTS #39 maps `m` to `rn`). */
const pairs = (text: string) => text.replace(/m/g, 'rn').replace(/d/g, 'cl').replace(/vv/g, 'w')

/**
 * A name's skeletons: two names look alike when they share one. Two, because folding case
 * first makes `ALICE` meet `alice`, and mapping first makes `AIice` (a capital I) meet `Alice`.
 */
export function skeletons(name: string): string[] {
  const bare = name.normalize('NFKD').replace(DROPPED, '')
  const byLook = pairs(mapped(folded(mapped(bare, CAPITALS)), SMALL))
  const byCase = pairs(mapped(folded(bare), SMALL))
  return byLook === byCase ? [byLook] : [byLook, byCase]
}

/** The one skeleton of UTS #39's kind most callers want (the first of `skeletons`). */
export const skeleton = (name: string): string => skeletons(name)[0] ?? ''

// Names come back at every render: their skeletons are kept (a bounded cache).
const cache = new Map<string, string[]>()
function cachedSkeletons(name: string): string[] {
  let known = cache.get(name)
  if (known === undefined) {
    if (cache.size >= 5000) cache.clear()
    known = skeletons(name)
    cache.set(name, known)
  }
  return known
}

/**
 * A short tag for a user id, the same wherever the user is shown: `length` hex digits of a
 * 64-bit FNV-1a hash of the id (ids may be UUIDs, e-mail addresses or numbers: a hash spreads
 * them all alike, and says nothing of what the id is).
 */
export function idTag(id: string, length = 4): string {
  let hash = 0xcbf29ce484222325n
  for (const byte of new TextEncoder().encode(id)) {
    hash ^= BigInt(byte)
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return hash.toString(16).padStart(16, '0').slice(0, Math.min(length, 16))
}

/**
 * Who needs a tag among the people of one room (members, people here, authors of messages
 * shown): every user whose name looks like another user's. Each gets `#` and four hex digits
 * of their id's hash, more when four would not tell the look-alikes apart (an id found by
 * trying many sign-ins), and the whole id at worst.
 */
export function lookAlikeTags(people: Iterable<{ id: string; name: string }>): Map<string, string> {
  const names = new Map<string, string>()
  for (const person of people) if (!names.has(person.id)) names.set(person.id, person.name)
  const bySkeleton = new Map<string, Set<string>>()
  for (const [id, name] of names) {
    for (const key of cachedSkeletons(name)) {
      const ids = bySkeleton.get(key) ?? new Set<string>()
      ids.add(id)
      bySkeleton.set(key, ids)
    }
  }
  const groups = [...bySkeleton.values()].filter((ids) => ids.size > 1)
  const lengths = new Map<string, number>()
  for (const ids of groups) {
    let length = 4
    while (length < 16 && new Set([...ids].map((id) => idTag(id, length))).size < ids.size) length += 2
    for (const id of ids) lengths.set(id, Math.max(lengths.get(id) ?? 0, length))
  }
  const tags = new Map<string, string>()
  for (const [id, length] of lengths) {
    const clash = groups.some((ids) => ids.has(id) && new Set([...ids].map((x) => idTag(x, 16))).size < ids.size)
    tags.set(id, `#${clash ? id : idTag(id, length)}`)
  }
  return tags
}
