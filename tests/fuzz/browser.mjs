// Browser fuzz: seeded hostile JavaScript values through every export of the built package
// (pkg/) and every Tracker method, in Debian's headless Chromium against the local server
// (tests/fuzz/page.js makes the values and checks each call). Any request for another host is
// aborted: nothing leaves the machine.
//
//   node tests/fuzz/browser.mjs [--count 100000] [--seed 1]     (`npm run fuzz` runs it)
//
// and `fuzzBrowser({ count, seed })` for the seeded slice in the e2e layer. Counts: calls,
// escaped exceptions, wasm traps, outcomes, calls with no outcome or two, iframe-realm
// objects delivered, and whether a fresh tracker still delivers at the end.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../server/gameball-server.mjs';
import { CHROMIUM_ARGS } from '../e2e/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BATCH = 500;
const SETTLE_EVERY = 5_000;

export async function fuzzBrowser({ count = 100_000, seed = 1, log = () => {} } = {}) {
  const server = await startServer({
    port: 0,
    quiet: true,
    static: [
      { prefix: '/pkg', dir: path.join(ROOT, 'pkg') },
      { prefix: '/fuzz', dir: path.join(ROOT, 'tests', 'fuzz') },
    ],
  });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const started = Date.now();
  try {
    const context = await browser.newContext();
    await context.route((url) => !url.href.startsWith(server.url), (route) => route.abort());
    await context.route(`${server.url}/fuzz-blank`, (route) =>
      route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>fuzz</title><body></body>' }));
    const page = await context.newPage();
    let crashed = false;
    page.on('crash', () => { crashed = true; });
    await page.goto(`${server.url}/fuzz-blank`);
    await page.evaluate(async () => { window.fuzz = await import('/fuzz/page.js'); });
    let result;
    for (let from = 0; from < count; from += BATCH) {
      const n = Math.min(BATCH, count - from);
      await page.evaluate(([s, f, c]) => window.fuzz.run(s, f, c), [seed, from, n]);
      if ((from + n) % SETTLE_EVERY === 0 || from + n >= count) {
        result = await page.evaluate((ms) => window.fuzz.settle(ms), 30_000);
        log(`browser fuzz: ${from + n}/${count} calls, ${result.escapes} escapes, ${result.traps} traps, ${result.missing} without outcome`);
      }
    }
    const iframe = await page.evaluate((n) => window.fuzz.iframeObjects(n), 50);
    const delivers = await page.evaluate(() => window.fuzz.stillDelivers().catch((e) => String(e)));
    const events = await (await fetch(`${server.url}/__gb/events`)).json();
    result = await page.evaluate(() => window.fuzz.settle(1_000));
    return {
      ...result,
      seed,
      seconds: Math.round((Date.now() - started) / 1000),
      crashed,
      iframeDelivered: iframe,
      iframeSent: 50,
      stillDelivers: delivers === true && events.some((e) => e.name === 'fuzz_done'),
      accepted: events.length,
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

/** Whether `r` is clean: nothing escaped or trapped, one outcome per call, alive at the end. */
export function clean(r) {
  return r.escapes === 0 && r.traps === 0 && r.missing === 0 && r.twice === 0 && r.wrongReturn === 0
    && !r.crashed && r.iframeDelivered === r.iframeSent && r.stillDelivers;
}

export function describe(r) {
  return `browser fuzz (seed ${r.seed}): ${r.calls} calls in ${r.seconds} s: ${r.escapes} escapes, ${r.traps} traps, `
    + `${r.outcomes} outcomes awaited, ${r.missing} missing, ${r.twice} twice, ${r.wrongReturn} wrong returns; `
    + `iframe-realm events delivered ${r.iframeDelivered}/${r.iframeSent}; a fresh tracker still delivers: ${r.stillDelivers ? 'yes' : 'NO'}; `
    + `${r.accepted} events accepted by the server; outcomes by kind ${JSON.stringify(r.kinds)}`
    + (r.problems.length ? `\n  ${r.problems.join('\n  ')}` : '');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const result = await fuzzBrowser({ count: arg('--count', 100_000), seed: arg('--seed', 1), log: console.log });
  console.log(describe(result));
  process.exitCode = clean(result) ? 0 : 1;
}
