/**
 * Build step after `tsc`: copies every non-TypeScript asset the service reads at run time (today the
 * Redis Lua scripts, `src/**\/*.lua`) to the same relative path under `dist/`, so that
 * `new URL('./lua/x.lua', import.meta.url)` finds it from `src/` (tsx) and from `dist/src/` (node) alike.
 *
 *   node scripts/copy-assets.mjs [outDir]     (default: dist)
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = resolve(ROOT, process.argv[2] ?? 'dist');
const ASSET = /\.lua$/;

let copied = 0;
for (const entry of readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !ASSET.test(entry.name)) continue;
  // `parentPath` since Node 20.12 / 21.4; `path` before (same value).
  const from = join(entry.parentPath ?? entry.path, entry.name);
  const to = join(OUT, relative(ROOT, from));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied++;
}
if (copied === 0) {
  process.stderr.write('copy-assets: no *.lua file found under src/\n');
  process.exit(1);
}
process.stdout.write(`copy-assets: ${copied} file(s) copied to ${relative(ROOT, OUT) || '.'}/\n`);
