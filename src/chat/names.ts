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
