// Gameball Demo Store: the storefront demo of gameball-tracker.
//
// A plain ES module served as it is (no build step, no framework, no external assets). It is
// served by the project's local Gameball-compatible server: `/` is this folder, `/pkg/` the
// package built by wasm-pack (target web), `/__gb/*` the server's test controls.
//
// Strings that come from the merchant, the customer, the tracker or the server are inserted
// with textContent / text nodes only, never as HTML.

const PKG_URL = '/pkg/gameball_tracker.js';
/** Served by the local server: stands in for Gameball's hosted widget loader, offline. */
const WIDGET_URL = new URL('./widget-standin.js', location.href).href;

/** The catalogue. Prices are whole Egyptian pounds. */
const PRODUCTS = [
  { id: '231402', name: 'Trail Runner Sneakers', price: 1350, art: 'sneaker', tone: 'coral' },
  { id: '231403', name: 'Canvas Backpack', price: 899, art: 'backpack', tone: 'teal' },
  { id: '231404', name: 'Studio Headphones', price: 2499, art: 'headphones', tone: 'violet' },
  { id: '231405', name: 'Ceramic Mug', price: 249, art: 'mug', tone: 'amber' },
];
const PRODUCT_BY_ID = new Map(PRODUCTS.map((p) => [p.id, p]));

/** Error codes whose event was never queued: the action did not happen. */
const NEVER_QUEUED = new Set(['invalid_event', 'not_initialized', 'unsupported_environment']);

const REFRESH_MS = 500;
const MAX_ACTIVITY_ROWS = 300;
const MAX_SERVER_ROWS = 500;
// The demo's own keys: the signed-in customer lives for the tab (like a session cookie), the
// last network state sent to the server is shared by the tabs of this origin.
const CUSTOMER_KEY = 'gb-demo:customer';
const NETWORK_KEY = 'gb-demo:network';

const params = new URLSearchParams(location.search);

const state = {
  tracker: null,
  sendEvent: null,
  /** The Voucherify tracker (`voucherify(...)`): every customer action goes there too. */
  vf: null,
  /** `{ customerId, email? }` while signed in, `null` for a guest. */
  customer: null,
  /** One product id per unit added. */
  cart: [],
};

const $ = (id) => document.getElementById(id);
const ui = {
  ready: $('ready'),
  notice: $('notice'),
  customerState: $('customer-state'),
  accountSummary: $('account-summary'),
  cartCount: $('cart-count'),
  loginForm: $('login-form'),
  loginId: $('login-id'),
  loginEmail: $('login-email'),
  loginToken: $('login-token'),
  logoutBtn: $('logout-btn'),
  productGrid: $('product-grid'),
  cartItems: $('cart-items'),
  cartEmpty: $('cart-empty'),
  cartTotal: $('cart-total'),
  placeOrder: $('place-order'),
  networkToggle: $('network-toggle'),
  networkState: $('network-state'),
  flushBtn: $('flush-btn'),
  pendingCount: $('pending-count'),
  stats: $('stats'),
  vfPendingCount: $('vf-pending-count'),
  vfStats: $('vf-stats'),
  vfServerLog: $('vf-server-log'),
  serverLog: $('server-log'),
  serverLogStatus: $('server-log-status'),
  activity: $('activity'),
  activityEmpty: $('activity-empty'),
};

// ---------------------------------------------------------------------------------------------
// DOM helpers (text only)

/** Creates an element; `text` sets textContent, `on<event>` adds a listener, others are attributes. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  // Strings become text nodes.
  for (const child of children.flat()) if (child != null) node.append(child);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

function clock(date = new Date()) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** The server's `at` may be epoch milliseconds, epoch seconds or an ISO string. */
function formatAt(at) {
  if (at == null || at === '') return '—';
  let value = at;
  if (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value)) value = Number(value);
  if (typeof value === 'number' && value < 1e11) value *= 1000;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(at) : clock(date);
}

function money(amount) {
  return `EGP ${amount.toLocaleString('en-US')}`;
}

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** `{ code, message, status? }` of anything thrown or reported, GameballError or not. */
function errorParts(error) {
  if (error && typeof error === 'object') {
    return {
      code: error.code != null ? String(error.code) : error.name ? String(error.name) : 'error',
      message: error.message != null ? String(error.message) : safeJson(error),
      status: error.status,
    };
  }
  return { code: 'error', message: String(error) };
}

function describeError(error) {
  const { code, message, status } = errorParts(error);
  return `${code}: ${message}${status != null ? ` (HTTP ${status})` : ''}`;
}

function attemptsText(n) {
  return n == null ? '' : ` · ${n} attempt${n === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Notice bar and activity feed

let noticeTimer = 0;

/** Shows a message under the header; kind is `info`, `success` or `error`. */
function notice(message, kind = 'info') {
  clearTimeout(noticeTimer);
  ui.notice.textContent = message;
  ui.notice.dataset.kind = kind;
  ui.notice.className = `notice notice-${kind}`;
  ui.notice.hidden = false;
  if (kind !== 'error') noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, 6000);
}

/** Appends (newest first) one outcome to the Activity feed. */
function logActivity({ ok, source, title, detail, code, event }) {
  const row = h(
    'li',
    {
      class: `log-row ${ok ? 'is-ok' : 'is-fail'}`,
      'data-testid': 'activity-row',
      'data-ok': String(ok),
      'data-source': source,
      'data-event': event,
      'data-code': code,
    },
    h('span', { class: 'mark', text: ok ? '✓' : '✗' }),
    h('span', { class: 'time', text: clock() }),
    h('span', { class: 'tag', text: source }),
    h('span', { class: 'what', text: title }),
    h('span', { class: 'detail', text: detail }),
  );
  ui.activity.prepend(row);
  while (ui.activity.childElementCount > MAX_ACTIVITY_ROWS) ui.activity.lastElementChild.remove();
  ui.activityEmpty.hidden = true;
}

function logResponse(source, eventName, response) {
  const status = response && response.status != null ? `HTTP ${response.status}` : 'ok';
  logActivity({
    ok: true,
    source,
    event: eventName,
    title: eventName,
    detail: `delivered · ${status}${attemptsText(response && response.attempts)}`,
  });
}

function logError(source, eventName, error) {
  const { code } = errorParts(error);
  logActivity({ ok: false, source, event: eventName, code, title: eventName, detail: describeError(error) });
  if (NEVER_QUEUED.has(code)) notice(`The tracker refused ${eventName}: ${describeError(error)}`, 'error');
}

/** The trackers' `onDelivery(report)`: every outcome this page learns of (`source` names the destination). */
function onDelivery(report, source = 'onDelivery') {
  try {
    const names = Array.isArray(report && report.eventNames)
      ? report.eventNames.join(', ')
      : String((report && report.eventNames) ?? '?');
    const who = report && report.customerId ? ` for ${report.customerId}` : '';
    if (report && report.ok) {
      const status = report.status != null ? `HTTP ${report.status}` : 'ok';
      logActivity({
        ok: true,
        source,
        event: names,
        title: `${names}${who}`,
        detail: `delivered · ${status}${attemptsText(report.attempts)}`,
      });
    } else {
      const error = report ? report.error : undefined;
      const parts = error != null ? errorParts(error) : { code: 'error', message: 'not delivered' };
      logActivity({
        ok: false,
        source,
        event: names,
        code: parts.code,
        title: `${names}${who}`,
        detail: error != null ? describeError(error) : `${parts.code}: ${parts.message}`,
      });
    }
  } catch (e) {
    console.error('demo: could not show a delivery report', e, report);
  }
  refreshSoon();
}

// ---------------------------------------------------------------------------------------------
// Sending

/** Promise form: logs the outcome and resolves to `{ ok, response | error }`, never rejects. */
function sendWithPromise(eventName, event) {
  let promise;
  try {
    promise = Promise.resolve(state.sendEvent(event));
  } catch (e) {
    promise = Promise.reject(e);
  }
  refreshSoon();
  return promise.then(
    (response) => {
      logResponse('promise', eventName, response);
      refreshSoon();
      return { ok: true, response };
    },
    (error) => {
      logError('promise', eventName, error);
      refreshSoon();
      return { ok: false, error };
    },
  );
}

/**
 * The same customer action to Voucherify (`event`, with `metadata`): the callback form, its
 * outcome in the activity log as `voucherify`. The customer is the tracker's (setCustomer).
 */
function sendToVoucherify(eventName, metadata) {
  if (!state.vf) return;
  try {
    state.vf.sendEvent({ event: eventName, metadata }, (response, error) => {
      if (error) logError('voucherify', eventName, error);
      else logResponse('voucherify', eventName, response);
      refreshSoon();
    });
  } catch (e) {
    logError('voucherify', eventName, e);
  }
}

function requireTracker() {
  if (state.tracker && state.sendEvent) return true;
  notice('The tracker is not ready yet.', 'error');
  return false;
}

function requireCustomer(what) {
  if (state.customer) return true;
  notice(`You are browsing as a guest: log in to ${what} and earn Gameball points.`, 'info');
  return false;
}

// ---------------------------------------------------------------------------------------------
// Account

function setCustomerState(customer, withToken = false) {
  state.customer = customer;
  setText(ui.customerState, customer ? customer.customerId : 'guest');
  ui.accountSummary.textContent = customer
    ? `Signed in as ${customer.customerId}${customer.email ? ` (${customer.email})` : ''}`
      + `${withToken ? ', with a session token: events go to v4.1' : ''}.`
    : 'You are browsing as a guest.';
  document.body.classList.toggle('is-signed-in', Boolean(customer));
  try {
    if (customer) sessionStorage.setItem(CUSTOMER_KEY, JSON.stringify(customer));
    else sessionStorage.removeItem(CUSTOMER_KEY);
  } catch {
    // Storage may be unavailable (privacy mode): the login then lasts for this page only.
  }
}

/** What the widget shows of a customer (its `playerAttributes`). */
function attributesOf(customer) {
  return customer.email
    ? { displayName: customer.customerId, email: customer.email }
    : { displayName: customer.customerId };
}

function savedCustomer() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(CUSTOMER_KEY) || 'null');
    if (saved && typeof saved.customerId === 'string' && saved.customerId) {
      return typeof saved.email === 'string' && saved.email
        ? { customerId: saved.customerId, email: saved.email }
        : { customerId: saved.customerId };
    }
  } catch {
    // Unreadable: start as a guest.
  }
  return null;
}

function login(event) {
  event.preventDefault();
  if (!requireTracker()) return;
  const customerId = ui.loginId.value.trim();
  const email = ui.loginEmail.value.trim();
  if (!customerId) {
    notice('Enter a customer id to log in.', 'info');
    ui.loginId.focus();
    return;
  }
  const customer = email ? { customerId, email } : { customerId };
  // The token is the tracker's to keep, in memory: the demo does not save it anywhere.
  const sessionToken = ui.loginToken.value.trim();
  const update = { ...customer, customerAttributes: attributesOf(customer) };
  if (sessionToken) update.sessionToken = sessionToken;
  // setCustomer returns a GameballError instead of throwing when its argument is unusable.
  const problem = state.tracker.setCustomer(update);
  if (problem) {
    notice(`Could not log in: ${describeError(problem)}`, 'error');
    return;
  }
  // Voucherify's default source_id for this customer's events.
  if (state.vf) state.vf.setCustomer({ customerId });
  ui.loginToken.value = '';
  setCustomerState(customer, Boolean(sessionToken));
  notice(`Welcome, ${customerId}!`, 'success');
  sendWithPromise('login', { events: { login: {} } });
  sendToVoucherify('login', {});
}

function logout() {
  if (!requireTracker()) return;
  const was = state.customer;
  try {
    state.tracker.logout();
    if (state.vf) state.vf.logout();
  } catch (e) {
    notice(`Could not log out: ${describeError(e)}`, 'error');
    return;
  }
  setCustomerState(null);
  notice(was ? `Logged out ${was.customerId}. You are browsing as a guest.` : 'You are browsing as a guest.', 'info');
  refreshSoon();
}

// ---------------------------------------------------------------------------------------------
// Products, reviews, cart

const ART = {
  sneaker: () => [
    svg('path', { d: 'M18 58c0-15 8-27 20-27h14c4 8 12 12 24 14l22 4c6 1 10 5 10 9z', fill: 'rgba(255,255,255,.94)' }),
    svg('rect', { x: 14, y: 58, width: 96, height: 9, rx: 4.5, fill: 'rgba(0,0,0,.22)' }),
    svg('path', { d: 'M50 36l6 8M56 34l6 9M62 36l5 8', stroke: 'rgba(0,0,0,.28)', 'stroke-width': 3, 'stroke-linecap': 'round' }),
  ],
  backpack: () => [
    svg('path', { d: 'M50 18c0-9 20-9 20 0', fill: 'none', stroke: 'rgba(255,255,255,.94)', 'stroke-width': 5 }),
    svg('rect', { x: 38, y: 16, width: 44, height: 56, rx: 13, fill: 'rgba(255,255,255,.94)' }),
    svg('rect', { x: 46, y: 44, width: 28, height: 20, rx: 5, fill: 'rgba(0,0,0,.18)' }),
    svg('path', { d: 'M46 36h28', stroke: 'rgba(0,0,0,.2)', 'stroke-width': 3, 'stroke-linecap': 'round' }),
  ],
  headphones: () => [
    svg('path', { d: 'M33 52c0-30 54-30 54 0', fill: 'none', stroke: 'rgba(255,255,255,.94)', 'stroke-width': 7, 'stroke-linecap': 'round' }),
    svg('rect', { x: 25, y: 44, width: 17, height: 26, rx: 7, fill: 'rgba(255,255,255,.94)' }),
    svg('rect', { x: 78, y: 44, width: 17, height: 26, rx: 7, fill: 'rgba(255,255,255,.94)' }),
    svg('rect', { x: 30, y: 50, width: 7, height: 14, rx: 3.5, fill: 'rgba(0,0,0,.2)' }),
    svg('rect', { x: 83, y: 50, width: 7, height: 14, rx: 3.5, fill: 'rgba(0,0,0,.2)' }),
  ],
  mug: () => [
    svg('path', { d: 'M48 22c-4-5 4-8 0-14M60 22c-4-5 4-8 0-14M72 22c-4-5 4-8 0-14', fill: 'none', stroke: 'rgba(255,255,255,.7)', 'stroke-width': 3, 'stroke-linecap': 'round' }),
    svg('path', { d: 'M80 38c13 0 13 22 0 22', fill: 'none', stroke: 'rgba(255,255,255,.94)', 'stroke-width': 6 }),
    svg('rect', { x: 38, y: 28, width: 44, height: 44, rx: 8, fill: 'rgba(255,255,255,.94)' }),
    svg('rect', { x: 38, y: 40, width: 44, height: 8, fill: 'rgba(0,0,0,.16)' }),
  ],
};

function productPicture(product) {
  return h(
    'div',
    { class: `swatch swatch-${product.tone}`, 'aria-hidden': 'true' },
    svg('svg', { viewBox: '0 0 120 80', width: '100%', height: '100%' }, ...ART[product.art]()),
  );
}

function productCard(product) {
  const id = product.id;
  const stars = h(
    'select',
    { id: `review-stars-${id}`, 'data-testid': `review-stars-${id}` },
    [5, 4, 3, 2, 1].map((n) =>
      h('option', { value: String(n), selected: n === 5, text: `${'★'.repeat(n)}${'☆'.repeat(5 - n)} ${n}` }),
    ),
  );
  const text = h('textarea', {
    id: `review-text-${id}`,
    'data-testid': `review-text-${id}`,
    rows: 2,
    placeholder: 'What did you think?',
  });
  const form = h(
    'form',
    { class: 'review-form', hidden: true, novalidate: true, 'data-testid': `review-form-${id}` },
    h('label', { class: 'field' }, h('span', { text: 'Rating' }), stars),
    h('label', { class: 'field' }, h('span', { text: 'Review' }), text),
    h('button', {
      type: 'submit',
      class: 'btn btn-primary btn-small needs-tracker',
      disabled: !state.tracker,
      'data-testid': `review-submit-${id}`,
      text: 'Submit review',
    }),
  );
  const reviewBtn = h('button', {
    type: 'button',
    class: 'btn btn-ghost btn-small',
    'aria-expanded': 'false',
    'data-testid': `review-${id}`,
    text: 'Write a review',
  });

  reviewBtn.addEventListener('click', () => {
    form.hidden = !form.hidden;
    reviewBtn.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) text.focus();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitReview(product, Number(stars.value), text.value.trim(), () => {
      text.value = '';
      stars.value = '5';
      form.hidden = true;
      reviewBtn.setAttribute('aria-expanded', 'false');
    });
  });

  return h(
    'article',
    { class: 'product', 'data-testid': `product-${id}`, 'data-product-id': id },
    productPicture(product),
    h(
      'div',
      { class: 'product-body' },
      h('h3', { class: 'product-name', text: product.name }),
      h('p', { class: 'product-price', text: money(product.price) }),
      h(
        'div',
        { class: 'product-actions' },
        h('button', {
          type: 'button',
          class: 'btn btn-primary btn-small needs-tracker',
          disabled: !state.tracker,
          'data-testid': `add-to-cart-${id}`,
          text: 'Add to cart',
          onclick: () => addToCart(product),
        }),
        reviewBtn,
      ),
      form,
    ),
  );
}

/** Callback form of sendEvent. */
function addToCart(product) {
  if (!requireTracker() || !requireCustomer('add items to your cart')) return;
  state.cart.push(product.id);
  renderCart();
  notice(`${product.name} added to your cart.`, 'success');
  const event = { events: { add_to_cart: { product_id: product.id, price: product.price, quantity: 1 } } };
  const undo = (error) => {
    if (NEVER_QUEUED.has(errorParts(error).code)) removeOneFromCart(product.id);
  };
  try {
    state.sendEvent(event, (response, error) => {
      if (error) {
        logError('callback', 'add_to_cart', error);
        undo(error);
      } else {
        logResponse('callback', 'add_to_cart', response);
      }
      refreshSoon();
    });
  } catch (e) {
    logError('callback', 'add_to_cart', e);
    removeOneFromCart(product.id);
  }
  sendToVoucherify('add_to_cart', event.events.add_to_cart);
  refreshSoon();
}

/** Promise form of sendEvent. */
function submitReview(product, rating, text, done) {
  if (!requireTracker() || !requireCustomer('write a review')) return;
  if (!(rating >= 1 && rating <= 5)) {
    notice('Pick a rating from 1 to 5 stars.', 'info');
    return;
  }
  notice(`Thanks for reviewing ${product.name}!`, 'success');
  done();
  sendWithPromise('write_review', {
    events: { write_review: { product_id: product.id, rating, text } },
  });
  sendToVoucherify('write_review', { product_id: product.id, rating, text });
}

function removeOneFromCart(productId) {
  const at = state.cart.lastIndexOf(productId);
  if (at >= 0) state.cart.splice(at, 1);
  renderCart();
}

function cartTotal(items) {
  return items.reduce((sum, id) => sum + (PRODUCT_BY_ID.get(id)?.price ?? 0), 0);
}

function renderCart() {
  setText(ui.cartCount, String(state.cart.length));
  const counts = new Map();
  for (const id of state.cart) counts.set(id, (counts.get(id) || 0) + 1);
  ui.cartItems.replaceChildren(
    ...[...counts].map(([id, quantity]) => {
      const product = PRODUCT_BY_ID.get(id);
      return h(
        'li',
        { class: 'cart-item', 'data-product-id': id },
        h('span', { class: 'cart-item-name', text: product ? product.name : id }),
        h('span', { class: 'cart-item-qty', text: `× ${quantity}` }),
        h('span', { class: 'cart-item-price', text: money((product ? product.price : 0) * quantity) }),
      );
    }),
  );
  ui.cartEmpty.hidden = state.cart.length > 0;
  setText(ui.cartTotal, money(cartTotal(state.cart)));
}

async function placeOrder() {
  if (!requireTracker() || !requireCustomer('place an order')) return;
  if (state.cart.length === 0) {
    notice('Your cart is empty: add something first.', 'info');
    return;
  }
  const items = [...state.cart];
  const orderTotal = cartTotal(items);
  state.cart = [];
  renderCart();
  notice(`Order placed: ${items.length} item${items.length === 1 ? '' : 's'}, ${money(orderTotal)}.`, 'success');
  sendToVoucherify('place_order', { order_total: orderTotal, items });
  const outcome = await sendWithPromise('place_order', {
    events: { place_order: { order_total: orderTotal, items } },
  });
  if (!outcome.ok && NEVER_QUEUED.has(errorParts(outcome.error).code)) {
    // The order event was refused outright: give the customer their cart back.
    state.cart = items.concat(state.cart);
    renderCart();
  }
}

// ---------------------------------------------------------------------------------------------
// Network switch

function showNetwork(online) {
  ui.networkToggle.checked = online;
  setText(ui.networkState, online ? 'Online' : 'Offline');
  document.body.classList.toggle('is-offline', !online);
}

async function onNetworkToggle() {
  const online = ui.networkToggle.checked;
  showNetwork(online);
  ui.networkToggle.disabled = true;
  try {
    const res = await fetch('/__gb/offline', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ offline: !online }),
      cache: 'no-store',
    });
    if (!res.ok) throw new Error(`the server answered HTTP ${res.status}`);
  } catch (e) {
    showNetwork(!online);
    notice(`Could not switch the network: ${e && e.message ? e.message : String(e)}`, 'error');
    return;
  } finally {
    ui.networkToggle.disabled = false;
    refreshSoon();
  }
  try {
    localStorage.setItem(NETWORK_KEY, online ? 'online' : 'offline');
  } catch {
    // Not shared with other tabs then; nothing else depends on it.
  }
  if (!online) {
    notice('Offline: events wait in the queue until the network is back.', 'info');
    return;
  }
  notice('Back online: flushing the queue.', 'info');
  if (state.tracker) await flushNow('Back online');
}

async function flushNow(label = 'Flush') {
  if (!requireTracker()) return;
  try {
    const [result] = await Promise.all([state.tracker.flush(), state.vf ? state.vf.flush() : null]);
    const r = result || {};
    notice(`${label}: sent ${r.sent ?? 0}, failed ${r.failed ?? 0}, pending ${r.pending ?? 0}.`, 'success');
  } catch (e) {
    notice(`${label}: flush failed: ${describeError(e)}`, 'error');
  }
  refreshSoon();
}

function restoreNetworkState() {
  let stored = null;
  try {
    stored = localStorage.getItem(NETWORK_KEY);
  } catch {
    // Assume online.
  }
  showNetwork(stored !== 'offline');
  window.addEventListener('storage', (event) => {
    if (event.key === NETWORK_KEY && event.newValue) showNetwork(event.newValue !== 'offline');
  });
}

// ---------------------------------------------------------------------------------------------
// Panels: pending queue, server log

function refreshLocal() {
  if (!state.tracker) return;
  showQueue(state.tracker, ui.pendingCount, ui.stats);
  if (state.vf) showQueue(state.vf, ui.vfPendingCount, ui.vfStats);
}

/** One tracker's pending count and stats. */
function showQueue(tracker, countNode, statsNode) {
  let pending;
  try {
    pending = String(tracker.pending());
  } catch (e) {
    pending = '?';
    console.warn('demo: tracker.pending() failed', e);
  }
  setText(countNode, pending);
  countNode.classList.toggle('is-waiting', pending !== '0');
  renderStats(tracker, statsNode);
}

const lastStats = new Map();

/** `tracker.stats()` as a row of figures in `node`; the raw object stays in the title. */
function renderStats(tracker, node) {
  let stats;
  try {
    stats = tracker.stats();
  } catch (e) {
    setText(node, `stats unavailable: ${describeError(e)}`);
    lastStats.delete(node);
    return;
  }
  const raw = safeJson(stats);
  if (raw === lastStats.get(node)) return;
  lastStats.set(node, raw);
  const dropped = Object.entries(stats.dropped || {}).map(([code, n]) => `${code} ${n}`).join(', ');
  const figures = [
    ['sent', stats.sent],
    ['retried', stats.retried],
    ['dropped', dropped || '0'],
    ['bytes', stats.bytes],
    ['storage', stats.storage],
    ['paused', stats.paused ? 'yes' : 'no'],
  ];
  node.title = raw;
  node.replaceChildren(...figures.map(([name, value]) =>
    h('div', { class: 'stat' }, h('dt', { text: name }), h('dd', { text: String(value) }))));
}

function parseBody(body) {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function serverRow(entry) {
  const body = parseBody(entry.body);
  const isObject = body != null && typeof body === 'object';
  const voucherify = entry.destination === 'voucherify';
  const customer = voucherify && isObject && body.customer && typeof body.customer === 'object' ? body.customer : {};
  const who = voucherify ? customer.source_id ?? customer.id : isObject ? body.customerId : null;
  const customerId = who != null ? String(who) : '(no customer)';
  const events = !isObject ? []
    : voucherify ? (typeof body.event === 'string' ? [body.event] : [])
      : body.events && typeof body.events === 'object' ? Object.keys(body.events) : [];
  const status = entry.status != null ? Number(entry.status) : null;
  const kind = status == null ? 'is-fault' : status >= 200 && status < 300 ? 'is-ok' : 'is-fail';
  const meta = [];
  const version = /\/api\/(v[\d.]+)\//.exec(String(entry.path || ''));
  if (version) meta.push(version[1]);
  else if (entry.path) meta.push(`${entry.method || ''} ${entry.path}`.trim());
  if (entry.code != null) meta.push(`code ${entry.code}`);
  if (entry.fault) meta.push(`fault: ${typeof entry.fault === 'string' ? entry.fault : safeJson(entry.fault)}`);
  return h(
    'li',
    {
      class: `log-row ${kind}`,
      'data-testid': voucherify ? 'vf-server-row' : 'server-row',
      'data-seq': String(entry.seq),
      'data-status': status ?? '',
      title: typeof entry.body === 'string' ? entry.body : safeJson(entry.body),
    },
    h('span', { class: 'time', text: formatAt(entry.at) }),
    h('span', {
      class: 'badge',
      text: status != null ? String(status) : entry.fault ? 'dropped' : '—',
    }),
    h('span', { class: 'who', text: customerId }),
    h('span', { class: 'what', text: events.length ? events.join(', ') : '(no events)' }),
    h('span', { class: 'detail', text: meta.join(' · ') }),
  );
}

const lastServerSignature = new Map();

/** The log's requests, each endpoint's in its own list (Gameball's, Voucherify's). */
function renderServerLog(requests) {
  const all = (Array.isArray(requests) ? requests : [])
    .filter((r) => r && String(r.method || '').toUpperCase() !== 'OPTIONS' && !String(r.path || '').startsWith('/__gb/'))
    .sort((a, b) => Number(b.seq) - Number(a.seq));
  renderLogList(ui.serverLog, all.filter((r) => r.destination !== 'voucherify'));
  renderLogList(ui.vfServerLog, all.filter((r) => r.destination === 'voucherify'));
}

function renderLogList(list, requests) {
  const rows = requests.slice(0, MAX_SERVER_ROWS);
  const signature = rows.map((r) => `${r.seq}|${r.status}|${r.code}|${safeJson(r.fault)}`).join(',');
  if (signature === lastServerSignature.get(list)) return;
  lastServerSignature.set(list, signature);
  if (rows.length === 0) {
    list.replaceChildren(h('li', { class: 'log-empty muted small', text: 'No event requests yet.' }));
  } else {
    list.replaceChildren(...rows.map(serverRow));
  }
}

let serverFetchInFlight = false;
let serverFetchAgain = false;

async function refreshServerLog() {
  if (serverFetchInFlight) {
    serverFetchAgain = true;
    return;
  }
  serverFetchInFlight = true;
  try {
    do {
      serverFetchAgain = false;
      try {
        const res = await fetch('/__gb/log', { cache: 'no-store', headers: { Accept: 'application/json' } });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const data = await res.json();
        renderServerLog(data && data.requests);
        setText(ui.serverLogStatus, '');
      } catch (e) {
        setText(ui.serverLogStatus, `log unavailable (${e && e.message ? e.message : String(e)})`);
      }
    } while (serverFetchAgain);
  } finally {
    serverFetchInFlight = false;
  }
}

function refreshSoon() {
  refreshLocal();
  refreshServerLog();
}

function startPanels() {
  const tick = async () => {
    refreshLocal();
    await refreshServerLog();
    setTimeout(tick, REFRESH_MS);
  };
  tick();
}

// ---------------------------------------------------------------------------------------------
// Start-up

function bindUi() {
  ui.productGrid.replaceChildren(...PRODUCTS.map(productCard));
  renderCart();
  ui.loginForm.addEventListener('submit', login);
  ui.logoutBtn.addEventListener('click', logout);
  ui.placeOrder.addEventListener('click', placeOrder);
  ui.networkToggle.addEventListener('change', onNetworkToggle);
  ui.flushBtn.addEventListener('click', () => flushNow());
  restoreNetworkState();
}

function enableTrackerControls() {
  for (const node of document.querySelectorAll('.needs-tracker')) node.disabled = false;
}

async function start() {
  bindUi();
  startPanels();

  const saved = savedCustomer();
  const config = {
    apiKey: params.get('apiKey') || 'demo-public-key',
    apiBase: location.origin,
    widget: params.get('widget') === 'off' ? false : { scriptUrl: WIDGET_URL },
    flushIntervalMs: 2000,
    debug: params.get('debug') === '1',
    onDelivery,
  };
  if (saved) {
    config.customerId = saved.customerId;
    if (saved.email) config.email = saved.email;
    config.customerAttributes = attributesOf(saved);
  }

  try {
    // A dynamic import, so that a missing or broken package is shown on the page
    // instead of leaving a page whose scripts silently never ran.
    const { default: init, customerWidget, sendEvent, voucherify } = await import(PKG_URL);
    await init();
    const tracker = customerWidget(config);
    state.tracker = tracker;
    state.sendEvent = sendEvent;
    // The same actions to Voucherify, through the local server's client-side endpoint with
    // the demo's client app (README: the local server's keys).
    state.vf = voucherify({
      clientApplicationId: params.get('vfApp') || 'demo-vf-app',
      clientSecretKey: params.get('vfKey') || 'demo-vf-key',
      apiUrl: location.origin,
      trackingId: saved ? saved.customerId : undefined,
      flushIntervalMs: 2000,
      debug: config.debug,
      onDelivery: (report) => onDelivery(report, 'vf onDelivery'),
    });
    window.demo = { tracker, sendEvent, vf: state.vf };
  } catch (e) {
    const message = e && e.message ? String(e.message) : String(e);
    setText(ui.ready, `error: ${message}`);
    document.body.classList.add('is-broken');
    notice(`The tracker failed to start: ${describeError(e)}`, 'error');
    console.error('demo: the tracker failed to start', e);
    return;
  }

  setCustomerState(saved);
  if (saved) {
    ui.loginId.value = saved.customerId;
    ui.loginEmail.value = saved.email || '';
  }
  enableTrackerControls();
  refreshSoon();
  setText(ui.ready, 'ready');
  document.body.classList.add('is-ready');
}

start();
