import t from 'tap'
import { TokenBucket } from '../../src/chat/rate-limiter.js'

t.test('a full bucket allows a burst, then one per 1/rate seconds', async (t) => {
  const bucket = new TokenBucket(2, 3, 0)
  t.same([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0])
  t.equal(bucket.take(0), 500, 'empty: the next token comes in 500 ms')
  t.equal(bucket.take(250), 250)
  t.equal(bucket.take(500), 0, 'refilled')
  t.equal(bucket.take(500), 500)
  t.same(
    [bucket.take(10_000), bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)],
    [0, 0, 0, 500],
    'never more than the burst'
  )
})

t.test('a rate of 0 never limits', async (t) => {
  const bucket = new TokenBucket(0, 1, 0)
  for (let i = 0; i < 100; i++) t.equal(bucket.take(0), 0)
})
