// The package's entry, `gameball_tracker.js` (scripts/finish-pkg.mjs copies it into pkg/ and
// moves wasm-bindgen's module to `gameball_tracker_wasm.js`). Same exports as wasm-bindgen's
// module, plus two guarantees it cannot give:
//
// - Server-side rendering (Next.js, Nuxt, plain Node) and workers: importing never throws,
//   `init()` resolves without fetching the wasm, `customerWidget` throws and `sendEvent`
//   rejects (or calls back) with a GameballError `unsupported_environment`.
// - In a browser, calls made while the module loads (before `init()` has settled, or with no
//   `init()` at all: the first such call starts loading it, a microtask later, so an `init()`
//   in the same task still picks the path) are kept in order, at most LIMIT of them, and made
//   once it is ready; each then gets its usual outcome. `customerWidget` (and `voucherify`)
//   returns a stand-in
//   `Tracker` whose calls wait the same way and then go to the real tracker. If the module
//   fails to load, every kept call gets a `not_initialized` error naming the cause.
// - A `Tracker`'s methods work unbound (`const send = tracker.sendEvent`), and a handle that
//   was freed (`free()`, `[Symbol.dispose]()`, a `using` block) or not made by
//   `customerWidget` answers like a destroyed tracker instead of throwing wasm-bindgen's
//   "null pointer passed to rust".
import * as wasm from './gameball_tracker_wasm.js';

const { GameballError, Tracker } = wasm;
export { GameballError, Tracker };
// The minifier renames classes; error reporters and logs read `constructor.name`.
const named = (c, name) => Object.defineProperty(c, 'name', { value: name });
named(GameballError, 'GameballError');
named(Tracker, 'Tracker');

/** Captured as the module loads: a page's replacement of `Promise` does not reach the tracker. */
const NativePromise = Promise;

/** console.error, unless the page's console throws (nothing here throws into the caller). */
const logError = (...args) => { try { console.error(...args); } catch (_) { /* the page's */ } };

const inBrowser = () => typeof window !== 'undefined' && typeof document !== 'undefined';

/** Calls kept while the module loads; one more gets `not_initialized` and nothing kept is lost. */
const LIMIT = 1000;
let ready = false;    // instantiated, and the kept calls made
let loading = null;   // init()'s promise, from the first call on (reset when loading failed)
let kept = [];        // the calls made while loading, oldest first: each makes its call again
let keptEvents = 0;   // sendEvent calls among them: pending() before ready
let keptWidget = false; // a customerWidget call among them: sendEvent has a tracker to wait for
let down = null;      // while the kept calls are answered after a failed load: that error
let bad = null;       // the error of the last customerWidget when it was kept and then failed

const unsupported = () => new GameballError(
  'unsupported_environment',
  'gameball-tracker needs a browser page (window and localStorage); this looks like server-side rendering or a worker',
);
const notReady = (message) => new GameballError('not_initialized', message);

/**
 * Reports `error` the way sendEvent reports every outcome: asynchronously, once. A callback
 * that is not a function gets a Promise marked handled (its caller will not handle it) and
 * the error logged, as the module does (glue.js `rejectHandled`).
 */
function fail(error, callback) {
  if (typeof callback === 'function') {
    NativePromise.resolve().then(() => {
      try { callback(null, error); } catch (thrown) { logError('gameball-tracker: a sendEvent callback threw', thrown); }
    });
    return undefined;
  }
  const promise = NativePromise.reject(error);
  if (callback !== undefined && callback !== null) {
    promise.catch(() => {});
    logError('gameball-tracker:', error);
  }
  return promise;
}

/** sendEvent's refusal of a second argument that is neither a function nor absent. */
const badCallback = (callback) => callback !== undefined && callback !== null && typeof callback !== 'function'
  && new GameballError('invalid_event', `the second argument of sendEvent must be a callback function, got ${callback === null ? 'null' : typeof callback}`);

/**
 * Keeps a call until the module is ready (starting to load it), when `again()` makes it.
 * With `promised`, returns a Promise of again()'s outcome. Throws past LIMIT.
 */
function keep(again, promised) {
  if (kept.length >= LIMIT) {
    throw notReady(`gameball-tracker: ${LIMIT} calls already wait for the module to load; this one is refused`);
  }
  let call = again;
  const promise = promised ? new NativePromise((resolve, reject) => {
    call = () => { try { resolve(again()); } catch (e) { reject(e); } };
  }) : undefined;
  kept.push(call);
  if (!loading) NativePromise.resolve().then(() => { if (!loading) init().catch(() => {}); });
  return promise;
}

/** keep() for a call whose outcome goes to `callback` or a returned Promise. */
function keepOutcome(again, callback, isEvent) {
  try {
    const promise = keep(again, typeof callback !== 'function');
    keptEvents += isEvent;
    return promise;
  } catch (e) {
    return fail(e, callback);
  }
}

/** Makes the kept calls, in order: on the ready module, or (with `error`) answered by it. */
function replay(error) {
  const calls = kept;
  kept = [];
  keptEvents = 0;
  keptWidget = false;
  down = error;
  for (const call of calls) {
    try { call(); } catch (e) { logError(e); }
  }
  down = null;
}

/** Instantiates the wasm module once; resolves without doing anything outside a browser. */
export default async function init(moduleOrPath) {
  if (!inBrowser()) return undefined;
  loading ||= wasm.default(moduleOrPath).then((output) => {
    ready = true;
    replay(null);
    return output;
  }, (e) => {
    loading = null;
    replay(notReady(`gameball-tracker: the module did not load (${e?.message ?? e}); this call was not made`));
    throw e;
  });
  return loading;
}

/** Synchronous instantiation from bytes or a compiled module; does nothing outside a browser. */
export function initSync(module) {
  if (!inBrowser()) return undefined;
  const output = wasm.initSync(module);
  if (!ready) {
    ready = true;
    loading = NativePromise.resolve(output);
    replay(null);
  }
  return output;
}

export function customerWidget(config) {
  if (!inBrowser()) throw unsupported();
  if (down) throw down;
  if (ready) {
    const tracker = adopt(wasm.customerWidget(config));
    bad = null;
    return tracker;
  }
  const handle = keptFactory(() => customerWidget(config), (e) => { bad = e; });
  keptWidget = true;
  return handle;
}

/**
 * Voucherify's factory, kept while the module loads as customerWidget is: a stand-in handle
 * whose calls wait for it. Its failure reaches only its own handle (the module-level
 * sendEvent stays Gameball's and never waits for it).
 */
export function voucherify(config) {
  if (!inBrowser()) throw unsupported();
  if (down) throw down;
  if (ready) return adopt(wasm.voucherify(config));
  return keptFactory(() => voucherify(config), () => {});
}

/** A stand-in Tracker for a factory call kept until the module is ready (`failed` hears its error). */
function keptFactory(make, failed) {
  const handle = bind(new KeptTracker());
  keep(() => {
    try {
      handle.t = make();
    } catch (e) {
      handle.t = e;
      failed(e);
      logError(e);
    }
  });
  return handle;
}

export function sendEvent(event, callback) {
  if (!inBrowser()) return fail(unsupported(), callback);
  const refused = !ready && badCallback(callback);
  if (refused) return fail(refused, callback);
  const error = down || (ready && bad);
  if (error) return fail(error, callback);
  if (ready) return wasm.sendEvent(event, callback);
  if (!keptWidget) return fail(notReady('gameball-tracker: call customerWidget(config) before sendEvent'), callback);
  return keepOutcome(() => sendEvent(event, callback), callback, 1);
}

/** What stats() answers for a tracker that does not exist (yet): `queued` events in memory. */
const noStats = (queued) => ({
  queued, sent: 0, retried: 0, dropped: {}, storage: 'memory', bytes: 0, paused: false,
  sender: false, resentUnknown: 0, resentUnknownTotal: 0, restored: 0, sentOnExit: 0, circuitOpen: false,
  heldMs: 0,
});

/** Tracker's methods by name (wasm-bindgen's, before the guard below wraps them). */
const methods = new Map();
for (const name of Reflect.ownKeys(Tracker.prototype)) {
  if (name !== 'constructor' && typeof Tracker.prototype[name] === 'function') methods.set(name, Tracker.prototype[name]);
}
/** Handles customerWidget returned and not freed: the only ones whose wasm side exists. */
const live = new WeakSet();
const gone = () => notReady('gameball-tracker: this Tracker handle was freed (free(), [Symbol.dispose]() or a using block) or was not made by customerWidget; call customerWidget again');

/** What a method of a freed (or foreign) handle answers: what a destroyed tracker's would. */
function dead(name, args) {
  if (name === 'sendEvent') return fail(badCallback(args[1]) || gone(), args[1]);
  if (name === 'flush') return NativePromise.resolve({ sent: 0, failed: 0, pending: 0 });
  if (name === 'pending') return 0;
  if (name === 'stats') return noStats(0);
  if (name === 'setCustomer') return gone();
  return undefined;
}

for (const [name, method] of methods) {
  // free() and [Symbol.dispose]() end the handle's use like destroy(); the wasm side goes
  // when the handle is garbage-collected (wasm-bindgen's FinalizationRegistry), so a later
  // call never reaches a freed pointer.
  const freeing = name === 'free' || name === Symbol.dispose;
  Tracker.prototype[name] = freeing
    ? function () { if (live.delete(this)) methods.get('destroy').call(this); }
    : function (...args) { return live.has(this) ? method.apply(this, args) : dead(name, args); };
}

/** Gives `handle` its own bound methods, so that `const send = tracker.sendEvent` works. */
function bind(handle) {
  for (const name of methods.keys()) {
    Object.defineProperty(handle, name, { value: handle[name].bind(handle), writable: true, configurable: true });
  }
  return handle;
}

/** A handle the module made: known live, methods bound. */
function adopt(tracker) {
  live.add(tracker);
  return bind(tracker);
}

/**
 * What customerWidget returns while the module loads: an `instanceof Tracker` with Tracker's
 * methods. Until its customerWidget call is made they keep their calls (pending() and
 * stats() answer from the kept sendEvent calls); then they go to the real tracker (`t`), or,
 * when that call failed, answer with its error: sendEvent and flush report it, setCustomer
 * returns it, pending() is 0, logout and destroy do nothing.
 */
class KeptTracker {}
named(KeptTracker, 'Tracker');
Object.setPrototypeOf(KeptTracker.prototype, Tracker.prototype);
for (const name of Reflect.ownKeys(Tracker.prototype)) {
  if (name === 'constructor') continue;
  KeptTracker.prototype[name] = function (...args) {
    if (!(this instanceof KeptTracker)) return dead(name, args);
    const { t } = this;
    if (name === 'sendEvent' && !(t instanceof Tracker) && badCallback(args[1])) return fail(badCallback(args[1]), args[1]);
    if (t instanceof Tracker) return t[name](...args);
    const queued = t ? 0 : keptEvents;
    if (name === 'pending') return queued;
    if (name === 'stats') return noStats(queued);
    const outcome = name === 'sendEvent' || name === 'flush';
    if (t) return outcome ? fail(t, args[1]) : name === 'setCustomer' ? t : undefined;
    if (outcome) return keepOutcome(() => this[name](...args), args[1], name === 'sendEvent');
    try {
      // setCustomer's answer to an unusable argument can only be logged once it is made.
      keep(() => { const error = this[name](...args); if (error) logError(error); });
    } catch (e) {
      logError(e);
      return e;
    }
    return undefined;
  };
}
