// The web client in a real browser: a server that stops answering (SIGSTOP) with the connection open.
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { freePort } from '../helpers.js'
import { startNode } from '../processes.js'
import { joinFromPage, launch, message, person, say, storedInGeneral } from './browser.js'

/** Ada's page on a node of its own, which is then stopped (SIGSTOP) with the connection open. */
async function stalledPage(t: Test): Promise<{ node: Awaited<ReturnType<typeof startNode>>; ada: Page } | undefined> {
  const browser = await launch(t)
  if (browser === undefined) return undefined
  const node = await startNode(t, await freePort(), { LOG_LEVEL: 'warn' })
  const ada = await person(t, browser, node.url, 'Ada')
  node.proc.kill('SIGSTOP')
  t.teardown(() => node.proc.kill('SIGCONT'))
  return { node, ada }
}

t.test(
  'a server that stalls: the line says it is still trying, and is stored once when the server wakes',
  async (t) => {
    const stalled = await stalledPage(t)
    if (stalled === undefined) return
    const { node, ada } = stalled
    await say(ada, 'into the stall')
    // The acknowledgement times out after 10 s; the line is sent again with the same clientId.
    await ada.locator('#messages .pending', { hasText: 'No answer yet; still trying…' }).waitFor({ timeout: 20_000 })
    node.proc.kill('SIGCONT')
    // At once, as a rule: room to spare for a loaded machine, and what the page showed if it
    // never comes.
    await message(ada, 'into the stall')
      .waitFor({ timeout: 40_000 })
      .catch(async (err: Error) => {
        const seen = `${await ada.locator('#connection').innerText()} | ${await ada.locator('#messages').innerText()}`
        throw new Error(`${err.message}\npage: ${seen}`)
      })
    await ada.locator('#messages .pending').waitFor({ state: 'detached' })
    t.same(await storedInGeneral(t, node.url), ['into the stall'], 'stored once')
  }
)

t.test(
  'a join that gets no answer from a stalled server is tried again once it wakes, and the room works',
  async (t) => {
    const stalled = await stalledPage(t)
    if (stalled === undefined) return
    const { node, ada } = stalled
    await joinFromPage(ada, 'later')
    await say(ada, 'in the room joined during the stall')
    // The join's acknowledgement times out after 10 s while the connection stays open.
    await ada.waitForTimeout(11_000)
    node.proc.kill('SIGCONT')
    await message(ada, 'in the room joined during the stall').waitFor({ timeout: 30_000 })
    t.pass('joined and sent after the stall, without a reconnect')
  }
)
