// Tests of the local server's Voucherify endpoint (POST /client/v1/events in gameball-server.mjs):
// validation as Voucherify validates, per-key authentication, the exact CORS allow-list, the
// per-IP rate limit, the same fault injection as Gameball's endpoint, and the shared log.
// Run with: node --test tests/server/

import { test as nodeTest, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, VOUCHERIFY_ALLOW_HEADERS, VOUCHERIFY_PATH, DEFAULT_VOUCHERIFY_APPS,
} from './gameball-server.mjs';

const test = (name, fn) => nodeTest(name, { timeout: 5000 }, fn);
const APP = 'test-vf-app';
const ORIGIN = 'http://shop.example';

let server;
let base;

before(async () => {
  server = await startServer({ port: 0, quiet: true, static: [] });
  base = server.url;
});
after(() => server.close());
beforeEach(async () => {
  assert.equal((await fetch(`${base}/__gb/reset`, { method: 'POST' })).status, 204);
});

function track(body, { app = APP, token = DEFAULT_VOUCHERIFY_APPS[APP], headers = {} } = {}) {
  const all = { 'Content-Type': 'application/json', 'X-Voucherify-Channel': 'gameball-tracker/0.1.0', Origin: ORIGIN, ...headers };
  if (app !== null) all['X-Client-Application-Id'] = app;
  if (token !== null) all['X-Client-Token'] = token;
  return fetch(base + VOUCHERIFY_PATH, {
    method: 'POST', headers: all, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function control(pathname, body) {
  const res = await fetch(base + pathname, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 204);
}

const getJson = async (pathname) => (await fetch(base + pathname)).json();

async function expectVoucherifyError(res, status, key) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(body.code, status);
  assert.equal(body.key, key, JSON.stringify(body));
  assert.equal(typeof body.message, 'string');
  assert.match(body.request_id, /^v-[0-9a-f]{18}$/);
  return body;
}

test('accepts an event, answers the event object, logs it and lists it per destination', async () => {
  const event = { event: 'user_subscribed', customer: { source_id: 'cust_42' }, metadata: { plan: 'PP1' }, referral: { code: 'R1' } };
  const res = await track(event);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  const body = await res.json();
  assert.equal(body.object, 'event');
  assert.equal(body.type, 'user_subscribed');
  assert.equal(body.customer.source_id, 'cust_42');
  assert.equal(body.referral, null);
  const [entry] = (await getJson('/__gb/log')).requests;
  assert.equal(entry.destination, 'voucherify');
  assert.equal(entry.path, VOUCHERIFY_PATH);
  assert.equal(entry.headers['x-client-application-id'], APP);
  assert.deepEqual(entry.body, event);
  assert.equal(entry.accepted, true);
  const rows = await getJson('/__gb/events?destination=voucherify');
  assert.deepEqual(rows.map((r) => [r.customerId, r.name, r.referral?.code]), [['cust_42', 'user_subscribed', 'R1']]);
  // Gameball's rows stay Gameball's.
  assert.deepEqual(await getJson('/__gb/events'), []);
});

test('401 for a missing, unknown or mismatched client key pair', async () => {
  const event = { event: 'e', customer: { id: 'c' } };
  await expectVoucherifyError(await track(event, { app: null }), 401, 'unauthorized');
  await expectVoucherifyError(await track(event, { token: 'demo-vf-key' }), 401, 'unauthorized');
  await expectVoucherifyError(await track(event, { app: 'nope' }), 401, 'unauthorized');
  // Gameball's key is no Voucherify key.
  await expectVoucherifyError(await track(event, { app: 'test-public-key', token: 'test-public-key' }), 401, 'unauthorized');
});

test('400 for what Voucherify refuses: event length, customer, metadata, referral/loyalty code', async () => {
  await control('/__gb/config', { rateLimit: false });
  for (const bad of [
    '{',
    { customer: { id: 'c' } },
    { event: '', customer: { id: 'c' } },
    { event: 'x'.repeat(301), customer: { id: 'c' } },
    { event: 'e' },
    { event: 'e', customer: { name: 'no id' } },
    { event: 'e', customer: { id: 'c' }, metadata: [1] },
    { event: 'e', customer: { id: 'c' }, referral: { referrer_id: 'x' } },
    { event: 'e', customer: { id: 'c' }, loyalty: {} },
  ]) {
    const res = await track(bad);
    assert.equal(res.status, 400, JSON.stringify(bad));
    const body = await res.json();
    assert.equal(body.code, 400);
    assert.equal(typeof body.details, 'string');
  }
  // 300 characters as JavaScript counts them (150 astral characters) are fine.
  assert.equal((await track({ event: '😀'.repeat(150), customer: { id: 'c' } })).status, 200);
});

test('preflight allows exactly the contract headers', async () => {
  const res = await fetch(base + VOUCHERIFY_PATH, {
    method: 'OPTIONS',
    headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-client-token' },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-headers'), VOUCHERIFY_ALLOW_HEADERS);
  assert.deepEqual(VOUCHERIFY_ALLOW_HEADERS.split(', '), ['X-Client-Application-Id', 'X-Client-Token', 'Content-Type', 'X-Voucherify-Channel']);
  assert.match(res.headers.get('access-control-expose-headers'), /Retry-After/);
});

test('the sixth request within 5 s from one IP gets 429; rateLimit false lifts it', async () => {
  const event = { event: 'e', customer: { id: 'c' } };
  for (let i = 0; i < 5; i++) assert.equal((await track(event)).status, 200);
  await expectVoucherifyError(await track(event), 429, 'too_many_requests');
  await control('/__gb/reset', {});
  await control('/__gb/config', { rateLimit: false });
  for (let i = 0; i < 7; i++) assert.equal((await track(event)).status, 200);
});

test('faults of its own FIFO: status with Retry-After, drop, accept; Gameball faults stay Gameball\'s', async () => {
  const event = { event: 'e', customer: { id: 'c' } };
  await control('/__gb/faults', { status: 503, retryAfter: 2, destination: 'voucherify' });
  await control('/__gb/faults', { status: 500 }); // Gameball's
  const res = await track(event);
  assert.equal(res.headers.get('retry-after'), '2');
  const body = await expectVoucherifyError(res, 503, 'injected_fault');
  assert.match(body.message, /503/);
  assert.equal((await track(event)).status, 200);
  await control('/__gb/faults', { drop: true, destination: 'voucherify' });
  await assert.rejects(track(event), TypeError);
  await control('/__gb/faults', { accept: true, status: 500, destination: 'voucherify' });
  assert.equal((await track(event)).status, 500);
  const rows = await getJson('/__gb/events?destination=voucherify');
  assert.equal(rows.length, 2, 'the accepted-then-500 event counts as received');
  const res2 = await fetch(`${base}/__gb/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ destination: 'mars' }) });
  assert.equal(res2.status, 400);
});

test('offline per destination or for both', async () => {
  const event = { event: 'e', customer: { id: 'c' } };
  await control('/__gb/offline', { offline: true, destination: 'voucherify' });
  await assert.rejects(track(event), TypeError);
  const gb = await fetch(`${base}/api/v4.0/integrations/events`, {
    method: 'POST', headers: { APIKey: 'test-public-key', 'Content-Type': 'application/json' }, body: JSON.stringify({ customerId: 'c', events: { login: {} } }),
  });
  assert.equal(gb.status, 200);
  await control('/__gb/offline', { offline: false });
  assert.equal((await track(event)).status, 200);
});
