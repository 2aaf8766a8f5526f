// The benchmark's outputs: one table (markdown) and a chart of p99 latency against offered load.
import type { StepResult } from './load.js'

export interface Row {
  figure: string
  unit: string
  baseline: number
  service: number
  ratio?: number
  target?: string
  pass?: boolean
}

export interface Report {
  date: string
  mode: string
  machine: { cpus: number; model: string; node: string }
  seconds: number
  rows: Row[]
  scenarios: {
    saturation: Record<string, { steps: StepResult[]; held: number } | undefined>
    [name: string]: unknown
  }
}

function format(value: number, unit: string): string {
  if (unit === '/s') return `${Math.round(value).toLocaleString('en-US')}/s`
  if (unit === 'ms') return `${value.toFixed(1)} ms`
  if (unit === 's') return `${value.toFixed(3)} s`
  if (unit === 'KiB') return `${value.toFixed(1)} KiB`
  return String(Math.round(value))
}

export function markdownTable(report: Report): string {
  const lines = [
    `Benchmark (${report.mode}), ${report.date.slice(0, 16).replace('T', ' ')} UTC, ${report.machine.cpus} cores (${report.machine.model}), Node ${report.machine.node}, ${report.seconds} s.`,
    '',
    '| figure | baseline (bare Socket.IO) | service | ratio | target | met |',
    '|---|---:|---:|---:|---|---|'
  ]
  for (const row of report.rows) {
    const isCluster = row.figure.startsWith('Redis')
    lines.push(
      `| ${row.figure} | ${format(row.baseline, row.unit)}${isCluster ? ' (1 node, memory)' : ''} | ${format(row.service, row.unit)} | ${(row.ratio ?? 0).toFixed(2)}x | ${row.target ?? ''} | ${row.pass === undefined ? '' : row.pass ? 'yes' : 'no'} |`
    )
  }
  return `${lines.join('\n')}\n`
}

const COLORS: Record<string, string> = { baseline: '#d1495b', service: '#2f6fde', cluster: '#2a9d8f' }

/** p99 latency (log scale) against offered deliveries per second, one line per server. */
export function svgChart(report: Report, roomSize: number): string {
  const width = 720
  const height = 420
  const pad = { left: 70, right: 20, top: 30, bottom: 50 }
  const series = Object.entries(report.scenarios.saturation)
    .filter((entry): entry is [string, { steps: StepResult[]; held: number }] => entry[1] !== undefined)
    .map(([name, data]) => ({
      name,
      points: data.steps.map((s) => ({ x: s.offered * roomSize, y: Math.max(s.p99, 0.1) }))
    }))
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const maxX = Math.max(1, ...xs)
  const maxY = Math.max(1000, ...series.flatMap((s) => s.points.map((p) => p.y)))
  const x = (v: number) => pad.left + (v / maxX) * (width - pad.left - pad.right)
  const y = (v: number) =>
    height - pad.bottom - (Math.log10(v / 0.1) / Math.log10(maxY / 0.1)) * (height - pad.top - pad.bottom)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">p99 latency vs offered load (one room of ${roomSize})</text>`
  ]
  for (const tick of [0.1, 1, 10, 100, 500, 1000, 10000].filter((v) => v <= maxY)) {
    parts.push(
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(tick)}" y2="${y(tick)}" stroke="${tick === 500 ? '#999' : '#eee'}"${tick === 500 ? ' stroke-dasharray="4 4"' : ''}/>`
    )
    parts.push(`<text x="${pad.left - 6}" y="${y(tick) + 4}" text-anchor="end">${tick} ms</text>`)
  }
  for (let i = 0; i <= 4; i++) {
    const v = (maxX / 4) * i
    parts.push(`<text x="${x(v)}" y="${height - pad.bottom + 18}" text-anchor="middle">${Math.round(v / 1000)}k</text>`)
  }
  parts.push(`<text x="${width / 2}" y="${height - 10}" text-anchor="middle">offered deliveries per second</text>`)
  series.forEach((s, i) => {
    const color = COLORS[s.name] ?? '#555'
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.points.map((p) => `${x(p.x)},${y(p.y)}`).join(' ')}"/>`
    )
    for (const p of s.points) parts.push(`<circle cx="${x(p.x)}" cy="${y(p.y)}" r="3" fill="${color}"/>`)
    parts.push(`<rect x="${pad.left + 10}" y="${pad.top + 8 + i * 18}" width="12" height="3" fill="${color}"/>`)
    parts.push(
      `<text x="${pad.left + 28}" y="${pad.top + 13 + i * 18}">${s.name === 'cluster' ? 'service, 2 nodes + Redis' : s.name}</text>`
    )
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
