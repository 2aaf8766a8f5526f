// The room feed's contract: the memory and the Redis feed pass this same suite.
import type { Test } from 'tap'
import type { FeedEntry } from '../../../src/chat/store/parts.js'
import { until } from '../../helpers.js'
import type { MakeStore } from './log-contract.js'

const ann = { id: 'ann', name: 'Ann' }

export function feedContract(t: Test, make: MakeStore): void {
  t.test("a followed room's entries arrive once each, in seq order, as stored", async (t) => {
    const store = await make(t)
    const got: FeedEntry[] = []
    store.feed.onEntry((entry) => got.push(entry))
    await store.feed.follow('r')
    await store.feed.follow('r')
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
    await store.log.append({ room: 'r', user: ann, text: 'one', ts: 1, clientId: 'c1' })
    await Promise.all(
      [2, 3, 4].map((i) =>
        store.log.append({ room: 'r', user: ann, text: `m${i}`, ts: 1, trace: i === 3 ? trace : undefined })
      )
    )
    t.equal((await store.log.append({ room: 'r', user: ann, text: 'one', ts: 1, clientId: 'c1' })).duplicate, true)
    await until(() => got.length >= 4, 5000, 'four entries')
    await store.log.append({ room: 'r', user: ann, text: 'last', ts: 1 })
    await until(() => got.length >= 5, 5000, 'the fifth')
    t.same(
      got.map((e) => e.seq),
      [1, 2, 3, 4, 5],
      'a retry publishes nothing'
    )
    t.same(
      got.map((e) => JSON.parse(e.json)),
      await store.log.latest('r', 10),
      'the JSON as stored'
    )
    t.ok(got.every((e) => e.room === 'r'))
    t.same(got.find((e) => e.seq === 3)?.trace, trace, 'the trace context travels with its entry')
    t.equal(got.find((e) => e.seq === 2)?.trace, undefined)
  })
}
