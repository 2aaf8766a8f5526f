// What the Redis log keeps beside history for deletion and the send budget: bounded, under the
// room's hash tag, and gone when it is of no more use.
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisStore } from '../../../src/chat/store/redis-store.js'
import { until } from '../../helpers.js'
import { startRedis } from '../../redis-server.js'

const redis = await startRedis(t)
const ann = { id: 'ann', name: 'Ann' }

if (redis !== undefined) {
  t.test('the message index is trimmed with history; the budget key lives until the bucket is full', async (t) => {
    const client = new Redis(redis.url)
    const subscriber = client.duplicate()
    const store = new RedisStore(client, subscriber, {
      historyLimit: 5,
      upkeepMs: 0,
      roomTtlSeconds: 3600,
      userRoomMessagesPerMin: 1000
    })
    t.teardown(async () => {
      await store.close()
      client.disconnect()
      subscriber.disconnect()
    })
    await until(() => subscriber.status === 'ready', 5000, 'the feed connection')
    for (let i = 0; i < 40; i++) {
      const { message } = await store.log.append({ room: 'r', user: ann, text: `m${i}`, ts: 1, clientId: `c${i}` })
      if (i % 3 === 0) await store.log.delete({ room: 'r', target: message.id, user: ann, may: 'own', ts: 1 })
    }
    const kept = await store.log.latest('r', 10)
    const ids = await client.hgetall('chat:{r}:ids')
    t.same(
      Object.keys(ids).sort(),
      kept
        .filter((e) => !('type' in e))
        .map((e) => e.id)
        .sort(),
      'the index holds the retained messages, no more'
    )
    t.ok(
      Object.values(ids).every((v) => v.endsWith(':ann')),
      'each with its author'
    )
    t.ok((await client.hlen('chat:{r}:dedup')) <= 5, 'retry records too')
    const ttl = await client.ttl('chat:{r}:ids')
    t.ok(ttl > 3500 && ttl <= 3600, `the index expires with the room (${ttl} s)`)
    const budget = await client.pttl('chat:{r}:budget:ann')
    t.ok(budget > 0 && budget <= 60_000, `the budget key goes once the bucket is full again (${budget} ms)`)
  })
}
