// `npm run bench`: gameball-tracker against Segment analytics-next, RudderStack analytics-js,
// PostHog and Snowplow, in one run, in one headless Chromium, against the local server
// (tests/server/gameball-server.mjs: Gameball's API with its rate limits for us, a catch-all
// sink for the others). Measures bytes shipped, start-up, per-call cost with a backlog,
// drain after the network returns and memory after 10,000 events; prints a table, writes
// bench/results.json and bench/chart.svg. scripts/bench.sh builds pkg/ and installs first.
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/server/gameball-server.mjs';
import { CHROMIUM_ARGS } from '../tests/e2e/harness.mjs';
import { drainFloor, eventAt } from './floor.mjs';
import { timeCalls } from './calls.mjs';
import { renderChart } from './chart.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const DIST = path.join(BENCH, 'dist');

const STARTUP_LOADS = Number(process.env.BENCH_STARTUP_LOADS ?? 9);
const BACKLOGS = [0, 100, 1000];
const CALL_LOADS = Number(process.env.BENCH_CALL_LOADS ?? 3);
const CALLS_PER_LOAD = Number(process.env.BENCH_CALLS ?? 300);
/** Time caps that keep a run near five minutes when a tracker costs milliseconds a call: the
 * timed calls of one page load, and filling a backlog (the table notes any level not reached). */
const CALLS_BUDGET_MS = 1_500;
const FILL_BUDGET_MS = 8_000;
const DRAIN_EVENTS = 1000;
const MEMORY_EVENTS = 10_000;
const DRAIN_TIMEOUT_MS = 12_000;
/** A tracker slower than 1.5 ms a call stops short of MEMORY_EVENTS (the table says so). */
const MEMORY_BUDGET_MS = 15_000;

/** The storefront's event mix: 10 customers, 5 event names in turn, a marker per event. */
const CUSTOMERS = 10;
const NAMES = ['view_product', 'add_to_cart', 'add_to_wishlist', 'remove_from_cart', 'checkout'];

const OURS = { id: 'ours', label: 'gameball-tracker' };
const PEERS = [
  { id: 'segment', pkg: '@segment/analytics-next', label: 'Segment' },
  { id: 'rudderstack', pkg: '@rudderstack/analytics-js', label: 'RudderStack' },
  { id: 'posthog', pkg: 'posthog-js', label: 'PostHog' },
  { id: 'snowplow', pkg: '@snowplow/browser-tracker', label: 'Snowplow' },
];

const version = (pkgDir) => JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;

function trackers() {
  const ours = { ...OURS, version: version(path.join(ROOT, 'pkg')) };
  const peers = PEERS.map((p) => ({ ...p, version: version(path.join(BENCH, 'node_modules', p.pkg)) }));
  return [ours, ...peers].map((t) => ({ ...t, adapter: `/bench/dist/${t.id}/${t.id}.js` }));
}

/** Bundles each tracker's minimal init+track entry, minified, split where it imports lazily. */
async function bundleEntries() {
  rmSync(DIST, { recursive: true, force: true });
  for (const { id } of [OURS, ...PEERS]) {
    await build({
      entryPoints: [path.join(BENCH, 'entries', `${id}.js`)],
      outdir: path.join(DIST, id),
      bundle: true,
      splitting: true,
      format: 'esm',
      minify: true,
      platform: 'browser',
      target: 'es2020',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'error',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The page side

const SETUP = `window.__bench = {
  seq: 0,
  event() {
    const i = this.seq++;
    const [customer, name] = (${eventAt.toString()})(i, ${CUSTOMERS}, ${JSON.stringify(NAMES)});
    return [customer, name, { product_id: 'bnch' + i + 'x', price: 1350, quantity: 1 }];
  },
};`;

async function openPage(ctx, server) {
  const page = await ctx.newPage();
  await page.goto(`${server.url}/bench/harness/page.html`);
  await page.evaluate(SETUP);
  return page;
}

/** Imports the adapter and starts the tracker; returns the milliseconds it took. */
function startTracker(page, tracker, server) {
  return page.evaluate(async ({ adapter, base }) => {
    const t0 = performance.now();
    const m = await import(adapter);
    await m.start(base);
    const ms = performance.now() - t0;
    window.__bench.tracker = m;
    return ms;
  }, { adapter: tracker.adapter, base: server.url });
}

/** Tracks `n` events of the mix, yielding to the event loop every 200; stops early after
 * `budgetMs`. Returns how many it tracked. */
function fill(page, n, budgetMs = Infinity) {
  return page.evaluate(async ({ n, budgetMs }) => {
    const b = window.__bench;
    const until = performance.now() + budgetMs;
    let i = 0;
    while (i < n) {
      b.tracker.track(...b.event());
      i += 1;
      if (i % 200 === 0) {
        await new Promise((r) => setTimeout(r, 0));
        if (performance.now() > until) break;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
    return i;
  }, { n, budgetMs: budgetMs === Infinity ? 1e12 : budgetMs });
}


// ---------------------------------------------------------------------------------------------
// Measures

const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const at = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[at];
}

/** Gzip bytes of every tracker file the page downloaded to init and track one event. */
async function measureBytes(browser, server, tracker) {
  const ctx = await browser.newContext();
  const urls = new Set();
  ctx.on('response', (r) => urls.add(new URL(r.url()).pathname));
  const page = await openPage(ctx, server);
  await startTracker(page, tracker, server);
  await fill(page, 1);
  await page.waitForTimeout(1500); // lazy chunks, the first delivery
  await ctx.close();
  const files = [];
  for (const p of urls) {
    let file = null;
    if (p.startsWith('/pkg/')) file = path.join(ROOT, p);
    else if (p.startsWith(`/bench/dist/${tracker.id}/`)) file = path.join(BENCH, p.slice('/bench/'.length));
    if (!file) continue;
    const bytes = readFileSync(file);
    files.push({ path: p, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  }
  files.sort((a, b) => b.gzip - a.gzip);
  const sum = (k) => files.reduce((n, f) => n + f[k], 0);
  return { gzip: sum('gzip'), raw: sum('raw'), files };
}

async function measureStartup(browser, server, tracker) {
  const samples = [];
  for (let i = 0; i < STARTUP_LOADS; i++) {
    const ctx = await browser.newContext();
    const page = await openPage(ctx, server);
    samples.push(await startTracker(page, tracker, server));
    await ctx.close();
  }
  return { medianMs: median(samples), samples, parts: tracker.id === OURS.id ? await measureStartupParts(browser, server, tracker) : undefined };
}

/** Ours only: the start-up in its parts (import of the JS, then the module's fetch, compile,
 * instantiate, and the first call), medians over STARTUP_LOADS cold loads. */
async function measureStartupParts(browser, server, tracker) {
  const samples = [];
  for (let i = 0; i < STARTUP_LOADS; i++) {
    const ctx = await browser.newContext();
    const page = await openPage(ctx, server);
    samples.push(await page.evaluate(async ({ adapter, base }) => {
      const t0 = performance.now();
      const m = await import(adapter);
      const imported = performance.now() - t0;
      return { import: imported, ...(await m.startParts(base)) };
    }, { adapter: tracker.adapter, base: server.url }));
    await ctx.close();
  }
  return Object.fromEntries(Object.keys(samples[0]).map((k) => [k, median(samples.map((s) => s[k]))]));
}

async function measureCalls(browser, server, tracker) {
  const out = {};
  for (const backlog of BACKLOGS) {
    const samples = [];
    let reached = backlog;
    for (let i = 0; i < CALL_LOADS; i++) {
      const ctx = await browser.newContext();
      const page = await openPage(ctx, server);
      await startTracker(page, tracker, server);
      await ctx.setOffline(true); // the server is unreachable: everything waits
      reached = Math.min(reached, await fill(page, backlog, FILL_BUDGET_MS));
      samples.push(...(await timeCalls(page, CALLS_PER_LOAD, CALLS_BUDGET_MS)));
      await ctx.close();
    }
    out[backlog] = { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), n: samples.length, backlogReached: reached };
  }
  return out;
}

async function measureMemory(browser, server, tracker) {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, server);
  const cdp = await ctx.newCDPSession(page);
  const heap = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  const pageHeap = await heap();
  await startTracker(page, tracker, server);
  await ctx.setOffline(true); // all 10,000 wait in the tracker
  const events = await fill(page, MEMORY_EVENTS, MEMORY_BUDGET_MS);
  await page.waitForTimeout(500);
  const jsHeap = await heap();
  const wasm = await page.evaluate(() => window.__bench.tracker.wasmMemoryBytes());
  await ctx.close();
  return { events, jsHeap, wasm, total: jsHeap + wasm, pageHeap };
}

/** Distinct event markers in a request body (plain, or PostHog's base64 `data=` form). */
function markersIn(text, into) {
  const scan = (s) => {
    let found = false;
    for (const m of s.matchAll(/bnch(\d+)x/g)) {
      into.add(m[1]);
      found = true;
    }
    return found;
  };
  if (scan(text)) return;
  const data = new URLSearchParams(text).get('data');
  if (data) scan(Buffer.from(data, 'base64').toString('utf8'));
}

/** Received requests since the reset, as {at, text}: our accepted ones, the sink's. */
function received(server) {
  const ours = server.state.log
    .filter((e) => e.accepted)
    .map((e) => ({ at: e.at, text: JSON.stringify(e.body) }));
  const sink = server.state.sink.map((e) => ({ at: e.at, text: e.body }));
  return [...ours, ...sink].sort((a, b) => a.at - b.at);
}

async function measureDrain(browser, server, tracker) {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, server);
  await startTracker(page, tracker, server);
  await ctx.setOffline(true);
  await fill(page, DRAIN_EVENTS);
  await page.waitForTimeout(300);
  await fetch(`${server.url}/__gb/reset`, { method: 'POST' });
  const t0 = Date.now();
  await ctx.setOffline(false);
  let result = null;
  while (Date.now() - t0 < DRAIN_TIMEOUT_MS) {
    await new Promise((r) => setTimeout(r, 25));
    const seen = new Set();
    const requests = received(server);
    for (const r of requests) {
      markersIn(r.text, seen);
      if (seen.size >= DRAIN_EVENTS) {
        result = { ms: r.at - t0, delivered: seen.size, requests: requests.filter((q) => q.at <= r.at).length };
        break;
      }
    }
    if (result) break;
    result = null;
  }
  if (!result) {
    const seen = new Set();
    const requests = received(server);
    for (const r of requests) markersIn(r.text, seen);
    result = { ms: null, delivered: seen.size, requests: requests.length };
  }
  const posts = server.state.log.filter((e) => e.method === 'POST');
  result.rejected = posts.filter((e) => !e.accepted).length;
  // our requests as they arrived: [ms after reconnecting, status], the evidence for the drain
  result.timeline = posts.map((e) => [e.at - t0, e.status]);
  await ctx.close();
  return result;
}

/**
 * Ours only: what the sending tab's storage check costs (it compares every record under its
 * prefix with its queue, as its page is hidden and at each flushIntervalMs while events wait;
 * never inside sendEvent). Timed as the synchronous `visibilitychange: hidden` handler that
 * runs it, offline (so nothing else is sent), with a backlog of 0, 100 and 1,000 events; the
 * page is shown again between samples.
 */
const CHECK_SAMPLES = 30;
async function measureStorageCheck(browser, server, tracker) {
  if (tracker.id !== 'ours') return null;
  const out = {};
  for (const backlog of BACKLOGS) {
    const ctx = await browser.newContext();
    const page = await openPage(ctx, server);
    await startTracker(page, tracker, server);
    await ctx.setOffline(true);
    await fill(page, backlog);
    await new Promise((r) => setTimeout(r, 300)); // the sender election settles
    const samples = await page.evaluate((n) => {
      let state = 'visible';
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
      const out = [];
      for (let i = 0; i < n; i++) {
        state = 'hidden';
        const t0 = performance.now();
        document.dispatchEvent(new Event('visibilitychange'));
        out.push((performance.now() - t0) * 1000);
        state = 'visible';
        document.dispatchEvent(new Event('visibilitychange'));
      }
      return out;
    }, CHECK_SAMPLES);
    out[backlog] = { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), n: samples.length };
    await ctx.close();
  }
  return out;
}

const MEASURES = [
  ['bytes', measureBytes],
  ['startup', measureStartup],
  ['calls', measureCalls],
  ['memory', measureMemory],
  ['drain', measureDrain],
  ['storageCheck', measureStorageCheck],
];

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (v, digits = 0) => (v == null || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', {
  minimumFractionDigits: digits, maximumFractionDigits: digits,
}));

function rows(results, floor) {
  const get = (id, f) => f(results[id]);
  const list = [
    ['bytes: wasm + JS, gzip (KB)', (r) => r.bytes.gzip / 1024, 1],
    ['start-up, import to ready (ms, median)', (r) => r.startup.medianMs, 1],
    ...BACKLOGS.flatMap((b) => [
      [`per call, backlog ${b}: p50 (µs)`, (r) => r.calls[b].p50, 0],
      [`per call, backlog ${b}: p99 (µs)`, (r) => r.calls[b].p99, 0],
    ]),
    [`drain ${DRAIN_EVENTS} events (s)`, (r) => (r.drain.ms == null ? Infinity : r.drain.ms / 1000), 2],
    [`memory after ${MEMORY_EVENTS.toLocaleString('en-US')} events (MB)`, (r) => r.memory.total / 1048576, 1],
  ];
  return list.map(([name, f, digits]) => {
    const values = Object.fromEntries(Object.keys(results).map((id) => [id, get(id, f)]));
    const best = Math.min(...PEERS.filter((p) => p.id in values).map((p) => values[p.id]));
    return { name, digits, values, best, ratio: values.ours / best };
  }).concat([{ name: `drain floor at Gameball's rate limits (s)`, digits: 2, values: { ours: floor.ms / 1000 }, best: NaN, ratio: results.ours.drain.ms / floor.ms }]);
}

function printTable(list, table) {
  const heads = ['', ...list.map((t) => t.label), 'best peer', 'ours ÷ best'];
  const lines = table.map((row) => [
    row.name,
    ...list.map((t) => (row.values[t.id] === Infinity ? `>${DRAIN_TIMEOUT_MS / 1000}` : fmt(row.values[t.id], row.digits))),
    fmt(row.best, row.digits),
    Number.isFinite(row.ratio) ? `${row.ratio.toFixed(2)}×` : '—',
  ]);
  const widths = heads.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(heads));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const l of lines) console.log(line(l));
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  await bundleEntries();
  // BENCH_ONLY=ours,posthog narrows a run while working on the bench (the table then lacks peers)
  const only = process.env.BENCH_ONLY?.split(',');
  const list = trackers().filter((t) => !only || only.includes(t.id));
  const server = await startServer({
    port: 0,
    quiet: true,
    sink: true,
    // cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    static: [
      { prefix: '/pkg', dir: path.join(ROOT, 'pkg') },
      { prefix: '/bench/harness', dir: path.join(BENCH, 'harness') },
      { prefix: '/bench/dist', dir: DIST },
    ],
  });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // nothing but the local server resolves: no tracker can reach the internet
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const env = await (async () => {
    const ctx = await browser.newContext();
    const page = await openPage(ctx, server);
    const info = await page.evaluate(() => {
      let step = Infinity;
      let last = performance.now();
      for (let i = 0; i < 200000; i++) {
        const t = performance.now();
        if (t > last) { step = Math.min(step, t - last); last = t; }
      }
      return { crossOriginIsolated, timerResolutionUs: step * 1000, userAgent: navigator.userAgent };
    });
    await ctx.close();
    return info;
  })();
  console.log(`[bench] Chromium ${browser.version()}, crossOriginIsolated=${env.crossOriginIsolated}, timer step ${env.timerResolutionUs.toFixed(1)} µs, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`);

  const results = {};
  for (const tracker of list) {
    const t0 = Date.now();
    const r = { label: tracker.label, version: tracker.version };
    const took = [];
    for (const [key, measure] of MEASURES) {
      const t1 = Date.now();
      r[key] = await measure(browser, server, tracker);
      took.push(`${key} ${((Date.now() - t1) / 1000).toFixed(0)} s`);
    }
    results[tracker.id] = r;
    console.log(`[bench] ${tracker.label} ${tracker.version}: measured in ${((Date.now() - t0) / 1000).toFixed(0)} s (${took.join(', ')})`);
  }
  await browser.close();
  await server.close();

  const floor = drainFloor({ events: DRAIN_EVENTS, customers: CUSTOMERS, names: NAMES });
  const table = rows(results, floor);
  console.log();
  printTable(list.map((t) => ({ ...t, label: t.id === 'ours' ? 'ours' : t.label })), table);
  console.log();
  for (const t of list) {
    const r = results[t.id];
    for (const b of BACKLOGS) {
      if (r.calls[b].backlogReached < b) {
        console.log(`${t.label}: backlog ${b} reached only ${r.calls[b].backlogReached} events in ${FILL_BUDGET_MS / 1000} s; ${r.calls[b].n} calls timed`);
      }
    }
    if (r.memory.events < MEMORY_EVENTS) {
      console.log(`${t.label}: memory measured after ${r.memory.events} events, all it could track in ${MEMORY_BUDGET_MS / 1000} s`);
    }
    if (r.drain.ms == null) {
      console.log(`${t.label}: ${r.drain.delivered} of ${DRAIN_EVENTS} events arrived within ${DRAIN_TIMEOUT_MS / 1000} s of reconnecting`);
    }
  }
  console.log(`drain floor: ${floor.explanation}`);
  const parts = results.ours?.startup.parts;
  if (parts) {
    console.log(`ours: start-up in parts (medians, ms; each step awaited, no streaming): ${Object.entries(parts).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}`);
  }
  const check = results.ours?.storageCheck;
  if (check) {
    const at = BACKLOGS.map((b) => `backlog ${b}: ${fmt(check[b].p50, 0)} / ${fmt(check[b].p99, 0)} µs`).join(', ');
    console.log(`ours: storage check (as the page is hidden, and each flushIntervalMs while events wait; never in sendEvent), p50 / p99 of ${CHECK_SAMPLES}: ${at}`);
  }
  console.log(`ours: drain ${fmt(results.ours.drain.ms / 1000, 2)} s = ${(results.ours.drain.ms / floor.ms).toFixed(2)}× the floor, ${results.ours.drain.requests} accepted requests, ${results.ours.drain.rejected} refused (429/2001) on the way`);

  const out = {
    generatedAt: new Date().toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage1m: os.loadavg()[0], node: process.version, chromium: browser.version(), ...env },
    method: {
      startupLoads: STARTUP_LOADS, backlogs: BACKLOGS, callLoads: CALL_LOADS, callsPerLoad: CALLS_PER_LOAD,
      callsBudgetMs: CALLS_BUDGET_MS, fillBudgetMs: FILL_BUDGET_MS,
      drainEvents: DRAIN_EVENTS, drainTimeoutMs: DRAIN_TIMEOUT_MS, memoryEvents: MEMORY_EVENTS,
      memoryBudgetMs: MEMORY_BUDGET_MS, customers: CUSTOMERS, names: NAMES,
    },
    drainFloor: floor,
    trackers: results,
    table: table.map(({ name, values, best, ratio }) => ({ name, values, bestPeer: best, oursOverBest: ratio })),
  };
  if (only) {
    // a narrowed run is for work on the bench: the committed figures stay those of a full run
    console.log(`[bench] BENCH_ONLY run: bench/results.json and bench/chart.svg left as they were (${out.durationS} s)`);
    return;
  }
  writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify(out, null, 2) + '\n');
  writeFileSync(path.join(BENCH, 'chart.svg'), renderChart(out));
  console.log(`[bench] wrote bench/results.json and bench/chart.svg in ${out.durationS} s`);
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
