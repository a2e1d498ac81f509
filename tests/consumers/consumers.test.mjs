// Storefronts that consume the package the way merchants will: the `npm pack` tarball of pkg/
// installed into node_modules (scripts/test.sh consumers does that), built by Vite and by
// webpack 5, and loaded by a plain <script type="module"> page; each one then sends an event
// from Chromium to the local Gameball-compatible server, which must accept it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../server/gameball-server.mjs';
import { launch, eventually } from '../e2e/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, 'node_modules', '.bin');
const INSTALLED = path.join(HERE, 'node_modules', 'gameball-tracker');

let server;
let browser;

before(async () => {
  server = await startServer({
    port: 0,
    quiet: true,
    static: [
      { prefix: '/vite', dir: path.join(HERE, 'vite', 'dist') },
      { prefix: '/webpack', dir: path.join(HERE, 'webpack', 'dist') },
      { prefix: '/plain', dir: path.join(HERE, 'plain') },
      { prefix: '/installed/gameball-tracker', dir: INSTALLED },
    ],
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

function build(command, args) {
  // Throws (failing the test) with the bundler's output when the build fails.
  return execFileSync(path.join(BIN, command), args, { cwd: HERE, encoding: 'utf8', stdio: 'pipe' });
}

const wasmFiles = (dir) => readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.wasm'));

/** Opens `url`, waits for the page's result line, and returns it with what the page fetched. */
async function runInChromium(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  const wasmRequests = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasmRequests.push(new URL(r.url()).pathname); });
  await page.goto(url);
  const result = page.getByTestId('result');
  await result.filter({ hasNotText: /^loading/ }).waitFor({ timeout: 15_000 });
  const text = await result.textContent();
  await context.close();
  return { text, errors, wasmRequests };
}

async function acceptedFor(customerId) {
  const events = await (await fetch(`${server.url}/__gb/events`)).json();
  return events.filter((e) => e.customerId === customerId && e.name === 'consumer_built');
}

async function assertDelivered(url, customerId, bundler, wasmPrefix) {
  const { text, errors, wasmRequests } = await runInChromium(url);
  assert.deepEqual(errors, []);
  assert.doesNotMatch(text, /^error/, `the page reported ${text}`);
  const response = JSON.parse(text);
  assert.equal(response.ok, true);
  assert.equal(response.status, 200);
  assert.match(response.id, /\S/);
  assert.equal(wasmRequests.length, 1, 'the module is fetched once');
  assert.ok(wasmRequests[0].startsWith(wasmPrefix), `the wasm came from ${wasmRequests[0]}`);
  const accepted = await eventually(async () => {
    const list = await acceptedFor(customerId);
    return list.length ? list : null;
  }, `${customerId} at the server`);
  assert.equal(accepted.length, 1, 'delivered exactly once');
  assert.equal(accepted[0].metadata.bundler, bundler);
}

test('the installed tarball holds the entry, the wasm module, the glue and typed declarations', () => {
  const manifest = JSON.parse(readFileSync(path.join(INSTALLED, 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'gameball-tracker');
  for (const file of [manifest.module, manifest.types, 'gameball_tracker_wasm.js', 'gameball_tracker_bg.wasm']) {
    assert.ok(readFileSync(path.join(INSTALLED, file)).length > 0, `${file} is in the package`);
  }
  const dts = readFileSync(path.join(INSTALLED, manifest.types), 'utf8');
  assert.match(dts, /export function customerWidget\(config: GameballConfig\): Tracker;/);
  assert.match(dts, /export function sendEvent\(event: GameballEvent\): Promise<GameballResponse>;/);
});

test('the tarball holds exactly the files a storefront needs, a README and the license', () => {
  const tarballs = readdirSync(path.join(HERE, '.pack')).filter((f) => f.endsWith('.tgz'));
  assert.equal(tarballs.length, 1, `one tarball in .pack/: ${tarballs}`);
  const listed = execFileSync('tar', ['-tzf', path.join(HERE, '.pack', tarballs[0])], { encoding: 'utf8' })
    .split('\n').filter(Boolean)
    // wasm-bindgen names the snippets folder after the crate and a hash of it.
    .map((f) => f.replace(/^package\/snippets\/gameball-tracker-[0-9a-f]+\//, 'package/snippets/gameball-tracker-HASH/'));
  assert.deepEqual(listed.sort(), [
    'package/LICENSE',
    'package/README.md',
    'package/gameball_tracker.d.ts',
    'package/gameball_tracker.js',
    'package/gameball_tracker_bg.wasm',
    'package/gameball_tracker_bg.wasm.d.ts',
    'package/gameball_tracker_wasm.js',
    'package/package.json',
    'package/snippets/gameball-tracker-HASH/src/web/glue.js',
  ]);

  const manifest = JSON.parse(readFileSync(path.join(INSTALLED, 'package.json'), 'utf8'));
  assert.equal(manifest.license, 'MIT');
  assert.match(manifest.repository.url, /^git\+https:\/\/\S+\.git$/);
  assert.match(manifest.homepage, /^https:\/\/\S+#readme$/);
  assert.ok(manifest.keywords.includes('gameball') && manifest.keywords.includes('webassembly'));
  assert.match(readFileSync(path.join(INSTALLED, 'LICENSE'), 'utf8'), /^MIT License\n/);

  const readme = readFileSync(path.join(INSTALLED, 'README.md'), 'utf8');
  for (const heading of ['# gameball-tracker', '## Quick start for storefront developers',
    '### Calls made while the module loads', '## Config (`customerWidget(config)`)', '## Errors',
    '## Guarantees, and their limits']) {
    assert.ok(readme.includes(`\n${heading}\n`) || readme.startsWith(`${heading}\n`), `README has ${heading}`);
  }
  // Nothing that only makes sense in the repository: its folders, its npm scripts, markers.
  assert.doesNotMatch(readme, /\b(tests|scripts|src|www|bench|pkg)\/|npm (start|test|run)|<!--/);
  assert.ok(readme.includes(manifest.repository.url.slice(4, -4)), 'README links the repository');
});

test('Vite: `vite build` bundles the package and emits its wasm; the built page sends an event', async () => {
  build('vite', ['build', 'vite']);
  assert.equal(wasmFiles(path.join(HERE, 'vite', 'dist')).length, 1, 'one .wasm asset in dist/');
  await assertDelivered(`${server.url}/vite/index.html`, 'consumer_vite', 'vite', '/vite/assets/');
});

test('webpack 5: `webpack` bundles the package and emits its wasm; the built page sends an event', async () => {
  build('webpack', ['--config', 'webpack/webpack.config.js']);
  assert.equal(wasmFiles(path.join(HERE, 'webpack', 'dist')).length, 1, 'one .wasm asset in dist/');
  await assertDelivered(`${server.url}/webpack/index.html`, 'consumer_webpack', 'webpack', '/webpack/');
});

test('no bundler: a plain <script type="module"> page imports the installed files and sends an event', async () => {
  await assertDelivered(`${server.url}/plain/index.html`, 'consumer_plain', 'none', '/installed/gameball-tracker/');
});

test('Vite dev server: the same app runs unbundled, its events reach Gameball through a same-origin proxy', async () => {
  await fetch(`${server.url}/__gb/reset`, { method: 'POST', body: '{}' });
  // The app's apiBase (and Voucherify apiUrl) is its own origin; the dev server forwards /api
  // and /client to the events server, as a storefront's first-party proxy would.
  const { createServer } = await import('vite');
  const dev = await createServer({
    root: path.join(HERE, 'vite'),
    configFile: path.join(HERE, 'vite', 'vite.config.js'),
    server: { host: '127.0.0.1', port: 0, proxy: { '/api': server.url, '/client': server.url } },
  });
  await dev.listen();
  try {
    const origin = dev.resolvedUrls.local[0].replace(/\/$/, '');
    await assertDelivered(`${origin}/`, 'consumer_vite', 'vite', '/@fs/');
  } finally {
    await dev.close();
  }
});
