// The storefront code of the engines layer's pages, in the page's own realm: WebDriver scripts
// (Firefox runs them in a sandbox realm) only pass JSON text in and read JSON text out, through
// the `gb-test-call` event, so every object the tracker sees is a plain object of the page.
//
// Query: ?storage=throw patches localStorage.setItem to throw before the tracker starts;
// ?legacy=1 hides Web Locks and BroadcastChannel, as in a browser without them; ?nokeepalive=1
// hides Request.prototype.keepalive, as in Firefox before 133.
import init, { customerWidget, GameballError } from '/pkg/gameball_tracker.js';

const params = new URLSearchParams(location.search);
const lifecycle = [];
addEventListener('pagehide', (e) => lifecycle.push(`pagehide:${e.persisted}`));
addEventListener('pageshow', (e) => lifecycle.push(`pageshow:${e.persisted}`));

if (params.get('storage') === 'throw') {
  Storage.prototype.setItem = function setItem() {
    throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  };
}

if (params.get('legacy') === '1') {
  Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
  delete window.BroadcastChannel;
}

if (params.get('nokeepalive') === '1') delete Request.prototype.keepalive;

// ?debug=1: the tracker's debug lines, kept for `logs`.
const logs = [];
if (params.get('debug') === '1') {
  const debug = console.debug.bind(console);
  console.debug = (...args) => { logs.push(`${Math.round(performance.now())} ${args.map(String).join(' ')}`); debug(...args); };
}

await init();
const reports = [];
const tracker = customerWidget({
  apiKey: 'test-public-key',
  apiBase: location.origin,
  widget: false,
  flushIntervalMs: 1000,
  debug: params.get('debug') === '1',
  onDelivery: (report) => reports.push(report),
});

/** Keys of this page's localStorage writes that carried the watched text (`watchStorage`). */
const storageSaw = [];

/** Every outcome each tagged call got (more than one would break the contract). */
const outcomes = {};
const settle = (tag) => (response, error) => {
  const got = error
    ? { ok: false, code: error.code, message: error.message, gameballError: error instanceof GameballError, className: error.constructor.name }
    : { ok: true, status: response.status, attempts: response.attempts, id: response.id };
  (outcomes[tag] ??= []).push(got);
};

function send(tag, event, form) {
  if (form === 'callback') {
    const returned = tracker.sendEvent(event, settle(tag));
    return { returned: returned === undefined ? 'undefined' : typeof returned };
  }
  const returned = tracker.sendEvent(event);
  returned.then((r) => settle(tag)(r, null), (e) => settle(tag)(null, e));
  return { returned: returned instanceof Promise ? 'promise' : typeof returned };
}

const later = (fn) => { setTimeout(fn, 0); return null; };

const api = {
  send: (tag, eventJson, form = 'promise') => send(tag, JSON.parse(eventJson), form),
  /** Metadata that is not JSON (NaN): invalid_event, never queued. */
  sendInvalid: (tag, form) => send(tag, { customerId: 'c-bad', events: { add_to_cart: { price: NaN } } }, form),
  /** Sends, then leaves for `url` in the same task, as a storefront's "buy and go" does. */
  sendAndGo(tag, eventJson, url) {
    send(tag, JSON.parse(eventJson), 'callback');
    location.href = url;
    return null;
  },
  outcomes: () => outcomes,
  reports: () => reports.map((r) => ({ id: r.id, ok: r.ok, eventNames: r.eventNames, status: r.status })),
  stats: () => tracker.stats(),
  pending: () => tracker.pending(),
  flush: () => tracker.flush(),
  lifecycle: () => lifecycle,
  logs: () => logs,
  apis: () => ({
    locks: navigator.locks !== undefined,
    broadcastChannel: typeof BroadcastChannel === 'function',
    keepalive: 'keepalive' in Request.prototype,
  }),
  records() {
    let n = 0;
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key.startsWith('gb1:') && !key.includes('~')) n += 1;
    }
    return n;
  },
  clearStorage: () => { localStorage.clear(); return null; },
  /** Fills localStorage with another library's keys until about 2,000 characters are left. */
  fillStorage() {
    let n = 0;
    for (let size = 1 << 20; size >= 1000; size >>= 1) {
      const value = 'x'.repeat(size);
      for (;;) {
        try { localStorage.setItem(`other-lib:${n++}`, value); } catch (_) { break; }
      }
    }
    return n;
  },
  freeStorage() {
    for (const key of Object.keys(localStorage)) if (key.startsWith('other-lib:')) localStorage.removeItem(key);
    return null;
  },
  /** Counts localStorage writes (and the refused ones) for `ms`. */
  async countWrites(ms) {
    const original = Storage.prototype.setItem;
    const counts = { sets: 0, refused: 0 };
    Storage.prototype.setItem = function setItem(key, value) {
      counts.sets += 1;
      try { return original.call(this, key, value); } catch (error) { counts.refused += 1; throw error; }
    };
    await new Promise((resolve) => setTimeout(resolve, ms));
    Storage.prototype.setItem = original;
    return counts;
  },
  hostileGlobals,
  setCustomer: (customerId, sessionToken) => { tracker.setCustomer({ customerId, sessionToken }); return null; },
  logout: () => { tracker.logout(); return null; },
  /** Starts noting whether any localStorage write of this page carries `text`. */
  watchStorage(text) {
    const original = Storage.prototype.setItem;
    Storage.prototype.setItem = function setItem(key, value) {
      if (String(key).includes(text) || String(value).includes(text)) storageSaw.push(key);
      return original.call(this, key, value);
    };
    return null;
  },
  storageSaw: () => storageSaw,
  go: (url) => later(() => { location.href = url; }),
  back: () => later(() => history.back()),
  reload: () => later(() => location.reload()),
};

/**
 * The page's globals replaced, one at a time for 200 ms (the tracker's timers run meanwhile),
 * with code that throws, returns nonsense, or calls the tracker back from inside the call the
 * tracker made: each tagged event is sent while its patch is in place. Returns what threw out
 * of a tracker call (nothing should) and the tags sent; their outcomes are then read with
 * `outcomes`.
 */
async function hostileGlobals() {
  const realSetTimeout = setTimeout;
  const pause = (ms) => new Promise((resolve) => realSetTimeout(resolve, ms));
  const threw = [];
  const tags = [];
  const config = { apiKey: 'test-public-key', apiBase: location.origin, widget: false, flushIntervalMs: 1000, onDelivery: (r) => reports.push(r) };
  const attempt = async (label, f) => {
    try { await f(); } catch (error) { threw.push(`${label}: ${error && error.name}: ${error && error.message}`); }
  };
  const sendTagged = (tag) => {
    tags.push(tag);
    tracker.sendEvent({ customerId: `c-${tag}`, events: { add_to_cart: { tag } } }, settle(tag));
  };
  /** Runs `f` with `object[key]` replaced by `value` for 200 ms, then puts the original back. */
  const patched = async (object, key, value, f) => {
    const own = Object.getOwnPropertyDescriptor(object, key);
    Object.defineProperty(object, key, { value, configurable: true, writable: true });
    try {
      f();
      await pause(200);
    } finally {
      if (own) Object.defineProperty(object, key, own); else delete object[key];
    }
  };
  const boom = () => { throw new Error('a broken global'); };
  await attempt('Date.now throws', () => patched(Date, 'now', boom, () => sendTagged('date-throws')));
  await attempt('Date.now returns a symbol', () => patched(Date, 'now', () => Symbol('t'), () => sendTagged('date-symbol')));
  await attempt('performance.now throws', () => patched(performance, 'now', boom, () => sendTagged('perf-throws')));
  await attempt('Math.random throws in customerWidget', () => patched(Math, 'random', boom, () => customerWidget(config)));
  await attempt('crypto.getRandomValues throws in customerWidget', () => patched(crypto, 'getRandomValues', boom, () => customerWidget(config)));
  await attempt('console.debug throws (debug on)', async () => {
    customerWidget({ ...config, debug: true });
    await patched(console, 'debug', boom, () => sendTagged('console-throws'));
    customerWidget(config);
  });
  // Session 7's second trial: nonsense where a number was expected, and JSON replaced.
  await attempt('Date.now returns 1e300', () => patched(Date, 'now', () => 1e300, () => sendTagged('date-huge')));
  await attempt('getRandomValues returns nonsense', () => patched(crypto, 'getRandomValues', () => [{ valueOf() { throw new Error('vo'); } }], () => customerWidget(config)));
  await attempt('Storage length is -1', () => patched(Storage.prototype, 'length', -1, () => {
    customerWidget(config);
    sendTagged('length-bad');
  }));
  await attempt('JSON.parse returns 42', () => patched(JSON, 'parse', () => 42, () => {
    sendTagged('json-parse');
    tracker.stats();
  }));
  await attempt('setTimeout throws', () => patched(window, 'setTimeout', boom, () => sendTagged('timeout-throws')));
  // Delivered without another call to the tracker (its timers are its own).
  await pause(1500);
  if (!outcomes['timeout-throws']) threw.push('setTimeout replaced: the event waited for the next call');
  // Calls back into the tracker from inside a call the tracker makes.
  let inner = 0;
  const reenter = (tag) => function (...args) {
    if (inner === 0) {
      inner += 1;
      sendTagged(tag);
      tracker.stats();
      tracker.pending();
    }
    return this === undefined ? undefined : args;
  };
  const realGetItem = Storage.prototype.getItem;
  await attempt('getItem calls the tracker', () => {
    inner = 0;
    return patched(Storage.prototype, 'getItem', function (key) { reenter('getitem-inner').call(this); return realGetItem.call(this, key); }, () => {
      sendTagged('getitem-outer');
      tracker.flush();
    });
  });
  const realNow = Date.now;
  await attempt('Date.now calls the tracker', () => {
    inner = 0;
    return patched(Date, 'now', () => { reenter('date-inner')(); return realNow.call(Date); }, () => sendTagged('date-outer'));
  });
  const realDebug = console.debug;
  await attempt('console.debug calls the tracker (debug on)', async () => {
    inner = 0;
    customerWidget({ ...config, debug: true });
    await patched(console, 'debug', (...args) => { reenter('debug-inner')(); realDebug.apply(console, args); }, () => sendTagged('debug-outer'));
    customerWidget(config);
  });
  // A secret key 70 prototypes down (a new user's finding, session 7: the walk stopped at 64).
  let deep = { secretKey: 'sk_live' };
  for (let i = 0; i < 70; i++) deep = Object.create(deep);
  Object.assign(deep, config);
  try {
    customerWidget(deep);
    threw.push('a secret key 70 prototypes down was accepted');
  } catch (error) {
    if (!(error instanceof GameballError) || error.code !== 'invalid_config') threw.push(`deep secretKey: ${error}`);
  }
  // A secret key in a null-prototype ancestor (the walk stopped at one).
  const ancestor = Object.create(null);
  ancestor.secretKey = 'sk_live';
  try {
    customerWidget(Object.assign(Object.create(ancestor), config));
    threw.push('a secret key in a null-prototype ancestor was accepted');
  } catch (error) {
    if (!(error instanceof GameballError) || error.code !== 'invalid_config') threw.push(`null-prototype secretKey: ${error}`);
  }
  for (const [label, apiBase] of [['credentials', 'http://u:p@127.0.0.1:1'], ['unparsable host', 'http://[::1']]) {
    try {
      customerWidget({ ...config, apiBase });
      threw.push(`apiBase with ${label} was accepted`);
    } catch (error) {
      if (!(error instanceof GameballError) || error.code !== 'invalid_config') threw.push(`apiBase with ${label}: ${error}`);
    }
  }
  return { threw, tags };
}

document.addEventListener('gb-test-call', async (event) => {
  const { id, name, args } = JSON.parse(event.detail);
  let reply;
  try {
    reply = { value: (await api[name](...args)) ?? null };
  } catch (error) {
    reply = { error: String(error && error.stack ? error.stack : error) };
  }
  document.dispatchEvent(new CustomEvent(id, { detail: JSON.stringify(reply) }));
});
document.title = 'ready';
