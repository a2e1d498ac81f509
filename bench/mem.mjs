// `node bench/mem.mjs [runs]`: our tracker alone, only two of bench/run.mjs's measures, by
// the same method: memory after 10,000 offline events (JS heap after two GCs through CDP +
// wasm linear memory) and `sendEvent` per-call p50/p99 at backlog 0, 100 and 1,000 (3 page
// loads × 300 calls each; MEM_ONLY=1 skips these, MEM_BACKLOGS=1000 picks levels). Each figure is the median of `runs` runs
// (default 3); the memory run also gives the page's own heap and the tracker's at start. A quick
// loop for memory work; `npm run bench` (run.mjs) stays the figure of record. Needs
// `npm run build` first; no peers, so no bench/node_modules.
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/server/gameball-server.mjs';
import { CHROMIUM_ARGS } from '../tests/e2e/harness.mjs';
import { eventAt } from './floor.mjs';
import { timeCalls } from './calls.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const DIST = path.join(BENCH, 'dist-mem');
const RUNS = Number(process.argv[2] ?? 3);
const ONLY_MEMORY = process.env.MEM_ONLY === "1";
// as in run.mjs
const BACKLOGS = (process.env.MEM_BACKLOGS ?? "0,100,1000").split(",").map(Number);
const CALL_LOADS = 3;
const CALLS_PER_LOAD = 300;
const CALLS_BUDGET_MS = 1_500;
const MEMORY_EVENTS = 10_000;
const SETUP = `window.__bench = {
  seq: 0,
  event() {
    const i = this.seq++;
    const [customer, name] = (${eventAt.toString()})(i, 10, ${JSON.stringify(['view_product', 'add_to_cart', 'add_to_wishlist', 'remove_from_cart', 'checkout'])});
    return [customer, name, { product_id: 'bnch' + i + 'x', price: 1350, quantity: 1 }];
  },
};`;

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

async function page(browser, server, before = async () => {}) {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  await p.goto(`${server.url}/bench/harness/page.html`);
  await p.evaluate(SETUP);
  await before(ctx, p);
  await p.evaluate(async (base) => {
    window.__bench.tracker = await import('/bench/dist-mem/ours.js');
    await window.__bench.tracker.start(base);
  }, server.url);
  await ctx.setOffline(true);
  return { ctx, p };
}

const fill = (p, n) => p.evaluate(async (n) => {
  const b = window.__bench;
  for (let i = 1; i <= n; i++) {
    b.tracker.track(...b.event());
    if (i % 200 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await new Promise((r) => setTimeout(r, 50));
}, n);

async function memory(browser, server) {
  let cdp;
  const heap = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  let pageHeap;
  const { ctx, p } = await page(browser, server, async (c, pg) => {
    cdp = await c.newCDPSession(pg);
    pageHeap = await heap();
  });
  const startHeap = await heap();
  const startWasm = await p.evaluate(() => window.__bench.tracker.wasmMemoryBytes());
  await fill(p, MEMORY_EVENTS);
  await p.waitForTimeout(500);
  const jsHeap = await heap();
  const wasm = await p.evaluate(() => window.__bench.tracker.wasmMemoryBytes());
  await ctx.close();
  return { jsHeap, wasm, total: jsHeap + wasm, pageHeap, startHeap, startWasm };
}

async function calls(browser, server) {
  const out = {};
  for (const backlog of BACKLOGS) {
    const samples = [];
    for (let i = 0; i < CALL_LOADS; i++) {
      const { ctx, p } = await page(browser, server);
      await fill(p, backlog);
      samples.push(...(await timeCalls(p, CALLS_PER_LOAD, CALLS_BUDGET_MS)));
      await ctx.close();
    }
    out[`p50@${backlog}`] = quantile(samples, 0.5);
    out[`p99@${backlog}`] = quantile(samples, 0.99);
  }
  return out;
}

await build({
  entryPoints: [path.join(BENCH, 'entries', 'ours.js')], outdir: DIST, bundle: true, splitting: true,
  format: 'esm', minify: true, platform: 'browser', target: 'es2020', logLevel: 'error',
});
const server = await startServer({
  port: 0, quiet: true, sink: true,
  headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  static: [
    { prefix: '/pkg', dir: path.join(ROOT, 'pkg') },
    { prefix: '/bench/harness', dir: path.join(BENCH, 'harness') },
    { prefix: '/bench/dist-mem', dir: DIST },
  ],
});
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const runs = [];
for (let r = 0; r < RUNS; r++) {
  const one = { ...await memory(browser, server), ...(ONLY_MEMORY ? {} : await calls(browser, server)) };
  console.log(`[mem] run ${r + 1}: ${JSON.stringify(one)}`);
  runs.push(one);
}
await browser.close();
await server.close();
const median = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, quantile(runs.map((x) => x[k]), 0.5)]));
const perCall = ONLY_MEMORY ? 'not measured (MEM_ONLY=1)' : BACKLOGS.map((b) => `backlog ${b}: p50 ${median[`p50@${b}`].toFixed(0)} / p99 ${median[`p99@${b}`].toFixed(0)}`).join(', ');
console.log(`[mem] median of ${RUNS}: memory ${(median.total / 1e6).toFixed(2)} MB (JS heap ${(median.jsHeap / 1e6).toFixed(2)} MB, wasm ${(median.wasm / 1e6).toFixed(2)} MB); per call µs ${perCall}`);
