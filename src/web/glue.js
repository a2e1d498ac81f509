// The few things that must be JavaScript: an Error subclass (wasm cannot extend a JS class),
// plain result objects built in one call instead of one boundary crossing per field, and the
// walk that turns the page's values into JSON text (one crossing per call, not one per field).

export class GameballError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'GameballError';
    this.code = code;
  }
}

export function makeError(code, message, status, gameballCode, requestId, id, voucherifyKey) {
  const error = new GameballError(code, message);
  if (status !== undefined) error.status = status;
  if (gameballCode !== undefined) error.gameballCode = gameballCode;
  if (requestId !== undefined) error.requestId = requestId;
  if (id !== undefined) error.id = id;
  if (voucherifyKey !== undefined) error.voucherifyKey = voucherifyKey;
  return error;
}

/**
 * Gameball's widget, as Gameball documents it: `window.GbLoadInit` calls `GbSdk.init` with
 * these options; the loader script (`id`) is injected once, deferred; a later call runs
 * GbLoadInit again once the SDK is there. Merchant values are set as data, never as HTML.
 */
export function showWidget(apiKey, lang, playerUniqueId, attributesJson, sessionToken, scriptUrl, id) {
  const options = { APIKey: apiKey, lang, playerUniqueId };
  if (attributesJson !== undefined) options.playerAttributes = parseJson(attributesJson);
  if (sessionToken !== undefined) options.sessionToken = sessionToken;
  const loadInit = () => {
    const sdk = window.GbSdk;
    // Gameball's code: a failure there must not reach the tracker or the loader's caller.
    try { if (sdk && typeof sdk.init === 'function') sdk.init(options); } catch (_) { /* the widget's own */ }
  };
  window.GbLoadInit = loadInit;
  if (document.getElementById(id)) {
    if (window.GbSdk !== undefined) loadInit();
    return;
  }
  const script = document.createElement('script');
  script.id = id;
  script.defer = true;
  script.src = scriptUrl;
  (document.head || document.body).appendChild(script);
}

// Nothing the module calls may throw into it: an exception unwinding through wasm skips the
// Rust code that would release what it holds, and the module traps on its next call. The page
// owns these globals and may replace them with code that throws or returns nonsense (a fake
// clock, a broken polyfill, an error reporter wrapping `console`), so each read below is
// guarded and falls back to the browser's own function, captured as the module loads.
const { parse: parseJson, stringify: toJsonText } = JSON;
const NativePromise = Promise;
// Timers too: a replaced setTimeout that throws or never fires would leave queued events
// until the page's next call (found by a new user, session 7).
const setTimer = setTimeout.bind(globalThis);
const clearTimer = clearTimeout.bind(globalThis);
const perf = globalThis.performance;
const perfNow = perf && perf.now;
const dateNow = Date.now;
let lastMono = 0;

/** `f()` when it returns a finite number, else `fallback()`; never throws. */
function finite(f, fallback) {
  try {
    const value = f();
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  } catch (_) { /* the page's replacement threw */ }
  try { return fallback(); } catch (_) { return NaN; }
}

// The engine's monotonic clock (src/core/clock.rs): `performance.now()` counted from a fixed
// origin, so that it never steps back when `Date.now` does (NTP, the user, a script) and 0
// still reads as "never". Every browser that runs WebAssembly has `performance.now`; the one
// captured as the module loaded is used, so a page's fake timers cannot move it, and it never
// goes back.
export function monoNow() {
  const t = 1e12 + finite(() => perfNow.call(perf), () => NaN);
  if (t > lastMono) lastMono = t; // NaN never is
  return lastMono;
}

// The wall clock: the page's `Date.now` (a script that moves it moves the tracker's wall clock,
// as a system clock step would); when it throws or is not a number, the browser's own.
export function wallNow() {
  const t = finite(() => Date.now(), () => NaN);
  // A time ECMAScript can hold (±8.64e15 ms; before 1970 is not a time a queue was made).
  return t >= 0 && t <= 8.64e15 ? t : finite(() => dateNow.call(Date), () => 0);
}

// 32 random bits for ids and jitter: the browser's CSPRNG, which a page rarely replaces (a
// seeded `Math.random`, as some libraries install, would give two tabs the same ids).
export function random32() {
  // Read from the typed array, never from what a replaced function returns: always a u32.
  const bits = new Uint32Array(1);
  try { crypto.getRandomValues(bits); } catch (_) { /* the page's */ }
  return (bits[0] ^ finite(() => Math.random() * 4294967296, () => 0)) >>> 0;
}

/** A browser page: a `Window` global with a document (not SSR, not a worker). */
export function browserPresent() {
  try {
    return globalThis instanceof Window && globalThis.document != null;
  } catch (_) {
    return false;
  }
}

/** `window.localStorage`, or null where the page may not have it (a `SecurityError`). */
export function localStore() {
  try {
    return window.localStorage;
  } catch (_) {
    return null;
  }
}

export function onLine() {
  try {
    return navigator.onLine !== false;
  } catch (_) {
    return true;
  }
}

/**
 * A rejected Promise that is the outcome of a call whose callback is not a function: the
 * caller meant to pass a callback, so it will not handle the Promise. It is marked handled
 * (no `unhandledrejection` in the page) and the error is logged, so the mistake is seen.
 */
export function rejectHandled(error) {
  const promise = NativePromise.reject(error);
  promise.catch(() => {});
  log('error', '', error);
  return promise;
}

/** Calls `f(...args)`; what it throws is logged as `what` threw, never let into the tracker. */
function callPage(what, f, ...args) {
  try {
    f(...args);
  } catch (thrown) {
    log('error', `${what} threw`, thrown);
  }
}

/** Who waits for each event's outcome, by event id: a callback, or a Promise's settle. */
const waiters = new Map();

/**
 * Registers who waits for event `id`: `callback` (returns undefined) or, when it is not a
 * function, a new Promise, returned, that the outcome settles.
 */
export function wait(id, callback) {
  if (typeof callback === 'function') {
    waiters.set(id, callback);
    return undefined;
  }
  return new NativePromise((resolve, reject) => {
    waiters.set(id, (response, error) => (error ? reject(error) : resolve(response)));
  });
}

/**
 * Event `id`'s one outcome: `error` (a GameballError), or delivered with `status` after
 * `attempts`. Settles its waiter, then tells `onDelivery` (when a function) the report
 * (`eventNames`: JSON text of the names).
 */
export function outcome(id, onDelivery, error, status, attempts, eventNames, customerId) {
  const waiter = waiters.get(id);
  if (waiter) {
    waiters.delete(id);
    callPage('a sendEvent callback', waiter, error ? null : { ok: true, status, attempts, id }, error || null);
  }
  if (typeof onDelivery !== 'function') return;
  callPage('onDelivery', () => {
    const report = { id, ok: !error, eventNames: parseJson(eventNames), customerId };
    if (status !== undefined) report.status = status;
    if (attempts !== undefined) report.attempts = attempts;
    // Its own copy: what the callback does to its error is not seen here.
    if (error) report.error = Object.assign(new GameballError(error.code, error.message), error);
    onDelivery(report);
  });
}

/**
 * `error` as the outcome of a call that was not queued: to `callback` a microtask later, like
 * every other outcome, or as a rejected Promise (returned).
 */
export function failLater(callback, error) {
  if (typeof callback !== 'function') return NativePromise.reject(error);
  NativePromise.resolve().then(() => callPage('a sendEvent callback', callback, null, error));
  return undefined;
}

/** `flush()` calls waiting, by tracker: [resolve, sent before, failed before]. */
const flushes = new Map();

/** `flush()`'s Promise for tracker `id`, which counted `sent` and `failed` so far. */
export function flushWait(id, sent, failed) {
  return new NativePromise((resolve) => {
    if (!flushes.has(id)) flushes.set(id, []);
    flushes.get(id).push([resolve, sent, failed]);
  });
}

/** Resolves tracker `id`'s waiting `flush()` calls with `{ sent, failed, pending }` since each. */
export function settleFlushes(id, sent, failed, pending) {
  const waiting = flushes.get(id) || [];
  flushes.delete(id);
  for (const [resolve, sentBefore, failedBefore] of waiting) {
    resolve({ sent: sent - sentBefore, failed: failed - failedBefore, pending });
  }
}

/** `console[level]` with the tracker's prefix (`debug` lines, warnings); a console that throws is not heard. */
export function log(level, message, value) {
  try {
    console[level](`gameball-tracker:${message ? ` ${message}` : ''}`, ...(value === undefined ? [] : [value]));
  } catch (_) { /* the page's console */ }
}

/**
 * `stats()`: `counts` in the order of the names below, then the count of each code of
 * `dropped` (JSON text of the codes).
 */
export function makeStats(counts, dropped, storage, paused, sender, circuitOpen) {
  const [queued, sent, retried, bytes, resentUnknown, resentUnknownTotal, restored, sentOnExit, heldMs] = counts;
  const byCode = {};
  parseJson(dropped).forEach((code, i) => { byCode[code] = counts[9 + i]; });
  return {
    queued, sent, retried, dropped: byCode, storage, bytes, paused, sender,
    resentUnknown, resentUnknownTotal, restored, sentOnExit, circuitOpen, heldMs,
  };
}

/**
 * A plain object of any realm: no prototype, or an `Object.prototype` (this page's, an
 * iframe's, a worker-made structured clone's), which is the one prototype whose own
 * prototype is null and whose `constructor` is a function named Object.
 */
function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return true;
  if (Object.getPrototypeOf(proto) !== null) return false;
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor');
  return ctor !== undefined && typeof ctor.value === 'function' && ctor.value.name === 'Object';
}

function constructorName(value) {
  try {
    const name = value && value.constructor && value.constructor.name;
    return typeof name === 'string' && name ? name : 'object';
  } catch (_) {
    return 'object';
  }
}

/** What a message calls a value that has the wrong type. */
export function typeName(value) {
  if (value === null) return 'null';
  try {
    if (Array.isArray(value)) return 'array';
  } catch (_) {
    return 'object'; // a revoked proxy
  }
  return typeof value;
}

/**
 * Every string key `value` answers to, own or inherited, enumerable or not (the secret-key
 * guard must see `Object.create({ secretKey })` and a non-enumerable getter too), as JSON
 * text, `!` when reading them throws, or `#u` and the first key holding a lone surrogate (the
 * rule of src/core/text.rs). The walk reads every object of the prototype chain; a chain
 * longer than 64 objects (the root prototype not counted) is `#p` (refused: its keys were not
 * all read).
 */
export function ownKeys(value) {
  try {
    const keys = new Set();
    // Every object of the chain, a null-prototype ancestor and the root prototype included
    // (its keys, `toString` and the like, are never a credential's). A proxy's
    // getPrototypeOf can make the chain endless: past 64 objects, `#p` (refused).
    for (let o = value, n = 0; o !== null; o = Object.getPrototypeOf(o), n++) {
      if (n === 65) return '#p';
      for (const key of Reflect.ownKeys(o)) if (typeof key === 'string') keys.add(key);
    }
    const all = [...keys];
    const lone = all.find((k) => !wellFormed(k));
    return lone === undefined ? toJsonText(all) : '#u' + shown(lone);
  } catch (_) {
    return '!';
  }
}

/**
 * Stops a walk. `code` is what crosses into wasm instead of JSON text (JSON text never starts
 * with `!` or `#`; `from_glue` in src/web/convert.rs reads it):
 * - `'!' + message`: a value only JavaScript can see is refused, naming the field;
 * - `'#b' + path`: the walk passed its byte budget at `path`;
 * - `'#d' + paths`: an object or array is nested deeper than the walk's depth; `paths` is the
 *   JSON array of the paths of the objects and arrays it went through, outermost first (the
 *   core names the one at its own limit, not the one 32 levels down);
 * - `'#u' + path`: the string (or key) at `path` holds a lone surrogate (src/core/text.rs).
 * The budget and depth are coarse guards passed in from Rust, far past the limits the core
 * checks and words (src/core/event.rs); the walk knows no limit itself.
 */
class Stop {
  constructor(code) {
    this.code = code;
  }
}

function refuse(message) {
  return new Stop('!' + message);
}

// One rule for every string the page hands in (src/core/text.rs): a lone UTF-16 surrogate
// is refused before wasm-bindgen's conversion could turn it into U+FFFD. With the `u` flag
// the class matches a surrogate only when it is not half of a pair.
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const LONE_SURROGATES = /[\ud800-\udfff]/gu;

/** Whether `s` is well-formed UTF-16 (`String.prototype.isWellFormed`, ES2024, where present). */
export function wellFormed(s) {
  return typeof s.isWellFormed === 'function' ? s.isWellFormed() : !LONE_SURROGATE.test(s);
}

/** `path` with its lone surrogates written as `\uXXXX`, so a message can show where it is. */
function shown(path) {
  return path.replace(LONE_SURROGATES, (c) => '\\u' + c.charCodeAt(0).toString(16));
}

/** Stops the walk at `path` when `s` holds a lone surrogate (`#u`, worded by the core). */
function checkText(s, path) {
  if (!wellFormed(s)) throw new Stop('#u' + shown(path));
}

/** Bytes of `s` in UTF-8, as the core counts them. */
function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

function read(obj, key, path) {
  try {
    return obj[key];
  } catch (_) {
    throw refuse(`reading ${path} threw an exception`);
  }
}

/**
 * One walk over a JS value tree to JSON text. It refuses, naming the field, what only
 * JavaScript can see: functions, symbols, BigInt, NaN, ±Infinity, `undefined` in arrays,
 * class instances, cycles (it keeps the objects above the current one) and throwing getters;
 * members whose value is `undefined` are left out, as `JSON.stringify` leaves them out. It
 * stops (see `Stop`) when it has counted `bytes` bytes, before copying a large value, or
 * below `depth` levels, so a 10 MB value is never copied and a deep one never exhausts the
 * stack.
 */
class Walk {
  constructor(bytes, depth) {
    this.bytes = bytes;
    this.depth = depth;
    this.ancestors = [];
    this.paths = [];
  }

  spend(bytes, path) {
    this.bytes -= bytes;
    if (this.bytes < 0) throw new Stop('#b' + path);
  }

  value(value, path, depth) {
    switch (typeof value) {
      case 'string': {
        checkText(value, path);
        this.spend(utf8Length(value) + 2, path);
        return toJsonText(value);
      }
      case 'number': {
        if (!Number.isFinite(value)) {
          throw refuse(`${path} is ${Number.isNaN(value) ? 'NaN' : '±Infinity'}, which is not a JSON number`);
        }
        const text = String(value);
        this.spend(text.length, path);
        return text;
      }
      case 'boolean':
        this.spend(5, path);
        return value ? 'true' : 'false';
      case 'undefined':
        throw refuse(`${path} is undefined, which JSON cannot carry`);
      case 'bigint':
        throw refuse(`${path} is a BigInt, which JSON cannot carry; send it as a string`);
      case 'symbol':
      case 'function':
        throw refuse(`${path} is a ${typeof value}, which JSON cannot carry`);
      default:
    }
    if (value === null) {
      this.spend(4, path);
      return 'null';
    }
    if (depth > this.depth) throw new Stop('#d' + toJsonText(this.paths.concat(path)));
    if (this.ancestors.includes(value)) {
      throw refuse(`${path} refers back to an object that contains it (a cycle)`);
    }
    this.ancestors.push(value);
    this.paths.push(path);
    let text;
    if (Array.isArray(value)) {
      text = this.array(value, path, depth);
    } else if (isPlainObject(value)) {
      text = this.object(value, path, depth);
    } else {
      const kind = constructorName(value);
      const hint = kind === 'Date' ? '; send date.toISOString()' : '';
      throw refuse(`${path} is a ${kind}; metadata takes only strings, finite numbers, booleans, null, arrays and plain objects${hint}`);
    }
    this.ancestors.pop();
    this.paths.pop();
    return text;
  }

  array(array, path, depth) {
    const len = array.length;
    this.spend(2 + len, path);
    const items = [];
    for (let i = 0; i < len; i++) {
      const at = `${path}[${i}]`;
      const item = read(array, i, at);
      if (item === undefined) {
        throw refuse(`${at} is undefined (or a hole), which JSON cannot carry inside an array`);
      }
      items.push(this.value(item, at, depth + 1));
    }
    return `[${items.join(',')}]`;
  }

  object(obj, path, depth) {
    const keys = Object.keys(obj);
    // JSON.stringify skips a symbol key; the contract drops nothing silently.
    if (Object.getOwnPropertySymbols(obj).some((k) => Object.prototype.propertyIsEnumerable.call(obj, k))) {
      throw refuse(`${path} has a symbol key, which JSON cannot carry`);
    }
    this.spend(2, path);
    const members = [];
    for (const key of keys) {
      const at = `${path}.${key}`;
      const item = read(obj, key, at);
      if (item !== undefined) {
        checkText(key, at);
        this.spend(utf8Length(key) + 4, at);
        members.push(`${toJsonText(key)}:${this.value(item, at, depth + 1)}`);
      }
    }
    return `{${members.join(',')}}`;
  }
}

/** Runs `body`, turning a stop (or anything a proxy throws) into its code (see `Stop`). */
function stopping(body, what) {
  try {
    return body();
  } catch (e) {
    return e instanceof Stop ? e.code : `!reading ${what} threw an exception`;
  }
}

/**
 * `value` (found under `path`, an object at level 1) as JSON text, or a `Stop` code. One
 * string crosses into wasm either way.
 */
export function toJson(value, path, bytes, depth) {
  return stopping(() => new Walk(bytes, depth).value(value, path, 1), path);
}

function optionalString(event, key) {
  const value = read(event, key, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw refuse(`${key} must be a string, got ${typeName(value)}`);
  checkText(value, key);
  return value;
}

/**
 * The argument of `sendEvent` as the JSON text `{"ev":{name:metadata,...},"c":…,"e":…,"m":…}`
 * (customer id, email, mobile where given), or a `Stop` code. How many names a call may have
 * is the core's to say; the byte budget counts the names too.
 */
export function readEvent(event, bytes, depth) {
  return stopping(() => {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw refuse("sendEvent needs an object such as { events: { add_to_cart: { product_id: '1' } } }");
    }
    const events = read(event, 'events', 'events');
    if (typeof events !== 'object' || events === null || Array.isArray(events)) {
      throw refuse(`events must be an object of event name → metadata, got ${typeName(events)}`);
    }
    const walk = new Walk(bytes, depth);
    walk.spend(2, 'events');
    const members = [];
    for (const name of Object.keys(events)) {
      const path = `events.${name}`;
      const metadata = read(events, name, path);
      if (metadata === undefined) {
        throw refuse(`${path} is undefined; use {} for an event without metadata`);
      }
      checkText(name, path);
      walk.spend(utf8Length(name) + 4, path);
      members.push(`${toJsonText(name)}:${walk.value(metadata, path, 1)}`);
    }
    let text = `{"ev":{${members.join(',')}}`;
    for (const [key, short] of [['customerId', 'c'], ['email', 'e'], ['mobile', 'm']]) {
      const value = optionalString(event, key);
      if (value !== undefined) text += `,"${short}":${toJsonText(value)}`;
    }
    return text + '}';
  }, 'the event');
}

// ---- The tabs and the browser's callbacks (src/web/tabs.rs) ----
//
// The browser APIs that call a tracker back, kept in JavaScript because each is a handful of
// calls with callbacks and would cost more as web-sys bindings and wasm-bindgen closures: the
// sender election (Web Locks, or a localStorage lease where they are missing), the message
// channel (BroadcastChannel, or storage events), the page's lifecycle and storage events, the
// tracker's timers and its requests. Everything they say goes to the module through one
// function (`setDispatch`, src/web/tracker.rs), with a kind and the tracker's number. (One
// file with the rest of the glue: one download, one gzip stream.)

const LEASE_MS = 3000;
const RENEW_MS = 1000;

/**
 * Calls `onRole(true, waited)` when this tab becomes the sender for `name`, and
 * `onRole(false, false)` if it loses the role (only the lease, kept under `leaseKey` where
 * Web Locks are missing, can be lost). Returns the function that gives the role up.
 */
function electSender(name, leaseKey, tabId, onRole) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks || typeof locks.request !== 'function') return leaseSender(leaseKey, tabId, onRole);
  // One bid for the lock: `stop` gives up the lock or the place in its queue.
  const bid = () => {
    let release;
    const held = new NativePromise((resolve) => { release = resolve; });
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    const state = {
      sender: false,
      done: false,
      stop() {
        state.done = true;
        release();
        try { if (abort) abort.abort(); } catch (_) { /* the lock goes with the page anyway */ }
      },
    };
    const grant = (waited) => {
      if (state.done) return undefined;
      state.sender = true;
      onRole(true, waited);
      return held;
    };
    locks.request(name, { ifAvailable: true }, (lock) => {
      if (lock) return grant(false);
      if (state.done) return undefined;
      // Another tab sends: queue for the role, held for this bid's lifetime once granted.
      locks.request(name, abort ? { signal: abort.signal } : {}, () => grant(true)).catch(() => {});
      return undefined;
    }).catch(() => {});
    return state;
  };
  let current = bid();
  return {
    release: () => current.stop(),
    // Into the back/forward cache: the role goes to another tab now, and this page follows
    // from now on (WebKit runs a restored page's due timers before its pageshow). Chromium
    // keeps a cached page's lock (no tab sent until it came back); WebKit drops it without
    // telling the page (two senders after Back). A new user's findings.
    leave() {
      const was = current.sender;
      current.stop();
      current.sender = false;
      if (was) onRole(false, false);
    },
    // Back from it: a new bid for the lock.
    rejoin() {
      current.stop();
      current = bid();
    },
  };
}

function leaseSender(key, tabId, onRole) {
  let storage = null;
  try { storage = globalThis.localStorage; } catch (_) { storage = null; }
  if (!storage) {
    // Nothing is shared without storage: this tab sends its own events.
    onRole(true, false);
    return { release() {}, leave() {}, rejoin() {} };
  }
  let sender = false;
  let claimed = false;
  // The holder writes `<tabId> <beat>`, a new beat at every renewal; another tab judges the
  // lease live while its value keeps changing, timed by its own monotonic clock. No wall time
  // crosses tabs: a tab whose Date.now jumped forward would otherwise take a live sender's
  // role (two senders), and one whose clock is behind would wait out a dead sender's lease
  // for as long as the difference.
  let beat = 0;
  let seen = null;
  let seenAt = 0;
  const read = () => {
    try {
      return storage.getItem(key) || '';
    } catch (_) {
      return '';
    }
  };
  // A holder that could not renew within LEASE_MS (a long task, a throttled or frozen page)
  // has lost its lease in the others' eyes, and may yet read its own stale value: other
  // documents' writes reach this one as queued tasks, which may run after this timer's. It
  // gives the role up and claims it again as a newcomer would, on a second look.
  let lastTick = performance.now();
  let lapsed = false;
  const tick = () => {
    const value = read();
    const now = performance.now();
    if (sender && now - lastTick >= LEASE_MS) lapsed = true;
    lastTick = now;
    if (value !== seen) { seen = value; seenAt = now; }
    const holder = value.split(' ')[0];
    if (lapsed || (holder && holder !== tabId && now - seenAt < LEASE_MS)) {
      claimed = lapsed = false;
      if (sender) { sender = false; onRole(false, false); }
      if (holder !== tabId) return;
    }
    beat += 1;
    try { storage.setItem(key, tabId + ' ' + beat); } catch (_) { /* full */ }
    // The role is taken on the second look, once no other tab overwrote the claim.
    if (claimed && !sender) { sender = true; onRole(true, true); }
    claimed = true;
  };
  const giveUp = () => {
    if (read().split(' ')[0] === tabId) {
      try { storage.removeItem(key); } catch (_) { /* gone anyway */ }
    }
  };
  tick();
  const timer = setInterval(tick, RENEW_MS);
  // A tab leaving hands the lease on at once; only a crash leaves it to expire. A page
  // restored from the back/forward cache looks at once (before it sends): it finds another
  // holder and follows, or takes the lease again.
  addEventListener('pagehide', giveUp);
  return {
    release() {
      clearInterval(timer);
      removeEventListener('pagehide', giveUp);
      giveUp();
    },
    // Into the back/forward cache (the lease is given up as on any pagehide): follows from
    // now on, and takes the lease again only as a newcomer would, on a second look.
    leave() {
      claimed = false;
      if (sender) { sender = false; onRole(false, false); }
    },
    rejoin: tick,
  };
}

/**
 * Whether `fetch` here finishes a request after its page is gone (`keepalive`: Chromium 66,
 * Safari 13, Firefox 133). Without it a request made as the page leaves dies with the page.
 */
/** The browser's URL parser, as the module loaded. */
const NativeURL = URL;

/**
 * Whether this browser parses `url` (a host it refuses, such as `http://[::1`, a port past
 * 65535, would fail every request before it left; src/core/config.rs checks the rest).
 */
export function parsesAsUrl(url) {
  try {
    new NativeURL(url);
    return true;
  } catch (_) {
    return false;
  }
}

export function keepaliveSupported() {
  return typeof Request === 'function' && 'keepalive' in Request.prototype;
}

/** Whether tabs talk over `BroadcastChannel` (in memory) rather than storage events. */
export function broadcastChannelSupported() {
  return typeof BroadcastChannel === 'function';
}

/**
 * A channel to the other tabs: `{ post(text), close() }`; where BroadcastChannel is missing,
 * storage events of `fallbackKey` carry the messages.
 */
function openChannel(name, fallbackKey, onMessage) {
  if (typeof BroadcastChannel === 'function') {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (event) => {
      if (typeof event.data === 'string') onMessage(event.data);
    };
    return {
      post(text) { try { channel.postMessage(text); } catch (_) { /* closed */ } },
      close() { channel.close(); },
    };
  }
  // Storage events carry the value written: write and remove at once, the others hear it.
  const key = fallbackKey;
  let n = 0;
  const listener = (event) => {
    if (event.key === key && event.newValue) {
      onMessage(event.newValue.slice(event.newValue.indexOf(' ') + 1));
    }
  };
  addEventListener('storage', listener);
  return {
    post(text) {
      try {
        localStorage.setItem(key, `${n++} ${text}`);
        localStorage.removeItem(key);
      } catch (_) { /* storage refused: no other tab can share it either */ }
    },
    close() { removeEventListener('storage', listener); },
  };
}

/** What a tracker hears, as the first argument of `dispatch` (src/web/tabs.rs `PageEvent`). */
const ROLE = 0;
const MESSAGE = 1;
const STORAGE = 2;
const HIDDEN = 3;
const SHOWN = 4;
const ONLINE = 5;
const TIMER = 6;
const ANSWER = 7;

/** The module's one entry for every callback: `dispatch(kind, tracker, a, b, c, d, e)`. */
let dispatch = () => {};

/** Set once, before the first tracker starts. */
export function setDispatch(f) {
  dispatch = f;
}

/** A tracker's pending timers, by `tracker * 2 + slot`. */
const timers = new Map();

/**
 * Arms timer `slot` of tracker `id` to fire TIMER (slot) in `ms` milliseconds, replacing the
 * one it had; a negative `ms` only cancels it. Returns false when `setTimeout`
 * threw: the next call or answer polls again.
 */
export function arm(id, slot, ms) {
  const key = id * 2 + slot;
  try {
    clearTimer(timers.get(key));
    timers.delete(key);
    if (ms >= 0) {
      timers.set(key, setTimer(() => {
        timers.delete(key);
        dispatch(TIMER, id, slot);
      }, ms));
    }
    return true;
  } catch (_) {
    return false;
  }
}

/** Times this page came back from the back/forward cache (`pageshow` with `persisted`). */
let restores = 0;
try {
  addEventListener('pageshow', (event) => { if (event.persisted) restores += 1; });
} catch (_) { /* not a page: nothing is restored */ }

/** How long a request may take before it is aborted (it is then retried). */
const REQUEST_TIMEOUT_MS = 10000;
/** Bytes of an error body read (Gameball's are a few hundred); the rest is not downloaded. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

/** What a failed request says, for debug logs; a thrown non-Error too. */
function reason(error) {
  try {
    const text = toJsonText(error);
    if (typeof text === 'string' && text !== '{}') return text;
  } catch (_) { /* a cycle, a BigInt */ }
  if (typeof error === 'string') return error;
  return error instanceof Error ? error.message : 'network error';
}

/**
 * POSTs `body` to `url` with `headers` (JSON text of [name, value, ...]) for tracker `id`, and reports
 * ANSWER (token, status, body, Retry-After, X-Request-Id) once the answer is in, or ANSWER
 * (token, undefined, reason) when there is none (offline, CORS, an ad blocker, aborted after
 * REQUEST_TIMEOUT_MS, body read included). A redirect is never followed (it could carry the
 * events to another server): the answer is an opaque one of status 0, retried like a server
 * error. With `keepalive` the browser finishes the request even if the page goes away. Only
 * an error's body is read, and only its start (`readInto`).
 */
export function send(id, token, url, headers, body, keepalive) {
  // Settles once: an answer, a failure, or the timeout, whichever comes first. The timeout
  // answers by itself rather than waiting for the aborted fetch to reject: WebKit never
  // rejected a fetch given a `Request` object once that object was collected, so a hung
  // server held its customer's events for ever (found by a new user, session 7). An answer
  // whose status had arrived is that answer, with the part of its body read by then (as when
  // the abort cuts the body's read): the server has spoken.
  let settled = false;
  let timer;
  let answered = null; // [status, Retry-After, X-Request-Id] once the status is in
  const chunks = [];
  const restoresAtStart = restores;
  const settle = (...answer) => {
    if (settled) return;
    settled = true;
    try { clearTimer(timer); } catch (_) { /* nothing armed */ }
    dispatch(ANSWER, id, token, ...answer);
  };
  let controller;
  try {
    controller = new AbortController();
    timer = setTimer(() => {
      try { controller.abort(); } catch (_) { /* nothing to abort */ }
      // A request the page took into the back/forward cache is the engine's to settle (it
      // waits for an answer, then decides: src/core/engine/lifecycle.rs `handle_page_shown`);
      // a timeout of this page's making is no news of it (WebKit: a duplicate, session 7).
      if (restores !== restoresAtStart) return;
      if (answered) settle(answered[0], bodyText(answered[0], chunks), answered[1], answered[2]);
      else settle(undefined, 'timed out');
    }, REQUEST_TIMEOUT_MS);
  } catch (error) {
    // A page without a working AbortController or setTimeout: no timeout, still an answer.
  }
  (async () => {
    const init = { method: 'POST', mode: 'cors', headers: new Headers(), body, redirect: 'manual' };
    if (controller) init.signal = controller.signal;
    const list = parseJson(headers);
    for (let i = 0; i + 1 < list.length; i += 2) init.headers.append(list[i], list[i + 1]);
    if (keepalive) init.keepalive = true;
    const response = await fetch(url, init);
    const { status } = response;
    answered = [status, response.headers.get('Retry-After'), response.headers.get('X-Request-Id')];
    // A 2xx body is read too (its start), though only an error's is used: Chromium keeps an
    // unread body's request open until the Response is collected, and after about 175 such
    // requests a page's next fetch fails before it reaches the network ("Failed to fetch"):
    // seen as a drain stuck at 875 of 1,000 events in `npm run bench`.
    await readInto(chunks, response, MAX_ERROR_BODY_BYTES);
    return [status, bodyText(status, chunks), answered[1], answered[2]];
  })().then(
    (answer) => settle(...answer),
    (error) => settle(undefined, reason(error)),
  );
}

/**
 * Reads at most `limit` bytes of `response`'s body into `chunks`, then cancels the rest: an
 * error body that matters is small, and a proxy's 50 MB page must not be copied into the
 * module. A body cut off by the network leaves what arrived; nothing here rejects.
 */
async function readInto(chunks, response, limit) {
  let size = 0;
  try {
    const reader = response.body && response.body.getReader();
    while (reader && size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value.subarray(0, limit - size));
      size += chunks[chunks.length - 1].length;
    }
    if (reader && size >= limit) reader.cancel().catch(() => {});
  } catch (_) { /* cut off: what arrived */ }
}

/** The text the module gets for an answer of `status` whose body start is `chunks`: an error's only. */
function bodyText(status, chunks) {
  if (status >= 200 && status < 300) return '';
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return new TextDecoder().decode(bytes);
}

/**
 * Ties tracker `id` to its page and, when `shared` (localStorage works), to the other tabs:
 * everything it hears goes to `dispatch(kind, id, a, b)`:
 * - ROLE (sender, waited): the sender election (Web Locks, or the lease under `leaseKey`);
 * - MESSAGE (text): a message from another tab (BroadcastChannel, or storage events of
 *   `fallbackKey`);
 * - STORAGE (key, newValue): another tab changed storage under `prefix` (key null: cleared);
 * - HIDDEN (leaving): the page is hidden, `leaving` on `pagehide`;
 * - SHOWN (restored): the page is visible again, `restored` from the back/forward cache;
 * - ONLINE (online): the browser's network state changed.
 * Returns whether the election started (false: the tab sends alone); `post` and `unlink`
 * then act on what it opened. Nothing here throws into the tracker.
 */
/** What `linkPage` opened, by tracker: `{ post(text), close() }`. */
const links = new Map();

export function linkPage(id, prefix, leaseKey, fallbackKey, tabId, shared) {
  const tell = (kind, a, b) => dispatch(kind, id, a, b);
  const stops = [];
  const on = (target, name, listener) => {
    target.addEventListener(name, listener);
    stops.push(() => target.removeEventListener(name, listener));
  };
  on(window, 'online', () => tell(ONLINE, true));
  on(window, 'offline', () => tell(ONLINE, false));
  let election = null;
  on(window, 'pagehide', (event) => {
    tell(HIDDEN, true);
    if (event.persisted && election) election.leave();
  });
  on(window, 'pageshow', (event) => {
    if (!event.persisted) return;
    if (election) election.rejoin();
    tell(SHOWN, true);
  });
  on(document, 'visibilitychange', () => {
    if (document.visibilityState === 'hidden') tell(HIDDEN, false);
    else tell(SHOWN, false);
  });
  let channel = null;
  if (shared) {
    on(window, 'storage', (event) => {
      let local = null;
      try { local = globalThis.localStorage; } catch (_) { return; }
      if (event.storageArea !== local) return;
      if (event.key === null || event.key.startsWith(prefix)) tell(STORAGE, event.key, event.newValue);
    });
    try { channel = openChannel(prefix, fallbackKey, (text) => tell(MESSAGE, text)); } catch (_) { /* alone */ }
    try { election = electSender(prefix, leaseKey, tabId, (sender, waited) => tell(ROLE, sender, waited)); } catch (_) { /* alone */ }
  }
  links.set(id, {
    post(text) { if (channel) channel.post(text); },
    close() {
      if (election) election.release();
      for (const stop of stops) stop();
      if (channel) channel.close();
    },
  });
  return election !== null;
}

/** Sends `text` to the other tabs from tracker `id`. */
export function post(id, text) {
  const link = links.get(id);
  if (link) link.post(text);
}

/** Gives up tracker `id`'s sender role and stops its listeners. */
export function unlink(id) {
  const link = links.get(id);
  links.delete(id);
  try { if (link) link.close(); } catch (_) { /* what is left is the page's */ }
}
