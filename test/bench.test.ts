// The benchmark's own check: a tiny run completes and its report is whole and adds up. No
// timing is judged here; figures belong to `npm run bench`.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('a tiny bench run writes a complete report whose counts add up', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'bench-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--tiny', '--out', out], {
    cwd: root,
    encoding: 'utf8',
    timeout: 180_000
  })
  t.equal(run.status, 0, `the bench exits 0: ${run.stderr.slice(-2000)}`)
  t.match(run.stderr, /fan-out/, 'it shows progress while it runs')
  for (const file of ['latest.json', 'latest.md', 'latency.svg']) t.ok(existsSync(join(out, file)), `${file} written`)

  const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'))
  const figures = report.rows.map((r: any) => r.figure)
  for (const figure of [
    'fan-out delivered/s',
    'fan-out p50 latency',
    'fan-out p99 latency',
    'fan-out lost',
    'saturation delivered/s held',
    'CPU seconds per 100k deliveries',
    'many rooms delivered/s',
    'many rooms p99 latency',
    'idle RSS per connection'
  ]) {
    t.ok(figures.includes(figure), `the report has ${figure}`)
  }
  for (const row of report.rows) {
    t.ok(
      Number.isFinite(row.baseline) && Number.isFinite(row.service) && Number.isFinite(row.ratio),
      `${row.figure}: both figures and the ratio`
    )
  }
  for (const [scenario, pair] of Object.entries<any>({
    fanout: report.scenarios.fanout,
    manyRooms: report.scenarios.manyRooms
  })) {
    for (const side of ['baseline', 'service']) {
      const step = pair[side]
      t.equal(step.received + step.lost, step.expected, `${scenario}/${side}: received + lost = expected`)
      t.equal(
        step.expected,
        step.sent * (scenario === 'fanout' ? 10 : 10),
        `${scenario}/${side}: expected = sent × room size`
      )
      t.ok(
        step.sent > 0 && step.p50 <= step.p99 && step.p99 <= step.max,
        `${scenario}/${side}: sent something, percentiles ordered`
      )
    }
  }
  for (const side of ['baseline', 'service']) {
    const sat = report.scenarios.saturation[side]
    t.ok(sat.steps.length > 0, `saturation/${side} ran steps`)
    t.ok(
      sat.steps.every((s: any) => s.received + s.lost === s.expected),
      `saturation/${side}: every step adds up`
    )
    t.ok(report.scenarios.idle[side].connections > 0, `idle/${side} opened connections`)
  }
  const markdown = readFileSync(join(out, 'latest.md'), 'utf8')
  t.match(markdown, /\| figure \| baseline \(bare Socket\.IO\) \| service \| ratio \| target \| met \|/)
  t.equal(
    markdown.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure')).length,
    report.rows.length,
    'one table row per figure'
  )
  t.match(readFileSync(join(out, 'latency.svg'), 'utf8'), /<svg[\s\S]*<polyline/, 'the chart has lines')
})
