// The bytes a storefront downloads from pkg/: gzip -9 of every file the package's entry loads,
// as the package ships them. It follows the entry (`gameball_tracker.js`, package.json's
// `module`) through its static imports and re-exports, and the module URL the glue fetches
// (`new URL('….wasm', import.meta.url)`), so a file added to the chain is counted without
// editing this script. `npm test`'s size layer holds the total to a budget; `npm run build`
// prints it.
// Usage: node scripts/size.mjs [--budget BYTES] [--files]   (exits 1 over budget)
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const pkg = new URL('../pkg/', import.meta.url).pathname;
const entry = join(pkg, 'gameball_tracker.js');

// Relative specifiers in `import … from "…"`, `export … from "…"`, `import "…"`,
// `import("…")` and `new URL("…", import.meta.url)`, minified or not.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)(["'])(\.{1,2}\/[^"']+|[^"'/][^"':]*\.wasm)\1/g;

/** Every file the entry loads, the entry first. Throws on a reference to a missing file. */
function loaded() {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    if (!existsSync(file)) throw new Error(`${relative(pkg, file)} is loaded but not in pkg/`);
    seen.add(file);
    if (!file.endsWith('.js')) return;
    for (const [, , spec] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) visit(join(dirname(file), spec));
  };
  visit(entry);
  return [...seen];
}

/** {wasm, js, total} in gzip bytes, and each file's. */
function measure() {
  const files = loaded().map((path) => ({ path: relative(pkg, path), gzip: gzipSync(readFileSync(path), { level: 9 }).length }));
  const sum = (pick) => files.filter(pick).reduce((n, f) => n + f.gzip, 0);
  const wasm = sum((f) => f.path.endsWith('.wasm'));
  const js = sum((f) => f.path.endsWith('.js'));
  if (wasm === 0) throw new Error('no .wasm among the files the entry loads: did the glue change how it finds the module?');
  return { wasm, js, total: wasm + js, files };
}

const { wasm, js, total, files } = measure();
const at = process.argv.indexOf('--budget');
const line = `${total} bytes gzip (wasm ${wasm} + JS ${js}, ${files.length} files)`;
if (process.argv.includes('--files')) for (const f of files) console.log(`${String(f.gzip).padStart(7)}  ${f.path}`);
if (at === -1) {
  console.log(line);
} else {
  const budget = Number(process.argv[at + 1]);
  if (!Number.isInteger(budget)) throw new Error('--budget wants a whole number of bytes');
  console.log(`${line}; budget ${budget}`);
  if (total > budget) {
    console.error(`over the size budget by ${total - budget} bytes: find what grew (twiggy top, see README) or, if it is worth it, raise SIZE_BUDGET in scripts/test.sh`);
    process.exit(1);
  }
}
