// The page side of the browser fuzz (tests/fuzz/browser.mjs drives it): seeded hostile
// JavaScript values through every export of the package and every Tracker method, each call
// checked for what the contract (shared/design/api.md) promises whatever the input:
// - no exception escapes, except customerWidget's GameballError `invalid_config`;
// - every sendEvent call gets exactly one outcome (its callback once, or its Promise settles),
//   flush's Promise settles, the other methods return;
// - no wasm trap (a panic or `unreachable` kills the module): no WebAssembly.RuntimeError,
//   thrown or reported later (`error`, `unhandledrejection`).
// What each outcome is (delivered, invalid_event, invalid_config, unauthorized, ...) is the
// contract's business elsewhere: here every documented outcome is accepted.

const gb = await import('/pkg/gameball_tracker.js');
await gb.default();

const ORIGIN = location.origin;
const GOOD_KEY = 'test-public-key';

/** The exports the fuzz calls, by name, with how many arguments each takes. A new export
 * (`voucherify`) is one line here. */
export const EXPORTS = {
  customerWidget: { call: (a) => gb.customerWidget(a[0]), mayThrow: 'invalid_config', makesTracker: true },
  sendEvent: { call: (a) => gb.sendEvent(a[0], a[1]), outcome: 'event' },
  init: { call: (a) => gb.default(a[0]), outcome: 'promise' },
  initSync: { call: (a) => gb.initSync(a[0]) },
};
if (typeof gb.voucherify === 'function') {
  EXPORTS.voucherify = { call: (a) => gb.voucherify(a[0]), mayThrow: 'invalid_config', makesTracker: true };
}

/** Tracker methods and what each returns. */
const METHODS = {
  sendEvent: 'event', flush: 'promise', pending: 'number', stats: 'object',
  setCustomer: 'value', logout: 'value', destroy: 'value', free: 'value',
};
const methodNames = () => [...Object.keys(METHODS), ...(Symbol.dispose ? [Symbol.dispose] : [])];

// mulberry32: small, seeded, good enough to pick among shapes.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
  };
  return r;
}

// An iframe's realm: its plain objects are plain objects all the same.
const frame = document.createElement('iframe');
document.body.appendChild(frame);
const other = frame.contentWindow;

const SURROGATES = ['\ud800', '\udfff', '\ud83d', '\ude00', 'a\ud83cb', '\ud83d\ude00', '🇪🇬', '👩‍👩‍👧'];

/** A string: empty, blank, long, control characters, lone surrogates, non-Latin-1. */
function text(r) {
  switch (r.int(9)) {
    case 0: return '';
    case 1: return 'cust_' + r.int(1000);
    case 2: return ' ';
    case 3: return 'x'.repeat(r.pick([63, 64, 65, 128, 129, 200, 201, 254, 255, 4096]));
    case 4: return String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x80)));
    case 5: return r.pick(['a b', 'add_to_cart', 'login', 'a.b:c-d', '\n', '\u0000', '"', '\\', '__proto__', 'constructor', 'secretKey']);
    case 6: return String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x10000)));
    case 7: return r.pick(SURROGATES) + r.int(10);
    default: return r.chance(0.05) ? 'é'.repeat(1 << r.int(21)) : 'ünïcødé ' + r.pick(SURROGATES);
  }
}

function number(r) {
  return r.pick([0, -0, 1, -1, 1.5, 1e21, 2 ** 53, -(2 ** 53), NaN, Infinity, -Infinity, Number.MIN_VALUE, 5000, 1000, 10, 86_400_000, 1e300, r.next() * 1e6]);
}

function throwingProxy(r, target) {
  const traps = ['get', 'ownKeys', 'getPrototypeOf', 'has', 'getOwnPropertyDescriptor', 'apply'];
  const trap = r.pick(traps);
  return new Proxy(target, { [trap]() { throw new Error(`trap ${trap}`); } });
}

function nested(r, depth) {
  let v = r.chance(0.5) ? {} : [];
  for (let i = 0; i < depth; i++) v = r.chance(0.5) ? { x: v } : [v];
  return v;
}

/** Any value, hostile or not. `depth` bounds the recursion of containers. */
export function value(r, depth = 0) {
  const leaf = depth > 3;
  switch (r.int(leaf ? 8 : 26)) {
    case 0: return undefined;
    case 1: return null;
    case 2: return r.chance(0.5);
    case 3: return number(r);
    case 4: case 5: return text(r);
    case 6: return r.chance(0.5) ? 10n : Symbol('s');
    case 7: return r.pick([() => 1, function named() {}, class K {}, async () => {}, Math.max]);
    case 8: return plain(r, depth + 1);
    case 9: return plain(r, depth + 1);
    case 10: return Array.from({ length: r.int(5) }, () => value(r, depth + 1));
    case 11: { const a = [1, , 3]; a.length = r.int(6); return a; }
    case 12: return r.pick([new Uint8Array(4), new Float64Array([NaN]), new ArrayBuffer(8), new DataView(new ArrayBuffer(2))]);
    case 13: return r.pick([new Map([['a', 1]]), new Set([1]), new Date(), new Date(NaN), /re/g, new Error('e'), Promise.resolve(1), new WeakMap()]);
    case 14: return throwingProxy(r, r.chance(0.5) ? {} : () => {});
    case 15: { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; }
    case 16: return Object.defineProperty({}, r.pick(['events', 'apiKey', 'customerId', 'a']), { get() { throw new Error('getter'); }, enumerable: r.chance(0.5) });
    case 17: { const o = { a: 1 }; o.self = r.chance(0.5) ? o : [o]; return o; }
    case 18: return nested(r, r.pick([7, 8, 9, 33, 1000, 10_000]));
    case 19: return Object.freeze(plain(r, depth + 1));
    case 20: return Object.assign(Object.create(null), plain(r, depth + 1));
    case 21: return other.JSON.parse(JSON.stringify({ a: 1, b: [1, { c: 'x' }] }));
    case 22: return JSON.parse('{"__proto__": {"x": 1}, "constructor": "c"}');
    case 23: return { [Symbol('k')]: 1, [r.pick(['a', '__proto__'])]: value(r, depth + 1) };
    case 24: return Object.create({ inherited: 1, secretKey: r.chance(0.3) ? 'sk' : undefined });
    default: return new (class Cart { constructor() { this.items = []; } })();
  }
}

function plain(r, depth) {
  const o = r.chance(0.1) ? new other.Object() : {};
  const n = r.int(6);
  for (let i = 0; i < n; i++) {
    // Defined, not assigned: a key `__proto__` becomes an own member, as JSON.parse makes it.
    const key = r.chance(0.7) ? r.pick(['a', 'b', 'price', 'qty', 'tags', 'nested']) : text(r);
    Object.defineProperty(o, key, { value: value(r, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

/** An event, usually close to valid, with one part hostile. */
function event(r) {
  if (r.chance(0.15)) return value(r);
  const make = r.chance(0.2) ? () => new other.Object() : () => ({});
  const ev = make();
  if (r.chance(0.8)) ev.customerId = r.chance(0.7) ? 'fuzz_' + r.int(20) : value(r, 2);
  if (r.chance(0.2)) ev.email = r.chance(0.5) ? 'a@b.c' : value(r, 2);
  if (r.chance(0.1)) ev.mobile = value(r, 2);
  const events = make();
  const names = r.chance(0.1) ? 0 : 1 + r.int(3);
  for (let i = 0; i < names; i++) {
    const name = r.chance(0.8) ? r.pick(['add_to_cart', 'login', 'review', 'view']) : text(r);
    Object.defineProperty(events, name, { value: r.chance(0.85) ? { n: r.int(1000), tag: 'x' } : value(r, 1), enumerable: true, writable: true, configurable: true });
  }
  ev.events = r.chance(0.9) ? events : value(r, 1);
  if (r.chance(0.05)) return throwingProxy(r, ev);
  return ev;
}

/** A config: the local server's key and origin, or one hostile part. It never names another
 * host: apiBase is this origin or not a usable URL, so every event it accepts reaches the
 * local server and gets its outcome. Header fields (apiKey, lang, sessionToken) get any text:
 * a value no header can carry is refused where it enters (invalid_config), so fetch never
 * throws on it. */
function config(r) {
  if (r.chance(0.1)) return value(r);
  const c = r.chance(0.2) ? new other.Object() : {};
  c.apiKey = r.chance(0.92) ? GOOD_KEY : r.chance(0.5) ? text(r) : value(r, 2);
  c.apiBase = r.chance(0.85) ? ORIGIN : r.pick(['', 'ftp://x', 'not a url', 'http://', 42, null]);
  c.widget = r.chance(0.8) ? false : r.pick([true, {}, { scriptUrl: 'javascript:alert(1)' }, { scriptUrl: ORIGIN + '/no-widget.js' }, value(r, 2)]);
  if (r.chance(0.5)) c.customerId = r.chance(0.7) ? 'fuzz_' + r.int(20) : value(r, 2);
  if (r.chance(0.2)) c.lang = r.chance(0.5) ? 'ar' : text(r);
  if (r.chance(0.1)) c.sessionToken = text(r);
  if (r.chance(0.2)) c.customerAttributes = value(r, 1);
  if (r.chance(0.2)) c.onDelivery = r.pick([() => { throw new Error('onDelivery throws'); }, () => {}, value(r, 2)]);
  for (const key of ['flushIntervalMs', 'maxQueueEvents', 'maxQueueBytes', 'maxAttempts', 'eventTtlMs']) {
    if (r.chance(0.05)) c[key] = r.chance(0.5) ? number(r) : value(r, 2);
  }
  if (r.chance(0.05)) c.debug = value(r, 2);
  if (r.chance(0.05)) c[r.pick(['secretKey', 'transactionKey', 'secret_key'])] = 'sk_live';
  if (r.chance(0.03)) Object.defineProperty(c, 'secretKey', { value: 'sk', enumerable: false });
  if (r.chance(0.05)) return Object.freeze(c);
  if (r.chance(0.05)) return throwingProxy(r, c);
  return c;
}

function callback(r, record) {
  switch (r.int(6)) {
    case 0: case 1: return undefined;
    case 2: return null;
    case 3: return r.pick(['x', 1, {}, Symbol('cb'), [], true]);
    default: {
      const throwing = r.chance(0.2);
      return (...args) => {
        record.calls += 1;
        kind(args[0], args[1]);
        if (throwing) throw new Error('callback throws');
      };
    }
  }
}

const isTrap = (e) => e instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError|null pointer passed to rust|recursive use of an object/.test(String(e?.message ?? e));
const isGameballError = (e) => e instanceof gb.GameballError && typeof e.code === 'string';

export const totals = {
  calls: 0, escapes: 0, traps: 0, outcomes: 0, missing: 0, twice: 0, wrongReturn: 0,
  iframeRefused: 0, problems: [], kinds: {},
};

/** Counts an outcome by kind: `ok`, or the error's code. */
function kind(result, error) {
  const k = error ? String(error?.code ?? 'error') : result && typeof result === 'object' && 'ok' in result ? 'ok' : 'value';
  totals.kinds[k] = (totals.kinds[k] || 0) + 1;
}

function problem(kind, detail) {
  if (totals.problems.length < 20) totals.problems.push(`${kind}: ${detail}`);
}

addEventListener('error', (e) => { if (isTrap(e.error ?? e.message)) { totals.traps += 1; problem('trap (error event)', e.message); } });
addEventListener('unhandledrejection', (e) => {
  if (isTrap(e.reason)) totals.traps += 1;
  else totals.escapes += 1;
  problem('unhandled rejection', String(e.reason?.message ?? e.reason));
});

const waiting = new Set();
let trackers = [];
/** API keys of the trackers made: see `settle`. */
const keys = new Set();

/** Watches a returned Promise: it must settle (once, as any Promise does). */
function watchPromise(promise, what) {
  if (!(promise instanceof Promise)) {
    totals.wrongReturn += 1;
    problem('not a Promise', what);
    return;
  }
  const record = { what, settled: false };
  waiting.add(record);
  promise.then((value) => { record.settled = true; kind(value); }, (e) => {
    record.settled = true;
    kind(undefined, e);
    if (isTrap(e)) { totals.traps += 1; problem('trap (rejection)', `${what}: ${e?.message}`); } else if (!isGameballError(e)) {
      totals.escapes += 1;
      problem('rejection that is not a GameballError', `${what}: ${e}`);
    }
  });
}

/** A short account of an event argument, for a problem's line. */
function sketch(ev) {
  try {
    return JSON.stringify({ c: ev.customerId, n: Object.keys(ev.events ?? {}) }).slice(0, 120);
  } catch (_) {
    return '(unreadable)';
  }
}

function watchEvent(result, cb, record, what) {
  if (typeof cb === 'function') {
    if (result !== undefined) { totals.wrongReturn += 1; problem('callback call returned', `${what}: ${result}`); }
    record.what = what;
    waiting.add(record);
  } else {
    watchPromise(result, what);
  }
}

function call(fn, what, { mayThrow, outcome, cb, record }) {
  totals.calls += 1;
  let result;
  try {
    result = fn();
  } catch (e) {
    if (isTrap(e)) { totals.traps += 1; problem('trap', `${what}: ${e?.message}`); } else if (!(mayThrow && isGameballError(e) && e.code === mayThrow)) {
      totals.escapes += 1;
      problem('escaped', `${what}: ${e?.name} ${e?.code ?? ''} ${e?.message}`);
    }
    return undefined;
  }
  if (outcome === 'event') watchEvent(result, cb, record, what);
  else if (outcome === 'promise') watchPromise(result, what);
  else if (outcome === 'number' && typeof result !== 'number') { totals.wrongReturn += 1; problem('not a number', what); } else if (outcome === 'object' && (typeof result !== 'object' || result === null)) { totals.wrongReturn += 1; problem('not an object', what); }
  return result;
}

/** One seeded call through an export or a Tracker method. */
function one(r, i) {
  const record = { calls: 0 };
  if (r.chance(0.35) || trackers.length === 0) {
    const name = r.pick(Object.keys(EXPORTS));
    const spec = EXPORTS[name];
    let args;
    let cb;
    if (name === 'customerWidget' || name === 'voucherify') args = [config(r)];
    else if (name === 'sendEvent') { cb = callback(r, record); args = [event(r), cb]; } else args = [r.chance(0.5) ? undefined : value(r)];
    const result = call(() => spec.call(args), `#${i} ${name}${name === 'sendEvent' ? ' ' + sketch(args[0]) : ''}`, { mayThrow: spec.mayThrow, outcome: spec.outcome, cb, record });
    if (spec.makesTracker && result instanceof gb.Tracker) {
      try { keys.add(String(args[0].apiKey)); } catch (_) { /* a proxy that let the call through */ }
      trackers.push(result);
      if (trackers.length > 8) trackers.shift();
    }
    return;
  }
  const tracker = r.pick(trackers);
  let name = r.pick(methodNames());
  // Rarely: the handle ends (destroy, free, dispose); the calls after it must still answer.
  if ((name === 'destroy' || name === 'free' || typeof name === 'symbol') && r.chance(0.9)) name = 'stats';
  const kind = typeof name === 'symbol' ? 'value' : METHODS[name];
  let args = [];
  let cb;
  if (name === 'sendEvent') { cb = callback(r, record); args = [event(r), cb]; } else if (name === 'setCustomer') args = [r.chance(0.6) ? { customerId: 'fuzz_' + r.int(20), sessionToken: r.chance(0.2) ? text(r) : undefined, customerAttributes: r.chance(0.2) ? value(r, 1) : undefined } : value(r)];
  else if (r.chance(0.2)) args = [value(r)];
  const how = r.int(4);
  const method = tracker[name];
  const fn = how === 0 ? () => method(...args) // unbound
    : how === 1 ? () => gb.Tracker.prototype[name].call(r.chance(0.5) ? value(r) : tracker, ...args)
      : () => tracker[name](...args);
  call(fn, `#${i} tracker.${String(name)}(${how})${name === 'sendEvent' ? ' ' + sketch(args[0]) : ''}`, { outcome: kind === 'event' || kind === 'promise' || kind === 'number' || kind === 'object' ? kind : undefined, cb, record });
}

/** Runs `count` seeded calls starting at call number `from` of the run seeded `seed`. */
export function run(seed, from, count) {
  for (let i = from; i < from + count; i++) {
    try { one(rng(seed * 1_000_003 + i), i); } catch (e) { throw new Error(`call #${i}: ${e.stack}`); }
  }
  return { calls: totals.calls };
}

/** Waits up to `ms` for every watched outcome, then counts what is missing or came twice. */
export async function settle(ms) {
  // The README: events of a destroyed or replaced tracker are sent, and their callbacks
  // called, by the next tracker of that apiKey in this page. A page would call
  // customerWidget again; so does the fuzz, for every key it used.
  // One key at a time: a customerWidget call for another key replaces the tracker again.
  keys.delete(GOOD_KEY);
  for (const apiKey of [...keys, GOOD_KEY]) {
    let tracker;
    try { tracker = gb.customerWidget({ apiKey, apiBase: ORIGIN, widget: false }); } catch (e) { problem('a known key refused', `${apiKey}: ${e.message}`); continue; }
    trackers.push(tracker);
    for (let i = 0; i < 50 && tracker.pending() > 0 && !tracker.stats().paused; i++) {
      await tracker.flush();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  keys.clear();
  trackers = trackers.slice(-8);
  const until = performance.now() + ms;
  const done = (w) => (w.calls !== undefined ? w.calls >= 1 : w.settled);
  while (performance.now() < until && [...waiting].some((w) => !done(w))) {
    // Nudge the trackers: a flush sends what waits for the periodic one.
    for (const t of trackers) { try { t.flush().catch(() => {}); } catch (_) { /* counted elsewhere */ } }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // Callbacks run asynchronously: a second call would come within a task or two.
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const w of waiting) {
    if (!done(w)) { totals.missing += 1; problem('no outcome', w.what); continue; }
    totals.outcomes += 1;
    if (w.calls > 1) { totals.twice += 1; problem('callback called twice', w.what); }
  }
  waiting.clear();
  return summary();
}

function summary() {
  return { ...totals, problems: [...totals.problems], kinds: { ...totals.kinds } };
}

/** Plain objects made in the iframe's realm, as config and event: accepted and delivered. */
export async function iframeObjects(n) {
  const config = other.JSON.parse(JSON.stringify({ apiKey: GOOD_KEY, apiBase: ORIGIN, widget: false }));
  const tracker = gb.customerWidget(config);
  const results = [];
  for (let i = 0; i < n; i++) {
    const ev = new other.Object();
    ev.customerId = 'fuzz_iframe';
    ev.events = other.JSON.parse(`{"iframe_event": {"n": ${i}, "tags": ["a"], "nested": {"k": true}}}`);
    results.push(tracker.sendEvent(ev).then((res) => res.ok, (e) => { totals.iframeRefused += 1; problem('iframe object refused', e.message); return false; }));
  }
  return (await Promise.all(results)).filter(Boolean).length;
}

/** After everything: a fresh tracker still delivers a good event (the module is alive). */
export async function stillDelivers() {
  const tracker = gb.customerWidget({ apiKey: GOOD_KEY, apiBase: ORIGIN, widget: false });
  const response = await tracker.sendEvent({ customerId: 'fuzz_final', events: { fuzz_done: { ok: true } } });
  return response.ok === true;
}
