// The bounds on answers that carry messages: one answer's size, and a socket's answers at once.
import t from 'tap'
import { ANSWER_BYTES, AnswerQueue, fit } from '../../src/chat/answers.js'
import type { Message } from '../../src/chat/protocol.js'

const message = (seq: number, text: string): Message => ({
  id: `m${seq}`,
  room: 'r',
  seq,
  user: { id: 'u', name: 'U' },
  text,
  ts: 0
})
const json = (messages: Message[]) => Buffer.byteLength(JSON.stringify(messages))

t.test('fit keeps what fits, the newest or the oldest, and at least one', async (t) => {
  const small = [1, 2, 3].map((seq) => message(seq, 'hi'))
  t.same(fit(small, 10_000, 'newest').messages, small, 'all of what fits, as it is')
  t.ok(fit(small, 10_000, 'newest').bytes >= json(small), 'its size, at most')
  const big = [1, 2, 3, 4].map((seq) => message(seq, '\u0001'.repeat(1000)))
  const each = json([big[0]!]) + 1
  const newest = fit(big, 2 * each, 'newest')
  t.same(
    newest.messages.map((m) => m.seq),
    [3, 4],
    'the newest two'
  )
  t.ok(json(newest.messages) <= 2 * each)
  t.same(
    fit(big, 2 * each, 'oldest').messages.map((m) => m.seq),
    [1, 2],
    'the oldest two'
  )
  t.same(
    fit(big, 10, 'newest').messages.map((m) => m.seq),
    [4],
    'never none'
  )
  t.same(fit([], 10, 'newest').messages, [])
})

t.test(
  "a socket's answers wait their turn while answers and unsent output fill its bound, and are refused when nothing moves",
  async (t) => {
    let buffered = 0
    const queue = new AnswerQueue(() => buffered, 300, 10)
    const order: string[] = []
    let release!: () => void
    const holding = new Promise<void>((resolve) => (release = resolve))
    // Two answers may be made at once; the third waits until one is fitted small or done.
    const first = queue.run(async () => {
      order.push('first')
      await holding
    })
    const second = queue.run(async () => {
      order.push('second')
      await holding
    })
    const third = queue.run(async (fitter) => {
      order.push('third')
      return fitter([message(1, 'x')], 'newest').length
    })
    await new Promise((resolve) => setImmediate(resolve))
    t.same(order, ['first', 'second'], 'the third waits')
    release()
    t.equal(await third, 1)
    await Promise.all([first, second])
    t.same(order, ['first', 'second', 'third'])

    // Output that does not go out holds answers back; if it stays, they are refused.
    await new Promise((resolve) => setImmediate(resolve))
    buffered = 2 * ANSWER_BYTES
    const refused = await queue.run(async () => 'made').catch((err: { code?: string }) => err.code)
    t.equal(refused, 'RATE_LIMITED', 'refused after the wait')
    buffered = 2 * ANSWER_BYTES
    const late = queue.run(async () => 'made')
    setTimeout(() => (buffered = 0), 50)
    t.equal(await late, 'made', 'made once the output went out')

    // A client reading slowly but steadily is waited for, past the wait without progress.
    buffered = 2 * ANSWER_BYTES
    const steady = setInterval(() => (buffered = Math.max(0, buffered - 64 * 1024)), 40)
    t.teardown(() => clearInterval(steady))
    t.equal(await queue.run(async () => 'made'), 'made', 'made once enough went out, however long that took')
    clearInterval(steady)

    buffered = 2 * ANSWER_BYTES
    const closing = queue.run(async () => 'made').catch((err: { code?: string }) => err.code)
    queue.close()
    t.equal(await closing, 'UNAVAILABLE', 'a closed socket has its waiting answers refused')
  }
)
