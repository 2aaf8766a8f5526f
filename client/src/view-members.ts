// The open room's member list: everyone who is a member with their role, who is here now, and a
// menu on each name with what the reader may do to them (a direct conversation; by role: make
// moderator, mute, remove, ban). The server decides every action; this only offers the ones its
// rules allow, so that nobody is shown a button that can only be refused.
import type { Member, RoleName, RoomKindName } from '../../src/chat/protocol.js'
import { reconcile, type Wanted } from './reconcile.js'
import type { RoomState, RosterMember } from './room-state.js'
import { $, el, personSig, personTags, personWords, type Tags } from './view.js'

export type MemberAction =
  | 'direct'
  | 'block'
  | 'unblock'
  | 'moderator'
  | 'member'
  | 'mute'
  | 'unmute'
  | 'remove'
  | 'ban'

export interface MemberHandlers {
  /** The user whose menu is open, if any. */
  openMenu: string | undefined
  toggle(userId: string | undefined): void
  act(action: MemberAction, member: RosterMember): void
}

/** How many members the list shows (the rest are counted). */
const MEMBERS_LISTED = 200
const ROLE_ORDER: Record<RoleName, number> = { owner: 0, moderator: 1, member: 2 }

const ACTION_WORDS: Record<MemberAction, string> = {
  direct: 'Message',
  block: 'Block',
  unblock: 'Unblock',
  moderator: 'Make moderator',
  member: 'Make member',
  mute: 'Mute',
  unmute: 'Unmute',
  remove: 'Remove',
  ban: 'Ban'
}

/**
 * What `role` may do to `target` in a room of `kind`, as the contract has it: an owner acts on
 * anyone but the owner and sets roles; a moderator acts on members only; nobody moderates a
 * direct conversation. Anyone may open a direct conversation with anyone else, and block them
 * (no direct conversation from them, and no sends in the one they share).
 */
export function actionsOn(
  target: RosterMember,
  me: Member,
  role: RoleName | undefined,
  kind: RoomKindName
): MemberAction[] {
  if (target.id === me.id) return []
  const actions: MemberAction[] = kind === 'direct' ? ['block', 'unblock'] : ['direct', 'block', 'unblock']
  if (kind === 'direct') return actions
  const moderates = role === 'owner' ? target.role !== 'owner' : role === 'moderator' && target.role === 'member'
  if (role === 'owner' && target.role === 'member') actions.push('moderator')
  if (role === 'owner' && target.role === 'moderator') actions.push('member')
  if (moderates) actions.push('mute', 'unmute', 'remove', 'ban')
  return actions
}

/** Everyone to list: the member list when read, else who is here (their roles unknown). */
function listed(room: RoomState): RosterMember[] {
  const roster = room.roster ?? new Map([...room.members].map(([id, m]) => [id, { ...m, role: 'member' as const }]))
  // A guest is one wherever the server said so: in the member list, or in who is here.
  const marked = [...roster.values()].map((m) =>
    m.guest === true || room.members.get(m.id)?.guest !== true ? m : { ...m, guest: true as const }
  )
  return marked.sort(
    (a, b) =>
      ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
      Number(room.members.has(b.id)) - Number(room.members.has(a.id)) ||
      a.name.localeCompare(b.name)
  )
}

export function renderMemberPanel(
  room: RoomState | undefined,
  me: Member,
  role: RoleName | undefined,
  handlers: MemberHandlers,
  tags: Tags
): void {
  const list = $('member-list')
  const wanted: Wanted[] = []
  if (room !== undefined) {
    const everyone = listed(room)
    for (const member of everyone.slice(0, MEMBERS_LISTED)) {
      const actions = actionsOn(member, me, role, room.kind)
      const here = room.members.has(member.id)
      const open = handlers.openMenu === member.id && actions.length > 0
      const known = room.roster !== undefined
      wanted.push({
        key: member.id,
        sig: JSON.stringify([personSig(member, tags), member.role, here, open, known, actions]),
        build: () => memberItem(member, me, { here, open, known, actions }, handlers, tags)
      })
    }
    const more = everyone.length - MEMBERS_LISTED
    if (more > 0) wanted.push({ key: 'more', sig: String(more), build: () => el('li', 'more', `and ${more} more`) })
  }
  reconcile(list, wanted)
}

function memberItem(
  member: RosterMember,
  me: Member,
  shown: { here: boolean; open: boolean; known: boolean; actions: MemberAction[] },
  handlers: MemberHandlers,
  tags: Tags
): HTMLLIElement {
  const item = el('li', `member${shown.here ? ' here' : ''}`)
  // The name alone (and "(you)") is the button's name; the tags follow the button.
  const name = el('bdi', 'member-name', member.id === me.id ? `${member.name} (you)` : member.name)
  const words = personWords(member, tags)
  const line = el('div', 'member-line')
  // The dot is for the eye; words say it after the name (so that the name button is the name).
  const presence = el('span', 'presence', shown.here ? '●' : '○')
  presence.setAttribute('aria-hidden', 'true')
  const said = el('span', 'visually-hidden', shown.here ? ' (here now)' : ' (away)')
  if (shown.actions.length === 0) line.append(presence, name, said)
  else {
    const menuId = `member-menu-${member.id.replace(/[^A-Za-z0-9_-]/g, '_')}`
    const button = el('button', 'member-button')
    button.type = 'button'
    button.append(presence, name)
    button.setAttribute('aria-expanded', String(shown.open))
    button.setAttribute('aria-controls', menuId)
    button.addEventListener('click', () => handlers.toggle(shown.open ? undefined : member.id))
    line.append(button, said)
    if (shown.open) {
      const menu = el('div', 'member-menu')
      menu.id = menuId
      menu.setAttribute('role', 'group')
      menu.setAttribute('aria-label', `Actions for ${words}`)
      for (const action of shown.actions) {
        const act = el('button', `small${action === 'ban' || action === 'remove' ? ' danger' : ' secondary'}`)
        act.type = 'button'
        act.textContent = ACTION_WORDS[action]
        act.setAttribute('aria-label', `${ACTION_WORDS[action]} ${words}`)
        act.addEventListener('click', () => handlers.act(action, member))
        menu.append(act)
      }
      item.append(line, menu)
    }
  }
  if (!item.contains(line)) item.prepend(line)
  line.append(...personTags(member, tags))
  if (shown.known && member.role !== 'member') line.append(el('span', `role ${member.role}`, member.role))
  return item
}
