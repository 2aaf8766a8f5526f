import { Redis } from 'ioredis'
import t from 'tap'
import { paceStreamReads } from '../../src/plugins/store.js'
import { startRedis } from '../redis-server.js'

t.test("the adapter's stream reads are paced: what follows a read comes back together", async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const writer = new Redis(redis.url)
  const base = new Redis(redis.url)
  t.teardown(() => {
    writer.disconnect()
    base.disconnect()
  })
  const reader = paceStreamReads(base, 200).duplicate()
  t.teardown(() => reader.disconnect())
  type Entries = Array<[string, Array<[string, string[]]>]> | null
  const read = (after: string) => reader.xread('COUNT', 100, 'BLOCK', 5000, 'STREAMS', 's', after) as Promise<Entries>
  const texts = (result: Entries) => (result?.[0]?.[1] ?? []).map(([, fields]) => fields[1])

  // A quiet stream: the first entry comes back as soon as it is written.
  const first = read('$')
  await new Promise((r) => setTimeout(r, 50))
  await writer.xadd('s', '*', 'text', 'a')
  const one = await first
  t.same(texts(one), ['a'], 'the first entry after a quiet spell, alone')
  // The adapter reads again at once; entries written in the next moments come back together.
  const next = read(one![0]![1][0]![0])
  await writer.xadd('s', '*', 'text', 'b')
  await new Promise((r) => setTimeout(r, 50))
  await writer.xadd('s', '*', 'text', 'c')
  await writer.xadd('s', '*', 'text', 'd')
  t.same(texts(await next), ['b', 'c', 'd'], 'the next read waited and took them all, in order')
})

t.test('pacing off leaves the client as it is', async (t) => {
  const client = new Redis({ lazyConnect: true })
  const duplicate = client.duplicate
  t.equal(paceStreamReads(client, 0).duplicate, duplicate)
})
