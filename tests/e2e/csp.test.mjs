// The demo storefront under the strict Content Security Policy README's "Security and
// privacy" gives (issue 12 §6): no 'unsafe-inline', no 'unsafe-eval', 'wasm-unsafe-eval' for
// the module. The policy is read from README.md, so the test and the text cannot drift apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { launch, startDemoServer, acceptedEvents, control, eventually } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The policy the README says the demo is tested under: the last CSP line of its section. */
function readmePolicy() {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Security and privacy'));
  const lines = section.slice(0, section.indexOf('\n## ')).split('\n')
    .filter((l) => l.startsWith('Content-Security-Policy: '));
  assert.ok(lines.length >= 2, 'README gives the store policy and the demo policy');
  return lines.at(-1).slice('Content-Security-Policy: '.length);
}

const POLICY = readmePolicy();
let server;
let browser;

before(async () => {
  server = await startDemoServer({ headers: { 'Content-Security-Policy': POLICY } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the policy is strict: no unsafe-inline, no unsafe-eval, wasm-unsafe-eval for the module', () => {
  assert.doesNotMatch(POLICY, /'unsafe-inline'|'unsafe-eval'|\*/);
  assert.match(POLICY, /script-src [^;]*'wasm-unsafe-eval'/);
  assert.match(POLICY, /default-src 'none'/);
});

test('the demo under that policy: the tracker starts, events are delivered, the widget loads, no violation', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  const cspConsole = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (/Content Security Policy|Content-Security-Policy|Refused to/i.test(m.text())) cspConsole.push(m.text());
  });
  await page.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.violations.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
    });
  });
  const response = await page.goto(server.url + '/');
  assert.equal(response.headers()['content-security-policy'], POLICY, 'the document is served under the policy');
  await page.getByTestId('ready').filter({ hasText: /^ready$/ }).waitFor({ timeout: 15_000 });

  // Events: a login and an add to cart reach the server.
  await page.getByTestId('login-id').fill('csp_cust');
  await page.getByTestId('login-btn').click();
  await page.getByTestId('add-to-cart-231402').click();
  const events = await eventually(async () => {
    const list = (await acceptedEvents(server)).filter((e) => e.customerId === 'csp_cust');
    return list.some((e) => e.name === 'add_to_cart') ? list : null;
  }, 'the events at the server');
  assert.ok(events.length >= 2, JSON.stringify(events));
  // The demo sends each action to Voucherify too (its apiUrl is the page's origin here).
  await eventually(async () => (await control(server, '/__gb/events?destination=voucherify'))
    .some((e) => e.customerId === 'csp_cust' && e.name === 'add_to_cart'), 'the events at the Voucherify endpoint');

  // The widget loader ran (a deferred <script> the tracker added) and shows the customer,
  // styled by its own stylesheet.
  await eventually(() => page.evaluate(() => (window.GbSdk?.inits ?? []).some((i) => i.playerUniqueId === 'csp_cust')), 'GbSdk.init for the customer');
  await page.getByTestId('gb-widget-launcher').click();
  assert.equal(await page.getByTestId('gb-widget-title').textContent(), 'Hi, csp_cust!');
  assert.equal(await page.getByTestId('gb-widget-launcher').evaluate((b) => getComputedStyle(b).position), 'fixed');

  await eventually(async () => Number(await page.getByTestId('pending-count').textContent()) === 0, 'nothing pending');
  assert.deepEqual(await page.evaluate(() => window.violations), [], 'no securitypolicyviolation');
  assert.deepEqual(cspConsole, [], 'no CSP message in the console');
  assert.deepEqual(errors, []);

  // The policy is in force: an inline script added now does not run, and is reported.
  const ran = await page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true;';
    document.head.append(script);
    await new Promise((r) => setTimeout(r, 100));
    return window.inlineRan === true;
  });
  assert.equal(ran, false);
  await eventually(() => page.evaluate(() => window.violations.some((v) => v.directive.startsWith('script-src'))), 'the blocked inline script reported');
  await context.close();
});
