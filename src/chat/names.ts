// What a display text (a name, a room's title) may hold: what other people's screens show as
// written, and nothing that hides itself or rearranges the text around it.

// Control characters; the bidirectional overrides and marks and the line separators that let a
// text disguise itself or break a line in other people's screens; lone surrogates (not text:
// no font shows them, and some JSON decoders refuse them); and the fillers that draw nothing.
const FORBIDDEN_IN_TEXT =
  /[\p{Cc}\p{Cs}\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069\uFEFF\u115F\u1160\u2800\u3164\uFFA0]/u
/** Something that shows: not white space, a format character (zero-width space) or a lone mark. */
const VISIBLE = /[^\p{White_Space}\p{Cf}\p{M}]/u

/** The text trimmed, or why it is refused (`field` names it in the words). */
export function checkDisplayText(
  raw: string,
  maxLength: number,
  field: string
): { text: string } | { refused: string } {
  const text = raw.trim()
  const length = [...text].length
  if (length < 1 || length > maxLength)
    return { refused: `${field} must be 1 to ${maxLength} characters after trimming` }
  if (FORBIDDEN_IN_TEXT.test(text)) return { refused: `${field} must not contain control or invisible characters` }
  if (!VISIBLE.test(text)) return { refused: `${field} must contain a visible character` }
  return { text }
}

/** The most code points a person's name may have, from any source (guest, token). */
export const MAX_NAME_LENGTH = 32

// Stricter than a title: a name is shown beside every message, so nothing in it may draw
// nothing or change how text around it reads. Format characters (zero-width joiners, bidi
// controls and marks, soft hyphens) and default-ignorable code points (variation selectors,
// Hangul fillers, tags) are all refused, as are line separators and lone surrogates.
const FORBIDDEN_IN_NAME =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800\u3164\uFFA0\u115F\u1160]/u
const LEADING_MARK = /^\p{M}/u

/**
 * The one name rule, for guests and for names from tokens: trimmed and NFC-normalised, 1 to 32
 * code points, at least one visible character, no control, format or default-ignorable code
 * points, and no combining mark first (it would join whatever a screen puts before the name).
 */
export function checkName(raw: string): { name: string } | { refused: string } {
  const name = raw.normalize('NFC').trim()
  const length = [...name].length
  if (length < 1 || length > MAX_NAME_LENGTH) {
    return { refused: `name must be 1 to ${MAX_NAME_LENGTH} characters after trimming` }
  }
  if (FORBIDDEN_IN_NAME.test(name)) return { refused: 'name must not contain control or invisible characters' }
  if (!VISIBLE.test(name)) return { refused: 'name must contain a visible character' }
  if (LEADING_MARK.test(name)) return { refused: 'name must not start with a combining mark' }
  return { name }
}

/** The service's own name, which a guest may not take either. */
export const SERVICE_NAME = 'chat'

const STAFF_NAMES = new Set([
  'admin',
  'administrator',
  'system',
  'moderator',
  'support',
  'staff',
  SERVICE_NAME,
  'chatservice'
])

// Letters and digits that pass for the Latin letters of the staff names: Cyrillic and Greek
// look-alikes (a few of UTS #39's confusables) and the usual digit swaps. NFKC has already
// folded the full-width and mathematical forms.
const LOOK_ALIKES = new Map(
  Object.entries({
    a: 'аɑα4@',
    c: 'сϲ',
    d: 'ԁ',
    e: 'еε3',
    h: 'һ',
    i: 'іıɩι1!l|',
    m: 'м',
    n: 'ոη',
    o: 'оοσ0',
    p: 'рρ',
    r: 'г',
    s: 'ѕ5$',
    t: 'тτ7',
    u: 'υս',
    y: 'уүγ'
  }).flatMap(([latin, others]) => [...others].map((other) => [other, latin] as const))
)

/** A name reduced to what a reader takes it for: case, accents, spacing and look-alikes gone. */
function folded(name: string): string {
  const letters = [...name.normalize('NFKC').toLowerCase().normalize('NFKD')]
  return letters
    .map((c) => LOOK_ALIKES.get(c) ?? c)
    .join('')
    .replace(/[^\p{L}]/gu, '')
}

/** Whether a guest's name would pass for staff or the service itself (`Admin`, `Ｓystem`, `mod-erator`). */
export function posesAsStaff(name: string): boolean {
  return STAFF_NAMES.has(folded(name))
}
