// The bytes a storefront downloads from pkg/: gzip -9 of the .wasm and of every JS file the
// package's entry loads (gameball_tracker.js and the snippets it imports). `npm test`'s size
// layer holds the total to a budget; `npm run build` prints it.
// Usage: node scripts/size.mjs [--budget BYTES]   (exits 1 over budget)
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const pkg = new URL('../pkg/', import.meta.url).pathname;

function jsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return jsFiles(path);
    return e.name.endsWith('.js') ? [path] : [];
  });
}

/** {wasm, js, total} in gzip bytes, and the files counted. */
function measure() {
  const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
  const wasm = gz(join(pkg, 'gameball_tracker_bg.wasm'));
  const files = [join(pkg, 'gameball_tracker.js'), ...jsFiles(join(pkg, 'snippets'))];
  const js = files.reduce((n, f) => n + gz(f), 0);
  return { wasm, js, total: wasm + js, files };
}

const { wasm, js, total } = measure();
const at = process.argv.indexOf('--budget');
const line = `${total} bytes gzip (wasm ${wasm} + JS ${js})`;
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
