import { Redis } from 'ioredis'
import t from 'tap'
import { readAfterLastEntry } from '../../src/plugins/store.js'
import { startRedis } from '../redis-server.js'

t.test(
  "a reader that has read nothing yet misses nothing appended between its reads ('$' made concrete)",
  async (t) => {
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
    t.same(
      texts(await reader.xread('COUNT', 10, 'BLOCK', 50, 'STREAMS', 'other', '$')),
      [],
      'other streams are read as asked'
    )
  }
)
