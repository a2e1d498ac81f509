// One tab of the chaos run. The harness calls window.chaos.send(batch) with events that carry
// a unique chaos_id; the tracker persists, elects, relays and delivers them like in any shop.
import init, { customerWidget, voucherify } from '/pkg/gameball_tracker.js';

await init();
const params = new URLSearchParams(location.search);
const tracker = customerWidget({
  apiKey: 'test-public-key',
  apiBase: params.get('apiBase') || location.origin,
  widget: false,
  // Room for the whole run's backlog: a queue_full drop would be a loss by configuration.
  maxQueueEvents: 100000,
  maxQueueBytes: 50000000,
  maxAttempts: Number(params.get('maxAttempts') || 1000),
  flushIntervalMs: 1000,
});
// The same tab also sends to Voucherify (its own queue, sender election and back-off).
const vf = voucherify({
  clientApplicationId: 'test-vf-app',
  clientSecretKey: 'test-vf-key',
  apiUrl: params.get('apiBase') || location.origin,
  maxQueueEvents: 100000,
  maxQueueBytes: 50000000,
  maxAttempts: Number(params.get('maxAttempts') || 1000),
  flushIntervalMs: 1000,
});
const outcomes = { ok: 0, failed: 0, errors: [] };
const settle = (response, error) => {
  if (error) {
    outcomes.failed += 1;
    if (outcomes.errors.length < 20) outcomes.errors.push(`${error.code}: ${error.message}`);
  } else {
    outcomes.ok += 1;
  }
};

window.chaos = {
  tracker,
  /** Reconfigures the tracker (a second customerWidget call, same API key). */
  reconfigure(extra) {
    window.chaos.tracker = customerWidget({
      apiKey: 'test-public-key', apiBase: location.origin, widget: false, ...extra,
    });
  },
  /** One event; resolves with the response or the error's code. */
  sendOne(customer, name, id) {
    return tracker
      .sendEvent({ customerId: customer, events: { [name]: { chaos_id: id } } })
      .then((response) => ({ ok: true, response }), (error) => ({ ok: false, code: error.code }));
  },
  /** Sends each `{ id, customer, name }`; returns `[id, sentAt]` pairs. */
  send(batch) {
    const sent = [];
    for (const e of batch) {
      const at = Date.now();
      tracker.sendEvent({ customerId: e.customer, events: { [e.name]: { chaos_id: e.id } } }, settle);
      sent.push([e.id, at]);
    }
    return sent;
  },
  /** Voucherify events `{ id, customer, name }`; returns `[id, sentAt]` pairs. */
  sendVoucherify(batch) {
    return batch.map((e) => {
      const at = Date.now();
      vf.sendEvent({ event: e.name, customer: { source_id: e.customer }, metadata: { chaos_id: e.id } }, settle);
      return [e.id, at];
    });
  },
  flush: () => tracker.flush(),
  stats: () => tracker.stats(),
  pending: () => tracker.pending(),
  vf: {
    flush: () => vf.flush(),
    stats: () => vf.stats(),
    pending: () => vf.pending(),
  },
  outcomes,
};
document.title = 'ready';
