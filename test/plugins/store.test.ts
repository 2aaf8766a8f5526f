import { Redis } from 'ioredis'
import t from 'tap'
import { paceReads, readAfterLastEntry } from '../../src/plugins/store.js'
import { startRedis } from '../redis-server.js'

t.test("the adapter's stream reads are paced: what follows a read comes back together", async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const writer = new Redis(redis.url)
  const reader = new Redis(redis.url)
  t.teardown(() => {
    writer.disconnect()
    reader.disconnect()
  })
  paceReads(reader, 200)
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

t.test('pacing off leaves the reader as it is', async (t) => {
  const reader = new Redis({ lazyConnect: true })
  const xread = reader.xread
  paceReads(reader, 0)
  t.equal(reader.xread, xread)
})

t.test("a reader that has read nothing yet misses nothing appended between its reads ('$' made concrete)", async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const writer = new Redis(redis.url)
  const plain = new Redis(redis.url)
  const reader = new Redis(redis.url)
  t.teardown(() => {
    for (const c of [writer, plain, reader]) c.disconnect()
  })
  readAfterLastEntry(reader, 's')
  await writer.xadd('s', '*', 'text', 'before')
  type Entries = Array<[string, Array<[string, string[]]>]> | null
  const texts = (result: unknown) => ((result as Entries)?.[0]?.[1] ?? []).map(([, fields]) => fields[1])
  // As the adapter does until it has read an entry: every read from '$'. Each times out empty;
  // then something is appended before the next read arrives (as after a stall of Redis).
  const read = (client: Redis) => client.xread('COUNT', 100, 'BLOCK', 50, 'STREAMS', 's', '$')
  t.same(texts(await read(plain)), [])
  t.same(texts(await read(reader)), [], 'what was there before the first read is not read')
  await writer.xadd('s', '*', 'text', 'between')
  t.same(texts(await read(plain)), [], "a plain '$' read misses it")
  t.same(texts(await read(reader)), ['between'], 'this reader gets it')
  t.same(texts(await reader.xread('COUNT', 10, 'BLOCK', 50, 'STREAMS', 'other', '$')), [], 'other streams are read as asked')
})
