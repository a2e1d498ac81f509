// The browser APIs that call a tracker back, kept in JavaScript because each is a handful of
// calls with callbacks and would cost more as web-sys bindings and wasm-bindgen closures: the
// sender election (Web Locks, or a localStorage lease where they are missing), the message
// channel (BroadcastChannel, or storage events), the page's lifecycle and storage events, the
// tracker's timers and its requests. Everything they say goes to the module through one
// function (`setDispatch`, src/web/tracker.rs), with a kind and the tracker's number.

const LEASE_MS = 3000;
const RENEW_MS = 1000;

/**
 * Calls `onRole(true, waited)` when this tab becomes the sender for `name`, and
 * `onRole(false, false)` if it loses the role (only the lease, kept under `leaseKey` where
 * Web Locks are missing, can be lost). Returns the function that gives the role up.
 */
function electSender(name, leaseKey, tabId, onRole) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (locks && typeof locks.request === 'function') {
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    let done = false;
    const grant = (waited) => {
      if (done) return undefined;
      onRole(true, waited);
      return held;
    };
    locks.request(name, { ifAvailable: true }, (lock) => {
      if (lock) return grant(false);
      // Another tab sends: queue for the role, held for this tab's lifetime once granted.
      locks.request(name, () => grant(true)).catch(() => {});
      return undefined;
    }).catch(() => {});
    return () => { done = true; release(); };
  }
  return leaseSender(leaseKey, tabId, onRole);
}

function leaseSender(key, tabId, onRole) {
  let storage = null;
  try { storage = globalThis.localStorage; } catch (_) { storage = null; }
  if (!storage) {
    // Nothing is shared without storage: this tab sends its own events.
    onRole(true, false);
    return () => {};
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
  // A tab leaving hands the lease on at once; only a crash leaves it to expire. (A page
  // restored from the back/forward cache finds another holder and follows.)
  addEventListener('pagehide', giveUp);
  return () => {
    clearInterval(timer);
    removeEventListener('pagehide', giveUp);
    giveUp();
  };
}

/**
 * Whether `fetch` here finishes a request after its page is gone (`keepalive`: Chromium 66,
 * Safari 13, Firefox 133). Without it a request made as the page leaves dies with the page.
 */
export function keepaliveSupported() {
  return typeof Request === 'function' && 'keepalive' in Request.prototype;
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
 * one it had; a negative `ms` only cancels it.
 */
export function arm(id, slot, ms) {
  const key = id * 2 + slot;
  clearTimeout(timers.get(key));
  timers.delete(key);
  if (ms >= 0) {
    timers.set(key, setTimeout(() => {
      timers.delete(key);
      dispatch(TIMER, id, slot);
    }, ms));
  }
}

/** How long a request may take before it is aborted (it is then retried). */
const REQUEST_TIMEOUT_MS = 10000;
/** Bytes of an error body read (Gameball's are a few hundred); the rest is not downloaded. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

/** What a failed request says, for debug logs; a thrown non-Error too. */
function reason(error) {
  try {
    const text = JSON.stringify(error);
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
 * an error's body is read, and only its start (`readText`).
 */
export function send(id, token, url, headers, body, keepalive) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  (async () => {
    const init = { method: 'POST', mode: 'cors', headers: new Headers(), body, signal: controller.signal, redirect: 'manual' };
    const list = JSON.parse(headers);
    for (let i = 0; i + 1 < list.length; i += 2) init.headers.append(list[i], list[i + 1]);
    if (keepalive) init.keepalive = true;
    const response = await fetch(new Request(url, init));
    const { status } = response;
    const text = status >= 200 && status < 300 ? '' : await readText(response, MAX_ERROR_BODY_BYTES);
    return [status, text, response.headers.get('Retry-After'), response.headers.get('X-Request-Id')];
  })().then(
    (answer) => { clearTimeout(timer); dispatch(ANSWER, id, token, ...answer); },
    (error) => { clearTimeout(timer); dispatch(ANSWER, id, token, undefined, reason(error)); },
  );
}

/**
 * At most `limit` bytes of `response`'s body as text, then the rest is cancelled: an error
 * body that matters is small, and a proxy's 50 MB page must not be copied into the module.
 * A body cut off by the network reads as what arrived; nothing here rejects.
 */
async function readText(response, limit) {
  const chunks = [];
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
  const bytes = new Uint8Array(size);
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
 * Returns `{ electing, post(text), close() }`; `electing` is false when no election could
 * start (the tab then sends alone). Nothing here throws into the tracker.
 */
export function linkPage(id, prefix, leaseKey, fallbackKey, tabId, shared) {
  const tell = (kind, a, b) => dispatch(kind, id, a, b);
  const stops = [];
  const on = (target, name, listener) => {
    target.addEventListener(name, listener);
    stops.push(() => target.removeEventListener(name, listener));
  };
  on(window, 'online', () => tell(ONLINE, true));
  on(window, 'offline', () => tell(ONLINE, false));
  on(window, 'pagehide', () => tell(HIDDEN, true));
  on(window, 'pageshow', (event) => { if (event.persisted) tell(SHOWN, true); });
  on(document, 'visibilitychange', () => {
    if (document.visibilityState === 'hidden') tell(HIDDEN, false);
    else tell(SHOWN, false);
  });
  let channel = null;
  let release = null;
  if (shared) {
    on(window, 'storage', (event) => {
      let local = null;
      try { local = globalThis.localStorage; } catch (_) { return; }
      if (event.storageArea !== local) return;
      if (event.key === null || event.key.startsWith(prefix)) tell(STORAGE, event.key, event.newValue);
    });
    try { channel = openChannel(prefix, fallbackKey, (text) => tell(MESSAGE, text)); } catch (_) { /* alone */ }
    try { release = electSender(prefix, leaseKey, tabId, (sender, waited) => tell(ROLE, sender, waited)); } catch (_) { /* alone */ }
  }
  return {
    electing: release !== null,
    post(text) { if (channel) channel.post(text); },
    close() {
      if (release) release();
      for (const stop of stops) stop();
      if (channel) channel.close();
    },
  };
}
