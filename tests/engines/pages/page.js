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

await init();
const reports = [];
const tracker = customerWidget({
  apiKey: 'test-public-key',
  apiBase: location.origin,
  widget: false,
  flushIntervalMs: 1000,
  onDelivery: (report) => reports.push(report),
});

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
  go: (url) => later(() => { location.href = url; }),
  back: () => later(() => history.back()),
  reload: () => later(() => location.reload()),
};

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
