import t from 'tap'
import { CONNECT_RETRY, ROOM_RETRY, retryDelay, SEND_RETRY } from '../../client/src/retry.js'
import type { ErrorCode } from '../../src/chat/protocol.js'

const refused = (code: ErrorCode, retryAfterMs?: number) => ({ error: { code, message: code, retryAfterMs } })
const unanswered = { unanswered: true } as const
const low = () => 0
const high = () => 0.999_999

t.test('only refusals that may pass as they are are tried again', async (t) => {
  for (const code of ['INVALID_PAYLOAD', 'NOT_IN_ROOM', 'INTERNAL', 'UNAUTHORIZED'] as const) {
    t.equal(retryDelay(ROOM_RETRY, refused(code), 0), undefined, `a join or gap fill refused ${code}`)
    t.equal(retryDelay(SEND_RETRY, refused(code), 0), undefined, `a send refused ${code}`)
  }
  t.equal(retryDelay(CONNECT_RETRY, refused('UNAUTHORIZED'), 0), undefined)
  t.equal(retryDelay(CONNECT_RETRY, refused('TOO_MANY_CONNECTIONS'), 3), 5000, 'too many tabs: again after 5 s')
})

t.test('retryAfterMs is a floor that the spread only adds to', async (t) => {
  t.equal(retryDelay(ROOM_RETRY, refused('RATE_LIMITED', 800), 0, low), 800)
  t.ok(retryDelay(ROOM_RETRY, refused('RATE_LIMITED', 800), 0, high)! < 1200)
  t.ok(
    retryDelay(ROOM_RETRY, refused('RATE_LIMITED', 800), 0, high)! > 1199,
    'up to half again, so that many do not come back at once'
  )
  t.equal(retryDelay(SEND_RETRY, refused('RATE_LIMITED', 800), 4, high), 800, 'a send waits exactly what it is told')
})

t.test('joins and gap fills back off from 1 s to 30 s while the store is away or no answer comes', async (t) => {
  const waits = [0, 1, 2, 3, 4, 5, 6, 9].map((attempt) =>
    retryDelay(ROOM_RETRY, refused('UNAVAILABLE'), attempt, () => 0.5)
  )
  t.same(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000])
  t.equal(
    retryDelay(ROOM_RETRY, unanswered, 2, () => 0.5),
    4000,
    'no answer counts as the server away'
  )
  t.equal(retryDelay(ROOM_RETRY, refused('UNAVAILABLE'), 0, low), 750, 'spread below as well as above')
})

t.test(
  'a send refused without a time waits 2 s; one unanswered goes again at once (its clientId makes that safe)',
  async (t) => {
    t.equal(retryDelay(SEND_RETRY, refused('UNAVAILABLE'), 0, high), 2000)
    t.equal(retryDelay(SEND_RETRY, refused('UNAVAILABLE'), 7, high), 2000)
    t.equal(retryDelay(SEND_RETRY, unanswered, 3), 0)
  }
)
