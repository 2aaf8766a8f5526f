import t from 'tap'
import { RoomState } from '../../client/src/room-state.js'
import type { DeletionEntry, Message } from '../../src/chat/protocol.js'

const m = (seq: number, extra: Partial<Message> = {}): Message => ({
  id: `id-${seq}`,
  room: 'r',
  seq,
  user: { id: 'u', name: 'U' },
  text: `m${seq}`,
  ts: seq,
  ...extra
})

t.test('a rejoin asks after the last seq with no hole below it', async (t) => {
  const room = new RoomState('r')
  t.equal(room.lastSeq(), 0)
  room.add([m(51), m(52), m(53)])
  t.equal(room.lastSeq(), 53, 'a latest page starts wherever it starts')
  // The acknowledgement of our own seq 55 arrives before the broadcast of seq 54.
  room.add([m(55)])
  t.equal(room.lastSeq(), 53, 'since stays before the hole, so 54 is asked for again')
  t.equal(room.leavesGap(m(56)), true, 'a later broadcast notices the hole')
  room.add([m(54)])
  t.equal(room.lastSeq(), 55)
  t.equal(room.leavesGap(m(56)), false)
})

t.test('each seq is held once; a stored message replaces its pending line', async (t) => {
  const room = new RoomState('r')
  room.pending.set('c1', { clientId: 'c1', text: 'hi', createdAt: 0, state: 'sending' })
  t.same(room.add([m(1, { clientId: 'c1' })]).length, 1)
  t.equal(room.pending.size, 0)
  t.same(room.add([m(1, { clientId: 'c1' })]), [], 'the same message again is not new')
  t.same(room.add([m(2, { room: 'other' })]), [], "another room's message is not this room's")
  t.same(
    room.ordered().map((x) => x.seq),
    [1]
  )
})

t.test("a rejoin's answer tells a continuation from trimmed or lost history", async (t) => {
  const room = new RoomState('r')
  room.add([m(1), m(2), m(3), m(4), m(5)])
  // The rejoin asked from seq 4, so that seq 5 comes back to compare.
  t.equal(room.rejoined(5, [m(5), m(6)], true), 'continues', 'the same seq 5, and what came after')
  t.equal(room.rejoined(5, [m(5)], true), 'continues', 'nothing new')
  t.equal(
    room.rejoined(5, [m(5, { id: 'other' }), m(6)], true),
    'lost',
    'another message under seq 5: the history started over'
  )
  t.equal(room.rejoined(5, [], true), 'lost', 'the room has only 4 messages now')
  t.equal(
    room.rejoined(5, [m(1, { id: 'x1' }), m(2, { id: 'x2' })], false),
    'lost',
    'a since beyond the room: the latest page of a shorter history'
  )
  t.equal(
    room.rejoined(5, [m(6), m(7)], false),
    'continues',
    'seq 5 itself trimmed, everything after it kept: nothing missed'
  )
  t.equal(room.rejoined(5, [m(9), m(10)], false), 'trimmed', 'seqs 6 to 8 are gone')
})

t.test('a reset drops what is shown and counted unread, and marks the history as replaced', async (t) => {
  const room = new RoomState('r')
  room.add([m(1), m(2)])
  room.unread = 2
  room.hasOlder = false
  room.reset()
  t.equal(room.entries.size, 0)
  t.equal(room.unread, 0, 'no count of messages no longer there')
  t.equal(room.hasOlder, true)
  t.equal(room.replaced, true, "the next join's history is news")
})

t.test('a hole is a message held above a missing seq', async (t) => {
  const room = new RoomState('r')
  t.equal(room.hasHole(), false, 'nothing held')
  room.add([m(3), m(4)])
  t.equal(room.hasHole(), false, 'held from its oldest up, no gap')
  room.add([m(7)])
  t.equal(room.hasHole(), true, '5 and 6 missing')
  room.add([m(5), m(6)])
  t.equal(room.hasHole(), false, 'filled')
})

const deletion = (seq: number, target: string): DeletionEntry => ({
  id: `del-${seq}`,
  room: 'r',
  seq,
  type: 'deletion',
  target,
  user: { id: 'u', name: 'U' },
  ts: seq
})

t.test('a deletion entry moves the seq like a message and turns its target into a tombstone', async (t) => {
  const room = new RoomState('r')
  room.add([m(1), m(2)])
  t.equal(room.leavesGap(deletion(3, 'id-1')), false, 'the next seq, whatever its kind, is no gap')
  const fresh = room.add([deletion(3, 'id-1')])
  t.equal(fresh.length, 1)
  t.equal(room.lastSeq(), 3, 'since counts it')
  t.same(
    room.ordered().map((x) => [x.seq, x.text, x.deleted === true]),
    [
      [1, '', true],
      [2, 'm2', false]
    ],
    'shown as its target deleted, not as a message of its own'
  )
  t.equal(room.leavesGap(m(5)), true, 'a hole after a deletion is still a hole')
})

t.test('a deletion read before its target (an older page later) still deletes it', async (t) => {
  const room = new RoomState('r')
  room.add([m(10), deletion(11, 'id-4')])
  room.add([m(4)])
  t.equal(room.ordered()[0]?.deleted, true, 'the older page brings it deleted')
  t.same(
    room.ordered().map((x) => x.seq),
    [4, 10]
  )
})

t.test('a held message that comes back as a tombstone (a rejoin overlap, history) is shown deleted', async (t) => {
  const room = new RoomState('r')
  room.add([m(1), m(2)])
  t.same(room.add([m(2, { text: '', deleted: true })]), [], 'not new')
  t.equal(room.ordered()[1]?.deleted, true)
  t.equal(room.ordered()[1]?.text, '', 'its text is gone here too')
  room.add([m(2, { id: 'other', text: '', deleted: true })])
  t.equal(room.ordered()[1]?.id, 'id-2', 'another message under a held seq changes nothing here (the sync starts over)')
  room.reset()
  room.add([m(1)])
  t.equal(room.ordered()[0]?.deleted, undefined, 'a reset forgets what was deleted')
})
