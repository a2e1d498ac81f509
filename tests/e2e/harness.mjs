// Shared set-up for the end-to-end tests: the local Gameball-compatible server serving the
// demo (www/), the built package (pkg/) and the test pages (tests/e2e/pages/) on one origin, and Debian's Chromium driven by
// playwright-core (never a downloaded browser).
import { before, after, beforeEach } from 'node:test';
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startServer } from '../server/gameball-server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = path.join(ROOT, 'tests', 'e2e', 'screenshots');

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run',
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** `options` go to `startServer` too (`headers` on static files: the CSP test's policy). */
export async function startDemoServer(options = {}) {
  return startServer({
    ...options,
    port: 0,
    quiet: true,
    static: [
      { prefix: '/pkg', dir: path.join(ROOT, 'pkg') },
      { prefix: '/e2e-pages', dir: path.join(ROOT, 'tests', 'e2e', 'pages') },
      { prefix: '/', dir: path.join(ROOT, 'www') },
    ],
  });
}

export async function control(server, route, body) {
  const response = await fetch(server.url + route, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.status === 204 ? null : response.json();
}

export async function acceptedEvents(server) {
  return control(server, '/__gb/events');
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // From the top: a sticky header would otherwise be drawn where the page was scrolled to.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function eventually(check, what, ms = 10_000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A blank page on the server's origin (so the package and the events API are same-origin),
 * with the package imported as `window.gb` and, unless `init: false`, initialised.
 */
export async function openBlank(context, server, { init = true } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route(`${server.url}/blank`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title><body></body>' }));
  await page.goto(`${server.url}/blank`);
  await page.evaluate(async (initialise) => {
    window.gb = await import('/pkg/gameball_tracker.js');
    if (initialise) await window.gb.default();
  }, init);
  page.errors = errors;
  return page;
}

/** The event requests the server received (preflights left out), oldest first. */
export async function eventRequests(server) {
  const { requests } = await control(server, '/__gb/log');
  return requests.filter((r) => r.method === 'POST' && r.path.includes('/integrations/events'));
}

/**
 * Registers the hooks of a test file on the demo server: one server and one Chromium for the
 * file, the server's log, faults and offline switch reset before each test. Returns an object
 * whose `server` and `browser` are set once the file's tests start.
 */
export function useDemoServer() {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startDemoServer();
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.close();
  });
  beforeEach(async () => {
    await control(env.server, '/__gb/reset', {});
  });
  return env;
}
