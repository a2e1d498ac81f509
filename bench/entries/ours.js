// gameball-tracker, the minimal init + sendEvent a storefront writes, bundled like the peers
// (our JS glue inlined into the bundle); the .wasm stays pkg/'s own file.
import init, { customerWidget, sendEvent } from '../../pkg/gameball_tracker.js';

let wasm;
const done = () => {};

export async function start(base) {
  // bundled, the glue's import.meta.url is the bundle's: name the module's URL
  wasm = await init({ module_or_path: '/pkg/gameball_tracker_bg.wasm' });
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
