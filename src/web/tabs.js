// The browser APIs that tie the tabs of one origin together, kept in JavaScript because each
// is a handful of calls with callbacks and would cost more as web-sys bindings: the sender
// election (Web Locks, or a localStorage lease where they are missing), the message channel
// (BroadcastChannel, or storage events), and the page's lifecycle and storage events.

const LEASE_MS = 3000;
const RENEW_MS = 1000;

/**
 * Calls `onRole(true, waited)` when this tab becomes the sender for `name`, and
 * `onRole(false, false)` if it loses the role (only the lease can be lost). Returns the
 * function that gives the role up.
 */
export function electSender(name, tabId, onRole) {
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
  return leaseSender(name, tabId, onRole);
}

function leaseSender(name, tabId, onRole) {
  let storage = null;
  try { storage = globalThis.localStorage; } catch (_) { storage = null; }
  if (!storage) {
    // Nothing is shared without storage: this tab sends its own events.
    onRole(true, false);
    return () => {};
  }
  const key = name + '~l';
  let sender = false;
  let claimed = false;
  const read = () => {
    try {
      const [id, until] = (storage.getItem(key) || '').split(' ');
      return { id, until: Number(until) || 0 };
    } catch (_) {
      return { id: '', until: 0 };
    }
  };
  const tick = () => {
    const lease = read();
    if (lease.id !== tabId && lease.until > Date.now()) {
      claimed = false;
      if (sender) { sender = false; onRole(false, false); }
      return;
    }
    try { storage.setItem(key, tabId + ' ' + (Date.now() + LEASE_MS)); } catch (_) { /* full */ }
    // The role is taken on the second look, once no other tab overwrote the claim.
    if ((lease.id === tabId || claimed) && !sender) { sender = true; onRole(true, true); }
    claimed = true;
  };
  const giveUp = () => {
    if (read().id === tabId) {
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

/** A channel to the other tabs: `{ post(text), close() }`. */
export function openChannel(name, onMessage) {
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
  const key = name + '~o';
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

/**
 * Storage changes made by other tabs under `prefix` (`key` null when storage was cleared),
 * and the page being hidden, shown, or restored from the back/forward cache. Returns the
 * function that stops listening.
 */
export function watchPage(prefix, onStorage, onHidden, onShown) {
  const storage = (event) => {
    let local = null;
    try { local = globalThis.localStorage; } catch (_) { return; }
    if (event.storageArea !== local) return;
    if (event.key === null || event.key.startsWith(prefix)) onStorage(event.key, event.newValue);
  };
  const pagehide = () => onHidden(true);
  const visibility = () => {
    if (document.visibilityState === 'hidden') onHidden(false);
    else onShown(false);
  };
  const pageshow = (event) => { if (event.persisted) onShown(true); };
  addEventListener('storage', storage);
  addEventListener('pagehide', pagehide);
  addEventListener('pageshow', pageshow);
  document.addEventListener('visibilitychange', visibility);
  return () => {
    removeEventListener('storage', storage);
    removeEventListener('pagehide', pagehide);
    removeEventListener('pageshow', pageshow);
    document.removeEventListener('visibilitychange', visibility);
  };
}
