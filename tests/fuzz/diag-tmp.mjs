import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../server/gameball-server.mjs';
import { CHROMIUM_ARGS } from '../e2e/harness.mjs';
const ROOT = '/work/main';
const server = await startServer({ port: 0, quiet: true,
  static: [{ prefix: '/pkg', dir: path.join(ROOT, 'pkg') }, { prefix: '/fuzz', dir: path.join(ROOT, 'tests', 'fuzz') }] });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
const context = await browser.newContext();
await context.route((url) => !url.href.startsWith(server.url), (route) => route.abort());
await context.route(`${server.url}/fuzz-blank`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>fuzz</title><body></body>' }));
const page = await context.newPage();
page.on('console', (m) => { if (/gameball/.test(m.text()) && !/invalid|not_init/.test(m.text())) {} });
await page.goto(`${server.url}/fuzz-blank`);
await page.evaluate(async () => { window.fuzz = await import('/fuzz/page.js'); window.gbm = await import('/pkg/gameball_tracker.js'); });
const upto = Number(process.argv[2] || 80000);
for (let from = 0; from < upto; from += 500) {
  await page.evaluate(([s, f, c]) => window.fuzz.run(s, f, c), [1, from, 500]);
  if ((from + 500) % 5000 === 0) {
    const r = await page.evaluate(() => window.fuzz.settle(30000));
    console.log(from + 500, r.missing, JSON.stringify(r.problems.slice(-3)).slice(0, 600));
    if (r.missing > 0) break;
  }
}
const st = await page.evaluate(() => { const t = window.gbm.customerWidget({ apiKey: 'test-public-key', apiBase: location.origin, widget: false }); return [t.pending(), JSON.stringify(t.stats()), Object.keys(localStorage).length]; });
console.log('GOOD tracker', JSON.stringify(st));
await page.evaluate(() => {
  window.fetchLog = [];
  const real = window.fetch;
  window.fetch = function (req, init) {
    const p = real.call(this, req, init);
    p.then((r) => window.fetchLog.push(['ok', r.status, req.url || String(req)]), (e) => window.fetchLog.push(['err', String(e), req.url || String(req), req.keepalive, [...(req.headers || new Headers()).entries()].map(([k, v]) => k + '=' + JSON.stringify(v).slice(0, 40))]));
    return p;
  };
});
await page.waitForTimeout(20000);
console.log('fetches', JSON.stringify(await page.evaluate(() => window.fetchLog.slice(-6))).slice(0, 3000));

const log = await (await fetch(server.url + '/__gb/log')).json();
const reqs = log.requests.filter((r) => r.method === 'POST');
console.log('posts', reqs.length, 'last', JSON.stringify(reqs.slice(-5).map((r) => [r.status, r.fault, r.headers?.apikey])));
await browser.close(); await server.close();
