// A shopper's walk through the demo storefront in Chromium, with screenshots a person can
// look at (tests/e2e/screenshots/walkthrough-*.png): guest view, login with a session token,
// the widget, cart, review, order, the network switch, logout. The steps are
// tests/engines/walkthrough.mjs, which the engines layer also runs in Firefox and WebKit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDemoServer, screenshot } from './harness.mjs';
import { playwrightWindow } from '../engines/engines.mjs';
import { walkThrough } from '../engines/walkthrough.mjs';

const env = useDemoServer();

test('walk-through: browse as a guest, log in, shop, review, order, go offline and back, log out', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  // Chromium logs each request the "offline" server drops as a failed resource: that one is
  // the point of step 4; any other console error is a problem.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource: net::ERR_EMPTY_RESPONSE')) problems.push(m.text());
  });
  await page.goto(env.server.url + '/');
  await walkThrough(playwrightWindow(page), env.server, (name) => screenshot(page, `walkthrough-${name}`));
  assert.deepEqual(problems, []);
  await context.close();
});
