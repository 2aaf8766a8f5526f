// The Socket.IO rooms the service puts sockets in. Socket.IO itself puts every socket in a room
// named by its id, and ids (20 characters of [A-Za-z0-9_-]) are mostly valid chat room names: a
// chat room used as is could be another connection's own room, whose socket would then get that
// room's messages without joining it. So each kind of room has its own prefix, and ':' (which no
// chat room name or socket id contains) keeps them apart.

/** The Socket.IO room of a chat room. */
export function chatRoom(room: string): string {
  return `room:${room}`
}

/** Every socket of a user also sits in this room, so "the others" can exclude them all. */
export function userRoom(userId: string): string {
  return `user:${userId}`
}

/** Whether a Socket.IO room is a chat room. */
export function isChatRoom(name: string): boolean {
  return name.startsWith('room:')
}

/** The chat room of a Socket.IO room that `isChatRoom`. */
export function chatRoomName(name: string): string {
  return name.slice('room:'.length)
}
