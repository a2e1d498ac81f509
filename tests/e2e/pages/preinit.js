// The page side of tests/e2e/preinit.test.mjs: each scenario calls the package while its
// module loads and reports what every call got, as JSON in #result (data-done="1" when over).
// Only the page's own APIs are used, so any driver (Playwright, WebDriver) can run it: open
// preinit.html?scenario=NAME and read #result. Each run uses its own customer id (in the
// result), so runs on one origin do not see each other's events at the server.
import init, * as gb from '/pkg/gameball_tracker.js';

const scenario = new URLSearchParams(location.search).get('scenario');
const customerId = `pre_${scenario}_${Math.random().toString(36).slice(2, 10)}`;
const config = (extra = {}) => ({
  apiKey: 'demo-public-key', customerId, apiBase: location.origin, widget: false, ...extra,
});

// What the package logs with console.error (a kept customerWidget that failed, for one).
const logged = [];
const consoleError = console.error;
console.error = (...args) => {
  logged.push(args.map((a) => (a instanceof gb.GameballError ? a.code : String(a))).join(' '));
  consoleError.apply(console, args);
};

const describeError = (e) => (e instanceof gb.GameballError ? { error: e.code, message: e.message } : { error: String(e) });
const describeResponse = (r) => ({ ok: r.ok, status: r.status, id: r.id });
/** The outcome of a Promise-form call. */
const settled = (promise) => promise.then(describeResponse, describeError);
/** A callback for the callback form, and a Promise of what it was first called with. */
function callbackForm() {
  let calls = 0;
  let done;
  const outcome = new Promise((resolve) => { done = resolve; });
  const callback = (response, error) => {
    calls += 1;
    done(error ? describeError(error) : describeResponse(response));
  };
  return { callback, outcome, calls: () => calls };
}
const thrownBy = (f) => {
  try { f(); return null; } catch (e) { return describeError(e); }
};
const wasmFetches = () => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.wasm')).length;

/**
 * Every kind of call, in order, while the module loads: module-level sendEvent in both forms,
 * the handle's sendEvent in both forms, flush, pending/stats, setCustomer (so the last event
 * belongs to `${customerId}_b`). `start` is how the module gets loaded: 'first' (init() before
 * the calls, not awaited), 'after' (init() after the calls) or 'none' (no init() at all).
 */
async function delivered(start) {
  const loading = start === 'first' ? init() : null;
  const tracker = gb.customerWidget(config());
  const before = { instanceOfTracker: tracker instanceof gb.Tracker, className: tracker.constructor.name, pendingAtStart: tracker.pending() };
  const callbacks = [callbackForm(), callbackForm()];
  const outcomes = [];
  outcomes.push(settled(gb.sendEvent({ events: { pre_1: { n: 1 } } })));
  before.callbackFormReturned = gb.sendEvent({ events: { pre_2: { n: 2 } } }, callbacks[0].callback) ?? 'undefined';
  outcomes.push(callbacks[0].outcome);
  outcomes.push(settled(tracker.sendEvent({ events: { pre_3: { n: 3 } } })));
  tracker.sendEvent({ events: { pre_4: { n: 4 } } }, callbacks[1].callback);
  outcomes.push(callbacks[1].outcome);
  before.pending = tracker.pending();
  before.stats = tracker.stats();
  const flushed = tracker.flush().then((r) => ({ sent: r.sent, failed: r.failed, pending: r.pending }), describeError);
  before.setCustomer = tracker.setCustomer({ customerId: `${customerId}_b` }) ?? 'undefined';
  outcomes.push(settled(gb.sendEvent({ events: { pre_5: { n: 5 } } })));
  if (start === 'first') await loading;
  if (start === 'after') await init();
  const results = await Promise.all(outcomes);
  const flush = await flushed;
  // init() after the module loaded by itself (or a second init()) resolves without a second fetch.
  await init();
  return {
    before, results, flush,
    callbackCalls: callbacks.map((c) => c.calls()),
    after: { pending: tracker.pending(), storage: tracker.stats().storage },
    wasmFetches: wasmFetches(), logged,
  };
}

const scenarios = {
  'init-first': () => delivered('first'),
  'init-after': () => delivered('after'),
  'no-init': () => delivered('none'),

  /** sendEvent with no tracker at all: not_initialized before the module is ready and after. */
  async 'no-tracker'() {
    const before = await settled(gb.sendEvent({ customerId, events: { lost: {} } }));
    const cb = callbackForm();
    gb.sendEvent({ customerId, events: { lost: {} } }, cb.callback);
    const beforeCallback = await cb.outcome;
    await init();
    const after = await settled(gb.sendEvent({ customerId, events: { lost: {} } }));
    return { before, beforeCallback, after, wasmFetches: wasmFetches() };
  },

  /** A config that the module refuses, given before it is ready: every later call gets the error. */
  async 'bad-config'() {
    let tracker;
    const thrown = thrownBy(() => { tracker = gb.customerWidget({ customerId, widget: false }); });
    const cb = callbackForm();
    const modCb = callbackForm();
    const outcomes = [
      settled(tracker.sendEvent({ events: { bad_1: {} } })),
      cb.outcome,
      settled(gb.sendEvent({ events: { bad_3: {} } })),
      modCb.outcome,
      tracker.flush().then(() => 'resolved', describeError),
    ];
    tracker.sendEvent({ events: { bad_2: {} } }, cb.callback);
    gb.sendEvent({ events: { bad_4: {} } }, modCb.callback);
    await init();
    const results = await Promise.all(outcomes);
    const afterReady = {
      handleSendEvent: await settled(tracker.sendEvent({ events: { bad_5: {} } })),
      moduleSendEvent: await settled(gb.sendEvent({ events: { bad_6: {} } })),
      setCustomer: describeError(tracker.setCustomer({ customerId: 'someone' })),
      pending: tracker.pending(),
      // Made while the module is ready, the same config throws.
      thrownWhenReady: thrownBy(() => gb.customerWidget({ customerId, widget: false })),
    };
    // A good customerWidget afterwards gives the module-level sendEvent a tracker again.
    gb.customerWidget(config());
    const recovered = await settled(gb.sendEvent({ events: { good_after_bad: {} } }));
    return { thrown, results, afterReady, recovered, logged };
  },

  /** The bound: LIMIT calls kept; the next ones refused at once; the kept ones all delivered. */
  async bound() {
    const tracker = gb.customerWidget(config());
    const kept = [];
    for (let i = 0; i < 999; i += 1) kept.push(settled(gb.sendEvent({ events: { [`b${i}`]: { i } } })));
    const pendingAtBound = tracker.pending();
    const cb = callbackForm();
    gb.sendEvent({ events: { over_2: {} } }, cb.callback);
    // Refused calls settle at once: they wait for nothing (only microtasks run until the awaits end).
    const refused = {
      moduleSendEvent: await settled(gb.sendEvent({ events: { over_1: {} } })),
      moduleCallback: await cb.outcome,
      handleSendEvent: await settled(tracker.sendEvent({ events: { over_3: {} } })),
      flush: await tracker.flush().then(() => 'resolved', describeError),
      customerWidget: thrownBy(() => gb.customerWidget(config())),
      logout: describeError(tracker.logout()),
    };
    await init();
    const results = await Promise.all(kept);
    return {
      pendingAtBound, refused,
      delivered: results.filter((r) => r.ok && r.status === 200).length,
      firstProblem: results.find((r) => !r.ok) ?? null,
      logged,
    };
  },

  /** The module fails to load (404): every kept call gets an error; a later load works. */
  async 'init-failure'() {
    const tracker = gb.customerWidget(config());
    const cb = callbackForm();
    const outcomes = [
      settled(gb.sendEvent({ events: { fail_1: {} } })),
      cb.outcome,
      settled(tracker.sendEvent({ events: { fail_3: {} } })),
      tracker.flush().then(() => 'resolved', describeError),
    ];
    gb.sendEvent({ events: { fail_2: {} } }, cb.callback);
    const initError = await init({ module_or_path: '/pkg/no_such_module.wasm' }).then(() => null, (e) => String(e));
    const results = await Promise.all(outcomes);
    const handleAfter = await settled(tracker.sendEvent({ events: { fail_4: {} } }));
    // The next calls load the module again (from its default place) and are delivered.
    const second = gb.customerWidget(config({ customerId: `${customerId}_r` }));
    const recovered = await settled(second.sendEvent({ events: { recovered: {} } }));
    return { initError, results, handleAfter, recovered, wasmFetches: wasmFetches(), logged };
  },
};

const out = document.getElementById('result');
const run = scenarios[scenario] ?? (async () => { throw new Error(`no scenario ${scenario}`); });
run().then((result) => ({ customerId, ...result }), (e) => ({ customerId, failed: String(e?.stack ?? e) }))
  .then((result) => {
    out.textContent = JSON.stringify(result);
    out.dataset.done = '1';
  });
