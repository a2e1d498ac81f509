// Hostile callers, storage and answers, end to end on the built package in Chromium against
// the local server (its fault injection makes the answers): each ends in the outcome the
// README's "Hostile answers and storage" table documents, never a hang, an escaped
// exception or a lost event. Also the JS-boundary faults a new user found: plain objects of
// another realm, freed handles, unbound methods, a callback that is not a function, secret
// keys that are inherited or not enumerable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDemoServer, control, acceptedEvents, eventRequests, openBlank, eventually } from './harness.mjs';

const env = useDemoServer();

/** A page with the package, and what it reported as unhandled rejections. */
async function page() {
  const context = await env.browser.newContext();
  const p = await openBlank(context, env.server);
  await p.evaluate(() => {
    window.unhandled = [];
    addEventListener('unhandledrejection', (e) => window.unhandled.push(String(e.reason?.message ?? e.reason)));
  });
  p.close = () => context.close();
  return p;
}

const fault = (f) => control(env.server, '/__gb/faults', f);

/** Sends one event for `customerId` on a fresh tracker; resolves with its outcome. */
async function sendOne(p, customerId, name = 'hostile') {
  return p.evaluate(async ([origin, c, n]) => {
    const t = window.gb.customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    const started = performance.now();
    const outcome = await t.sendEvent({ customerId: c, events: { [n]: { at: 1 } } })
      .then((r) => ({ ok: true, status: r.status, attempts: r.attempts }), (e) => ({ ok: false, code: e.code, status: e.status, gameballCode: e.gameballCode, message: e.message }));
    return { ...outcome, ms: performance.now() - started, stats: t.stats() };
  }, [env.server.url, customerId, name]);
}

const accepted = async (customerId) => (await acceptedEvents(env.server)).filter((e) => e.customerId === customerId);

test('plain objects made in an iframe are plain objects: config and event accepted, delivered', async () => {
  const p = await page();
  const result = await p.evaluate(async (origin) => {
    const frame = document.createElement('iframe');
    document.body.appendChild(frame);
    const R = frame.contentWindow;
    const config = new R.Object();
    Object.assign(config, { apiKey: 'test-public-key', apiBase: origin, widget: false });
    const t = window.gb.customerWidget(config);
    const event = R.JSON.parse('{"customerId":"iframe_1","events":{"add_to_cart":{"price":10,"tags":["a"],"o":{"k":true}}}}');
    const r = await t.sendEvent(event);
    // A class instance of the other realm is still refused, naming its kind.
    const refused = await t.sendEvent({ customerId: 'iframe_1', events: { x: { d: new R.Date(0) } } }).catch((e) => e.message);
    return { ok: r.ok, refused };
  }, env.server.url);
  assert.equal(result.ok, true);
  assert.match(result.refused, /events\.x\.d is a Date/);
  assert.equal((await accepted('iframe_1')).length, 1);
  await p.close();
});

test('a freed or disposed handle, or a method called on something else, answers instead of throwing', async () => {
  const p = await page();
  const result = await p.evaluate(async (origin) => {
    const { customerWidget, Tracker } = window.gb;
    const out = {};
    const t = customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    t.free();
    t.free(); // twice: nothing
    out.sendEvent = await t.sendEvent({ customerId: 'freed', events: { a: {} } }).then(() => 'resolved', (e) => `${e.name} ${e.code}`);
    out.callback = await new Promise((resolve) => { t.sendEvent({ customerId: 'freed', events: { a: {} } }, (r, e) => resolve(e?.code)); });
    out.pending = t.pending();
    out.stats = typeof t.stats().queued;
    out.flush = JSON.stringify(await t.flush());
    out.setCustomer = t.setCustomer({ customerId: 'x' })?.code;
    t.logout();
    t.destroy();
    const d = customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    if (Symbol.dispose) d[Symbol.dispose]();
    out.disposed = await d.sendEvent({ customerId: 'freed', events: { a: {} } }).catch((e) => e.code);
    out.foreign = await Tracker.prototype.sendEvent.call({}, { customerId: 'freed', events: { a: {} } }).catch((e) => e.code);
    out.foreignPending = Tracker.prototype.pending.call(undefined);
    // A fresh handle works after all this.
    const fresh = customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    out.fresh = (await fresh.sendEvent({ customerId: 'after_free', events: { a: {} } })).ok;
    return out;
  }, env.server.url);
  assert.deepEqual(result, {
    sendEvent: 'GameballError not_initialized',
    callback: 'not_initialized',
    pending: 0,
    stats: 'number',
    flush: '{"sent":0,"failed":0,"pending":0}',
    setCustomer: 'not_initialized',
    disposed: 'not_initialized',
    foreign: 'not_initialized',
    foreignPending: 0,
    fresh: true,
  });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('methods work unbound: const { sendEvent } = tracker', async () => {
  const p = await page();
  const result = await p.evaluate(async (origin) => {
    const { sendEvent, pending, flush, stats } = window.gb.customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    const r = await sendEvent({ customerId: 'unbound', events: { a: {} } });
    return { ok: r.ok, pending: pending(), flushed: typeof (await flush()).sent, queued: stats().queued };
  }, env.server.url);
  assert.deepEqual(result, { ok: true, pending: 0, flushed: 'number', queued: 0 });
  await p.close();
});

test('a second argument that is not a function: a handled rejection with invalid_event, nothing unhandled', async () => {
  const p = await page();
  const result = await p.evaluate(async (origin) => {
    const t = window.gb.customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    const ev = { customerId: 'badcb', events: { a: {} } };
    const fromTracker = t.sendEvent(ev, 'x');
    const fromModule = window.gb.sendEvent(ev, 42);
    await new Promise((r) => setTimeout(r, 300));
    return {
      codes: [await fromTracker.catch((e) => e.code), await fromModule.catch((e) => e.message)],
      unhandled: window.unhandled,
      pending: t.pending(),
    };
  }, env.server.url);
  assert.equal(result.codes[0], 'invalid_event');
  assert.match(result.codes[1], /second argument of sendEvent must be a callback function, got number/);
  assert.deepEqual(result.unhandled, []);
  assert.equal(result.pending, 0, 'nothing queued');
  await p.close();
});

test('a secret key is refused when inherited or not enumerable', async () => {
  const p = await page();
  const codes = await p.evaluate(() => {
    const base = { apiKey: 'test-public-key', widget: false };
    const inherited = Object.assign(Object.create({ secretKey: 'sk_live' }), base);
    const hidden = Object.defineProperty({ ...base }, 'transactionKey', { value: 'tk', enumerable: false });
    return [inherited, hidden].map((c) => {
      try { window.gb.customerWidget(c); return 'accepted'; } catch (e) { return `${e.code}: ${e.message.split(' ')[0]}`; }
    });
  });
  assert.deepEqual(codes, ['invalid_config: secretKey', 'invalid_config: transactionKey']);
  await p.close();
});

test('a tracker brought back while the storage quota is full still sends (found by the browser fuzz)', async () => {
  const p = await page();
  const result = await p.evaluate(async (origin) => {
    const junk = 'x'.repeat(256 * 1024);
    try { for (let i = 0; ; i++) localStorage.setItem(`junk:${i}`, junk); } catch (_) { /* full */ }
    const { customerWidget } = window.gb;
    const t = customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    const outcome = t.sendEvent({ customerId: 'quota', events: { a: { big: 'y'.repeat(20_000) } } });
    customerWidget({ apiKey: 'demo-public-key', apiBase: origin, widget: false });
    await new Promise((r) => setTimeout(r, 500));
    customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    const settled = await Promise.race([outcome.then((r) => r.ok), new Promise((r) => setTimeout(() => r('no outcome in 10 s'), 10_000))]);
    for (const key of Object.keys(localStorage)) if (key.startsWith('junk:')) localStorage.removeItem(key);
    return settled;
  }, env.server.url);
  assert.equal(result, true);
  await p.close();
});

test('records edited, truncated or replaced, and keys of another namespace: dropped as corrupt or left alone', async () => {
  const p = await page();
  await control(env.server, '/__gb/offline', { offline: true });
  const prefix = await p.evaluate(async (origin) => {
    const t = window.gb.customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    t.sendEvent({ customerId: 'stored', events: { kept: {} } }).catch(() => {});
    t.destroy();
    const key = Object.keys(localStorage).find((k) => /^gb1:[0-9a-f]+:[0-9a-z]{21}$/.test(k));
    return key.slice(0, key.lastIndexOf(':') + 1);
  }, env.server.url);
  await control(env.server, '/__gb/offline', { offline: false });
  const result = await p.evaluate(async ([origin, prefix]) => {
    const good = Object.entries(localStorage).find(([k]) => k.startsWith(prefix) && /[0-9a-z]{21}$/.test(k));
    const value = good[1];
    localStorage.setItem(prefix + '0aaaaaaaa000001zzzzzz', value.slice(0, value.length / 2)); // truncated
    localStorage.setItem(prefix + '0aaaaaaaa000002zzzzzz', value.replace('"v":1', '"v":9')); // edited
    localStorage.setItem(prefix + '0aaaaaaaa000003zzzzzz', '<html>not a record</html>'); // replaced
    localStorage.setItem(prefix + '0aaaaaaaa000004zzzzzz', value); // another record's text under this id
    localStorage.setItem('gb1:0123456789abcdef:0aaaaaaaa000005zzzzzz', 'another namespace');
    const t = window.gb.customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false });
    const fresh = await t.sendEvent({ customerId: 'stored', events: { fresh: {} } });
    await t.flush();
    return {
      fresh: fresh.ok,
      dropped: t.stats().dropped,
      pending: t.pending(),
      other: localStorage.getItem('gb1:0123456789abcdef:0aaaaaaaa000005zzzzzz'),
      leftover: Object.keys(localStorage).filter((k) => k.startsWith(prefix) && /[0-9a-z]{21}$/.test(k)),
    };
  }, [env.server.url, prefix]);
  assert.equal(result.fresh, true);
  assert.deepEqual(result.dropped, { corrupt: 4 });
  assert.equal(result.pending, 0);
  assert.equal(result.other, 'another namespace', "another namespace's key is not touched");
  assert.deepEqual(result.leftover, []);
  const names = (await accepted('stored')).map((e) => e.name).sort();
  assert.deepEqual(names, ['fresh', 'kept'], 'the stored event once, the fresh one once');
  assert.deepEqual(p.errors, []);
  await p.close();
});

// Hostile answers: one row of the README table each.
const answers = [
  { name: '200 with an error body: delivered (Gameball took it)', fault: { status: 200, accept: true, contentType: 'application/json', body: '{"code":5000,"message":"error"}' }, expect: { ok: true, status: 200, attempts: 1 } },
  { name: '204 without a body: delivered', fault: { status: 204, accept: true }, expect: { ok: true, status: 204, attempts: 1 } },
  { name: 'an HTML 502 page from a proxy: retried, then delivered', fault: { status: 502, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }, expect: { ok: true, status: 200, attempts: 2 } },
  { name: 'a 5 MB 503 body: retried, its start read only, then delivered', fault: { status: 503, contentType: 'application/json', bodyBytes: 5 * 1024 * 1024 }, expect: { ok: true, status: 200, attempts: 2 } },
  { name: 'a 500 whose body is cut off: retried, then delivered', fault: { status: 500, contentType: 'application/json', body: '{"code":5000,"mess', truncate: true }, expect: { ok: true, status: 200, attempts: 2 } },
  { name: 'a 400 that is not JSON: rejected, with the status', fault: { status: 400, contentType: 'text/plain', body: 'Bad Request' }, expect: { ok: false, code: 'rejected', status: 400 } },
  { name: 'a 400 whose JSON comes as text/html: rejected, Gameball\'s code read', fault: { status: 400, contentType: 'text/html', body: '{"code":1000,"message":"Invalid customer"}' }, expect: { ok: false, code: 'rejected', status: 400, gameballCode: 1000 } },
];

for (const { name, fault: f, expect } of answers) {
  test(`hostile answer: ${name}`, async () => {
    const p = await page();
    const customerId = 'ans_' + name.split(':')[0].replace(/\W+/g, '_');
    await fault(f);
    const outcome = await sendOne(p, customerId);
    for (const [key, value] of Object.entries(expect)) assert.equal(outcome[key], value, `${key} of ${JSON.stringify(outcome)}`);
    if (expect.ok && expect.attempts === 2) assert.equal(outcome.stats.resentUnknown, 0, 'an answer is not an unknown fate');
    assert.deepEqual(await p.evaluate(() => window.unhandled), []);
    assert.deepEqual(p.errors, []);
    await p.close();
  });
}

test('hostile answer: a redirect to another origin is not followed; the event is retried and delivered once', async () => {
  const p = await page();
  const elsewhere = env.server.url.replace('127.0.0.1', 'localhost') + '/api/v4.0/integrations/events';
  await fault({ redirect: elsewhere, status: 307 });
  const outcome = await sendOne(p, 'redirected');
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 2);
  const posts = (await eventRequests(env.server)).filter((r) => r.body?.customerId === 'redirected');
  assert.equal(posts.length, 2, 'the redirect and the retry; the redirect was not followed');
  assert.equal((await accepted('redirected')).length, 1);
  await p.close();
});

test('hostile answer: slower than the 10 s timeout: aborted, resent as a counted unknown fate, delivered', async () => {
  const p = await page();
  await fault({ delayMs: 12_000 });
  const outcome = await sendOne(p, 'slow');
  assert.equal(outcome.ok, true);
  assert.ok(outcome.ms >= 10_000, `took ${outcome.ms} ms`);
  assert.equal(outcome.stats.resentUnknown, 1);
  await eventually(async () => (await accepted('slow')).length >= 1, 'the slow event');
  await p.close();
});

test('a symbol key in metadata is invalid_event naming the field (JSON.stringify would drop it silently)', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  const result = await page.evaluate(async (origin) => {
    const tracker = window.gb.customerWidget({ apiKey: 'demo-public-key', apiBase: origin, widget: false });
    const error = await tracker.sendEvent({ customerId: 'sym_key', events: { buy: { a: 1, [Symbol('k')]: 2 } } })
      .then(() => null, (e) => ({ code: e.code, message: e.message }));
    return { error, pending: tracker.pending() };
  }, env.server.url);
  assert.equal(result.error?.code, 'invalid_event');
  assert.match(result.error.message, /events\.buy has a symbol key/);
  assert.equal(result.pending, 0);
  await context.close();
});
