// Bundles the web client into dist/client, which the service serves at `/`.
import { cp, mkdir } from 'node:fs/promises'
import { build } from 'esbuild'

const out = new URL('../dist/client/', import.meta.url)
await mkdir(out, { recursive: true })
await build({
  entryPoints: [new URL('../client/src/main.ts', import.meta.url).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning'
})
for (const file of ['index.html', 'style.css']) {
  await cp(new URL(`../client/${file}`, import.meta.url), new URL(file, out))
}
