// Keeping a list's DOM in step with what it should show, touching only what changed.

/** An item of a list as it should be: `key` names it, `sig` tells when it must be built anew. */
export interface Wanted {
  key: string
  sig: string
  build: () => HTMLElement
}

/**
 * Makes `list`'s children match `wanted`, keeping every child whose key and signature are
 * unchanged: new messages are added, not the whole list rebuilt, so a reader's text selection
 * and keyboard focus survive other people's activity, and a screen reader hears only what is new.
 */
export function reconcile(list: HTMLElement, wanted: Wanted[]): void {
  const existing = new Map<string, HTMLElement>()
  for (const child of Array.from(list.children) as HTMLElement[]) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child)
    else child.remove()
  }
  let cursor = list.firstElementChild
  for (const item of wanted) {
    let node = existing.get(item.key)
    existing.delete(item.key)
    if (node === undefined || node.dataset.sig !== item.sig) {
      const fresh = item.build()
      fresh.dataset.key = item.key
      fresh.dataset.sig = item.sig
      // Changed in place where it stands, so that the nodes after it need not move.
      if (node !== undefined) {
        if (node === cursor) cursor = fresh
        node.replaceWith(fresh)
      }
      node = fresh
    }
    if (node === cursor) cursor = cursor.nextElementSibling
    else list.insertBefore(node, cursor)
  }
  for (const stale of existing.values()) stale.remove()
}

/** Sets a list's children only when what they show changed (`sig`): the same buttons stay focused. */
export function replaceIfChanged(list: HTMLElement, sig: string, build: () => HTMLElement[]): void {
  if (list.dataset.sig === sig) return
  list.dataset.sig = sig
  list.replaceChildren(...build())
}
