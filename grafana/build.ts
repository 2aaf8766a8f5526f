// npm run dashboards: writes the dashboard JSON that Grafana provisions.
import { writeFileSync } from 'node:fs'
import { buildDashboard } from './chat-dashboard.js'

const file = new URL('./dashboards/chat-service.json', import.meta.url)
writeFileSync(file, `${JSON.stringify(buildDashboard(), null, 2)}\n`)
console.log(`wrote ${file.pathname}`)
