import t from 'tap'
import { received, renewDelay } from '../../client/src/session.js'

const jwt = (claims: Record<string, unknown>) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`

t.test('a token is refreshed at 80% of its life, or a minute before its end when that is sooner', async (t) => {
  t.equal(renewDelay(24 * 3600_000), 69_120_000, 'a day: after 19.2 hours')
  t.equal(renewDelay(5 * 60_000), 4 * 60_000, 'five minutes: a minute before (both the same)')
  t.equal(renewDelay(3 * 60_000), 2 * 60_000, 'three minutes: a minute before (sooner than 80%)')
  t.equal(renewDelay(60_000), 30_000, 'a minute: at half its life, never at once')
  t.equal(renewDelay(6_000), 3_000)
  t.equal(renewDelay(0), 0)
})

t.test('the times are counted by the issuer’s clock (exp - iat), whatever this clock says', async (t) => {
  const exp = 2_000_000_000
  const token = jwt({ sub: 'u', iat: exp - 600, exp })
  // This browser's clock is an hour ahead of the server's.
  const now = exp * 1000 - 600_000 + 3600_000
  const session = received({ token, user: { id: 'u', name: 'U' }, expiresAt: exp * 1000 }, now)
  t.equal(session.endsAt, now + 600_000, 'ends ten minutes from now on this clock')
  t.equal(session.renewAt, now + 480_000, 'refreshed after eight')
  const opaque = received({ token: 'not-a-jwt', user: { id: 'u', name: 'U' }, expiresAt: 1_000_000 }, 400_000)
  t.equal(opaque.endsAt, 1_000_000, 'a token this page cannot read: the server’s expiresAt')
})
