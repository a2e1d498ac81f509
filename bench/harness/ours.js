// The adapter for gameball-tracker: what a storefront writes to init and track, on the
// package exactly as pkg/ ships it (wasm + JS glue, not re-bundled). Not counted in the bytes.
import init, { customerWidget, sendEvent } from '/pkg/gameball_tracker.js';

let wasm;
const done = () => {};

export async function start(base) {
  wasm = await init();
  customerWidget({
    apiKey: 'demo-public-key',
    apiBase: base,
    widget: false,
    // room for the 10,000-event memory run; the per-call runs stay below the default anyway
    maxQueueEvents: 20000,
    maxQueueBytes: 50000000,
  });
}

export function track(customer, name, props) {
  sendEvent({ customerId: customer, events: { [name]: props } }, done);
}

export function wasmMemoryBytes() {
  return wasm.memory.buffer.byteLength;
}
