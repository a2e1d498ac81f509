// Tests of the local Gameball-compatible server (gameball-server.mjs).
// Run with: node --test tests/server/
// One server per file on port 0; every test starts from POST /__gb/reset.

import { test as nodeTest, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, EVENTS_ALLOW_HEADERS } from './gameball-server.mjs';

const SERVER_FILE = fileURLToPath(new URL('./gameball-server.mjs', import.meta.url));
const V40 = '/api/v4.0/integrations/events';
const V41 = '/api/v4.1/integrations/events';
const KEY = 'test-public-key';
const ORIGIN = 'http://shop.example';

/** Every test fails after 5 s rather than hanging the run (a hang fault that never ends, say). */
const test = (name, fn) => nodeTest(name, { timeout: 5000 }, fn);

let server;
let base;
let staticDirs;

before(async () => {
  staticDirs = makeStaticDirs();
  server = await startServer({
    port: 0,
    quiet: true,
    static: [
      { prefix: '/', dir: staticDirs.www },
      { prefix: '/', dir: staticDirs.fallback },
      { prefix: '/pkg', dir: staticDirs.pkg },
    ],
  });
  base = server.url;
});

after(async () => {
  await server.close();
  fs.rmSync(staticDirs.top, { recursive: true, force: true });
});

beforeEach(async () => {
  const res = await fetch(`${base}/__gb/reset`, { method: 'POST' });
  assert.equal(res.status, 204);
});

// --- helpers ---------------------------------------------------------------------------------

function makeStaticDirs() {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'gb-server-test-'));
  const www = path.join(top, 'www');
  const fallback = path.join(top, 'fallback');
  const pkg = path.join(top, 'pkg');
  for (const dir of [www, fallback, pkg, path.join(www, 'sub')]) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), '<h1>shop</h1>');
  fs.writeFileSync(path.join(www, 'app.mjs'), 'export {};');
  fs.writeFileSync(path.join(www, 'sub', 'index.html'), '<h1>sub</h1>');
  fs.writeFileSync(path.join(www, 'shared.txt'), 'from www');
  fs.writeFileSync(path.join(fallback, 'shared.txt'), 'from fallback');
  fs.writeFileSync(path.join(fallback, 'only-fallback.css'), 'body{}');
  fs.writeFileSync(path.join(pkg, 'gameball_tracker_bg.wasm'), Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(pkg, 'gameball_tracker.d.ts'), 'export {};');
  fs.writeFileSync(path.join(www, '.hidden'), 'do not serve');
  fs.writeFileSync(path.join(top, 'secret.txt'), 'do not serve');
  return { top, www, fallback, pkg };
}

function post(pathname, body, { key = KEY, headers = {}, signal } = {}) {
  const allHeaders = { 'Content-Type': 'application/json', Lang: 'en', 'x-gb-agent': 'gameball-tracker/0.1.0', ...headers };
  if (key !== null) allHeaders.APIKey = key;
  return fetch(base + pathname, {
    method: 'POST',
    headers: allHeaders,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

function sendEvents(customerId, events = { login: {} }, options) {
  return post(V40, { customerId, events }, options);
}

async function control(pathname, body) {
  const res = await fetch(base + pathname, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 204, `${pathname} answered ${res.status}`);
}

const addFault = (fault) => control('/__gb/faults', fault);
const getJson = async (pathname) => (await fetch(base + pathname)).json();
const getLog = async (since = 0) => (await getJson(`/__gb/log?since=${since}`)).requests;

async function expectGameballError(res, status, code) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(body.code, code, `body: ${JSON.stringify(body)}`);
  assert.equal(typeof body.type, 'string');
  assert.match(body.documentationUrl, /^https:\/\/developer\.gameball\.co\//);
  assert.equal(body.requestId, res.headers.get('x-request-id'));
  return body;
}

/** Sends a raw request path (fetch would normalize `..` away). */
function rawGet(rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/`, { path: rawPath, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(predicate, what, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// --- events endpoint -------------------------------------------------------------------------

test('accepts events and logs the request', async () => {
  const body = { customerId: 'cust_1', events: { add_to_cart: { price: 1350 } }, email: 'a@b.co' };
  const res = await post(V40, body, { headers: { Origin: ORIGIN } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true, message: 'Events processed' });
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(res.headers.get('vary'), 'Origin');
  assert.equal(res.headers.get('access-control-expose-headers'), 'Retry-After, X-Request-Id');
  assert.match(res.headers.get('x-request-id'), /^[0-9a-f-]{36}$/);

  const log = await getLog();
  assert.equal(log.length, 1);
  const [entry] = log;
  assert.equal(entry.method, 'POST');
  assert.equal(entry.path, V40);
  assert.equal(entry.status, 200);
  assert.equal(entry.code, null);
  assert.equal(entry.fault, null);
  assert.deepEqual(entry.body, body);
  assert.deepEqual(entry.headers, {
    apikey: KEY,
    lang: 'en',
    'x-gb-agent': 'gameball-tracker/0.1.0',
    'content-type': 'application/json',
    origin: ORIGIN,
  });
  assert.ok(Math.abs(entry.at - Date.now()) < 5000);
});

test('without an Origin the CORS origin is *', async () => {
  const res = await sendEvents('cust_1');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
});

test('401 code 1000 for a missing or unknown API key', async () => {
  const missing = await expectGameballError(await sendEvents('cust_1', undefined, { key: null }), 401, 1000);
  assert.equal(missing.type, 'Authentication Error');
  await expectGameballError(await sendEvents('cust_1', undefined, { key: 'nope' }), 401, 1000);
  const log = await getLog();
  assert.deepEqual(log.map((e) => [e.status, e.code]), [[401, 1000], [401, 1000]]);
  assert.deepEqual(await getJson('/__gb/events'), []);
});

test('v4.1 needs X-GB-TOKEN', async () => {
  const body = { customerId: 'cust_1', events: { login: {} } };
  const denied = await expectGameballError(await post(V41, body), 401, 1000);
  assert.match(denied.message, /session token/i);
  const ok = await post(V41, body, { headers: { 'X-GB-TOKEN': 'jwe.token' } });
  assert.equal(ok.status, 200);
  const log = await getLog();
  assert.equal(log[1].headers['x-gb-token'], 'jwe.token');
});

test('400 code 3000 for a missing customerId or empty events', async () => {
  const noCustomer = await expectGameballError(await post(V40, { events: { login: {} } }), 400, 3000);
  assert.equal(noCustomer.type, 'Payload Error');
  assert.match(noCustomer.message, /customerId is required/);
  await expectGameballError(await post(V40, { customerId: '', events: { login: {} } }), 400, 3000);
  await expectGameballError(await post(V40, { customerId: 42, events: { login: {} } }), 400, 3000);
  await expectGameballError(await post(V40, { customerId: 'c' }), 400, 3000);
  await expectGameballError(await post(V40, { customerId: 'c', events: {} }), 400, 3000);
  await expectGameballError(await post(V40, { customerId: 'c', events: [] }), 400, 3000);
});

test('400 code 3016 for bad JSON, non-object metadata and non-string email', async () => {
  await expectGameballError(await post(V40, '{not json'), 400, 3016);
  await expectGameballError(await post(V40, '[1,2]'), 400, 3016);
  const meta = await expectGameballError(await post(V40, { customerId: 'c', events: { a: {}, b: [1] } }), 400, 3016);
  assert.match(meta.message, /"b"/);
  await expectGameballError(await post(V40, { customerId: 'c', events: { a: 'x' } }), 400, 3016);
  await expectGameballError(await post(V40, { customerId: 'c', events: { a: null } }), 400, 3016);
  await expectGameballError(await post(V40, { customerId: 'c', events: { a: {} }, email: 5 }), 400, 3016);
  await expectGameballError(await post(V40, { customerId: 'c', events: { a: {} }, mobile: null }), 400, 3016);
  const log = await getLog();
  assert.equal(log[0].body, '{not json', 'an unparsable body is logged raw');
});

test('the API key is checked before the payload', async () => {
  await expectGameballError(await post(V40, '{not json', { key: 'nope' }), 401, 1000);
});

test('413 code 3016 for a body over 1 MB', async () => {
  const big = { customerId: 'c', events: { e: { blob: 'x'.repeat(1100 * 1024) } } };
  await expectGameballError(await post(V40, big), 413, 3016);
});

test('preflight answers with the Gameball allow-list and is logged', async () => {
  const res = await fetch(base + V40, {
    method: 'OPTIONS',
    headers: {
      Origin: ORIGIN,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'apikey,content-type,lang,x-gb-agent',
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(res.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
  assert.equal(res.headers.get('access-control-allow-headers'), 'APIKey, Content-Type, Lang, x-gb-agent, X-GB-TOKEN');
  assert.equal(res.headers.get('access-control-allow-headers'), EVENTS_ALLOW_HEADERS);
  assert.equal(res.headers.get('access-control-max-age'), '600');
  assert.equal(res.headers.get('vary'), 'Origin');
  assert.ok(res.headers.get('x-request-id'));
  const log = await getLog();
  assert.equal(log.length, 1);
  assert.equal(log[0].method, 'OPTIONS');
  assert.equal(log[0].status, 204);
  assert.equal(log[0].headers.origin, ORIGIN);
});

test('422 code 2001 while a request of the same customer is in progress', async () => {
  await addFault({ delayMs: 400 });
  const started = Date.now();
  const slow = sendEvents('cust_busy', { first: {} });
  await waitFor(async () => (await getLog()).length === 1, 'the slow request to arrive');
  await expectGameballError(await sendEvents('cust_busy', { second: {} }), 422, 2001);
  const other = await sendEvents('cust_other', { third: {} });
  assert.equal(other.status, 200, 'another customer is not blocked');
  const slowRes = await slow;
  assert.equal(slowRes.status, 200);
  assert.ok(Date.now() - started >= 390, 'the delay fault delayed the answer');
  assert.deepEqual((await getJson('/__gb/events')).map((e) => e.name), ['first', 'third']);
  const afterwards = await sendEvents('cust_busy', { fourth: {} });
  assert.equal(afterwards.status, 200, 'the customer is free once the slow request answered');
  const log = await getLog();
  assert.equal(log[0].fault, 'delay');
  assert.deepEqual(log.map((e) => e.code), [null, 2001, null, null]);
});

// --- faults ----------------------------------------------------------------------------------

test('status fault answers with a Gameball error and default codes', async () => {
  await addFault({ status: 503 });
  await addFault({ status: 429 });
  await addFault({ status: 400 });
  await addFault({ status: 500, code: 5003 });
  const first = await expectGameballError(await sendEvents('c'), 503, 5000);
  assert.equal(first.type, 'Server Error');
  const limited = await expectGameballError(await sendEvents('c'), 429, 4029);
  assert.equal(limited.type, 'Rate Limit');
  await expectGameballError(await sendEvents('c'), 400, 3016);
  await expectGameballError(await sendEvents('c'), 500, 5003);
  assert.equal((await sendEvents('c')).status, 200, 'faults are used up');
  assert.equal((await getJson('/__gb/events')).length, 1, 'failed requests record nothing');
  assert.deepEqual((await getLog()).map((e) => e.fault), ['status', 'status', 'status', 'status', null]);
});

test('Retry-After is sent verbatim and only when a fault says so', async () => {
  await addFault({ status: 429, retryAfter: '7' });
  await addFault({ status: 503, retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT' });
  const first = await sendEvents('c');
  assert.equal(first.status, 429);
  assert.equal(first.headers.get('retry-after'), '7');
  const second = await sendEvents('c');
  assert.equal(second.headers.get('retry-after'), 'Wed, 21 Oct 2015 07:28:00 GMT');
  const third = await sendEvents('c');
  assert.equal(third.status, 200);
  assert.equal(third.headers.get('retry-after'), null);
});

test('fault count is consumed one request at a time, preflights excluded', async () => {
  await addFault({ status: 500, count: 2 });
  await fetch(base + V40, { method: 'OPTIONS', headers: { Origin: ORIGIN } });
  assert.equal((await sendEvents('c')).status, 500);
  assert.equal((await sendEvents('c')).status, 500);
  assert.equal((await sendEvents('c')).status, 200);
});

test('faults can be cleared', async () => {
  await addFault({ status: 500, count: 5 });
  await control('/__gb/faults', { clear: true });
  assert.equal((await sendEvents('c')).status, 200);
});

test('a bad fault is refused with 400', async () => {
  const res = await fetch(`${base}/__gb/faults`, { method: 'POST', body: JSON.stringify({ count: 0 }) });
  assert.equal(res.status, 400);
});

test('drop destroys the socket: fetch fails with a TypeError', async () => {
  await addFault({ drop: true });
  await assert.rejects(sendEvents('c'), TypeError);
  const [entry] = await getLog();
  assert.equal(entry.fault, 'drop');
  assert.equal(entry.status, null);
  assert.equal((await sendEvents('c')).status, 200);
  assert.deepEqual((await getJson('/__gb/events')).map((e) => e.seq), [2]);
});

test('hang never answers; the client aborts and the customer is freed', async () => {
  await addFault({ hang: true });
  const controller = new AbortController();
  const hung = sendEvents('cust_hang', { login: {} }, { signal: controller.signal });
  await waitFor(async () => (await getLog()).length === 1, 'the hung request to arrive');
  await new Promise((r) => setTimeout(r, 100));
  controller.abort();
  await assert.rejects(hung, { name: 'AbortError' });
  const [entry] = await getLog();
  assert.equal(entry.fault, 'hang');
  assert.equal(entry.status, null);
  await waitFor(async () => server.state.inProgress.size === 0, 'the hung request to release its customer');
  assert.equal((await sendEvents('cust_hang')).status, 200);
  assert.equal((await getJson('/__gb/events')).length, 1);
});

test('accept records the events, then answers with the fault status', async () => {
  await addFault({ accept: true, status: 500 });
  await expectGameballError(await sendEvents('cust_acc', { place_order: { total: 10 } }), 500, 5000);
  const events = await getJson('/__gb/events');
  assert.deepEqual(events, [
    { seq: 1, customerId: 'cust_acc', name: 'place_order', metadata: { total: 10 }, email: null, mobile: null },
  ]);
  const [entry] = await getLog();
  assert.equal(entry.fault, 'accept');
  assert.equal(entry.status, 500);
});

test('offline drops event POSTs and preflights until switched back', async () => {
  await control('/__gb/offline', { offline: true });
  await assert.rejects(sendEvents('c'), TypeError);
  await assert.rejects(fetch(base + V40, { method: 'OPTIONS' }), TypeError);
  assert.deepEqual((await getJson('/__gb/health')), { ok: true }, 'control endpoints stay up');
  await control('/__gb/offline', { offline: false });
  assert.equal((await sendEvents('c')).status, 200);
  assert.deepEqual((await getLog()).map((e) => e.fault), ['offline', 'offline', null]);
});

// --- rate limit, config, reset ---------------------------------------------------------------

test('rate limit: the 101st request within a second gets 429 code 4029 without Retry-After', async () => {
  let limited;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => sendEvents(`cust_${attempt}_${i}`)));
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
    await Promise.all(answers.map((r) => r.arrayBuffer()));
    limited = await sendEvents('cust_over');
    // On a loaded machine the 101 requests may take longer than the window: then the first
    // ones have left it and the 101st is rightly let through. Wait for the window to empty and
    // try again (the 30 s window allows 1,200, so a few tries stay under it).
    if (Date.now() - started < 900 || attempt === 5) break;
    await limited.arrayBuffer();
    await new Promise((r) => setTimeout(r, 1_100));
  }
  const body = await expectGameballError(limited, 429, 4029);
  assert.equal(body.type, 'Rate Limit');
  assert.equal(limited.headers.get('retry-after'), null);
  const otherKey = await sendEvents('cust_other', undefined, { key: 'demo-public-key' });
  assert.equal(otherKey.status, 200, 'the limit is per API key');
  await control('/__gb/config', { rateLimit: false });
  assert.equal((await sendEvents('cust_free')).status, 200, 'rateLimit:false lifts it');
});

test('config replaces the API keys; reset restores everything', async () => {
  await control('/__gb/config', { apiKeys: ['other-key'] });
  await expectGameballError(await sendEvents('c'), 401, 1000);
  assert.equal((await sendEvents('c', undefined, { key: 'other-key' })).status, 200);
  await addFault({ status: 500 });
  await control('/__gb/offline', { offline: true });
  await control('/__gb/reset', {});
  assert.deepEqual(await getLog(), []);
  assert.deepEqual(await getJson('/__gb/events'), []);
  const res = await sendEvents('c');
  assert.equal(res.status, 200, 'keys restored, fault and offline cleared');
  assert.equal((await sendEvents('c', undefined, { key: 'other-key' })).status, 401);
});

test('/__gb/events flattens accepted requests, one row per event name', async () => {
  await post(V40, { customerId: 'a', events: { view: { p: 1 }, add_to_cart: { p: 2 } }, email: 'a@x.co', mobile: '+20' });
  await post(V40, { customerId: 'b', events: { view: 'bad' } });
  await post(V40, { customerId: 'a', events: { view: { p: 1 } } });
  const events = await getJson('/__gb/events');
  assert.deepEqual(events, [
    { seq: 1, customerId: 'a', name: 'view', metadata: { p: 1 }, email: 'a@x.co', mobile: '+20' },
    { seq: 1, customerId: 'a', name: 'add_to_cart', metadata: { p: 2 }, email: 'a@x.co', mobile: '+20' },
    { seq: 3, customerId: 'a', name: 'view', metadata: { p: 1 }, email: null, mobile: null },
  ]);
  const since = await getLog(2);
  assert.deepEqual(since.map((e) => e.seq), [3]);
});

test('control endpoints are CORS-enabled', async () => {
  const preflight = await fetch(`${base}/__gb/faults`, { method: 'OPTIONS', headers: { Origin: ORIGIN } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  assert.equal(preflight.headers.get('access-control-allow-headers'), 'Content-Type');
  const health = await fetch(`${base}/__gb/health`, { headers: { Origin: ORIGIN } });
  assert.equal(health.headers.get('access-control-allow-origin'), '*');
  assert.equal((await getLog()).length, 0, 'control traffic is not logged');
});

// --- static files ----------------------------------------------------------------------------

test('static files: index, MIME types, no-store, first root wins, mounts', async () => {
  const index = await fetch(`${base}/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(index.headers.get('cache-control'), 'no-store');
  assert.equal(await index.text(), '<h1>shop</h1>');

  const js = await fetch(`${base}/app.mjs`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const wasm = await fetch(`${base}/pkg/gameball_tracker_bg.wasm`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal((await wasm.arrayBuffer()).byteLength, 8);
  const dts = await fetch(`${base}/pkg/gameball_tracker.d.ts`);
  assert.equal(dts.headers.get('content-type'), 'text/plain; charset=utf-8');
  const css = await fetch(`${base}/only-fallback.css`);
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');

  assert.equal(await (await fetch(`${base}/shared.txt`)).text(), 'from www');
  const sub = await fetch(`${base}/sub/`);
  assert.equal(await sub.text(), '<h1>sub</h1>');
  const redirected = await fetch(`${base}/sub`, { redirect: 'manual' });
  assert.equal(redirected.status, 301);
  assert.equal(redirected.headers.get('location'), '/sub/');

  const head = await fetch(`${base}/app.mjs`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), '10');
  assert.equal((await fetch(`${base}/missing.js`)).status, 404);
});

test('static files: traversal outside the root is refused with 404', async () => {
  assert.equal(await rawGet('/shared.txt'), 200, 'the raw helper works');
  assert.equal(await rawGet('/../secret.txt'), 404);
  assert.equal(await rawGet('/pkg/../../secret.txt'), 404);
  assert.equal(await rawGet('/%2e%2e/secret.txt'), 404);
  assert.equal(await rawGet('/..%2fsecret.txt'), 404);
  assert.equal(await rawGet('/pkg/..%5c..%5csecret.txt'), 404);
  assert.equal(await rawGet('/%00'), 404);
  assert.equal(await rawGet('/.hidden'), 404, 'dotfiles (.git, ...) are not served');
});

// --- sink (the bench's catch-all for other trackers) ----------------------------------------

test('sink: off by default, other POSTs get 404', async () => {
  const res = await fetch(`${base}/v1/track`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 404);
  assert.deepEqual(server.state.sink, []);
});

test('sink: other requests are kept and answered 200 {} with CORS; static files and headers still served', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gb-sink-test-'));
  fs.writeFileSync(path.join(dir, 'page.html'), '<p>bench</p>');
  const own = await startServer({
    port: 0, quiet: true, sink: true, static: [{ prefix: '/', dir }],
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin' },
  });
  try {
    const page = await fetch(`${own.url}/page.html`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    const preflight = await fetch(`${own.url}/v1/batch`, {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    const posted = await fetch(`${own.url}/v1/batch?x=1`, { method: 'POST', headers: { Origin: ORIGIN }, body: 'hello' });
    assert.equal(posted.status, 200);
    assert.deepEqual(await posted.json(), {});
    assert.equal(posted.headers.get('access-control-allow-credentials'), 'true');
    const missing = await fetch(`${own.url}/flags/?v=2`);
    assert.equal(missing.status, 200);
    assert.deepEqual(own.state.sink.map((e) => [e.method, e.path, e.body]), [
      ['POST', '/v1/batch?x=1', 'hello'],
      ['GET', '/flags/?v=2', ''],
    ]);
    await fetch(`${own.url}/__gb/reset`, { method: 'POST' });
    assert.deepEqual(own.state.sink, []);
  } finally {
    await own.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// --- lifecycle and CLI -----------------------------------------------------------------------

test('close() ends hanging sockets', async () => {
  const own = await startServer({ port: 0, quiet: true, static: [] });
  await fetch(`${own.url}/__gb/faults`, { method: 'POST', body: JSON.stringify({ hang: true }) });
  const hung = fetch(own.url + V40, {
    method: 'POST',
    headers: { APIKey: KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ customerId: 'c', events: { e: {} } }),
  });
  await waitFor(() => own.state.log.length === 1, 'the hung request to arrive');
  const started = Date.now();
  await own.close();
  assert.ok(Date.now() - started < 1000, 'close did not wait for the hung request');
  await assert.rejects(hung, TypeError);
});

test('CLI prints the listening line with the real port and honours GB_API_KEYS', async () => {
  const child = spawn(process.execPath, [SERVER_FILE, '--port', '0', '--quiet'], {
    env: { ...process.env, GB_API_KEYS: 'env-key-1, env-key-2' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const match = out.match(/^gameball-server listening on (http:\/\/127\.0\.0\.1:(\d+))$/m);
        if (match) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    assert.doesNotMatch(url, /:0$/);
    assert.deepEqual(await (await fetch(`${url}/__gb/health`)).json(), { ok: true });
    const headers = { 'Content-Type': 'application/json' };
    const body = JSON.stringify({ customerId: 'c', events: { e: {} } });
    const envKey = await fetch(url + V40, { method: 'POST', headers: { ...headers, APIKey: 'env-key-2' }, body });
    assert.equal(envKey.status, 200);
    const defaultKey = await fetch(url + V40, { method: 'POST', headers: { ...headers, APIKey: KEY }, body });
    assert.equal(defaultKey.status, 401);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});
