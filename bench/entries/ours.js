// gameball-tracker, the minimal init + sendEvent a storefront writes, bundled like the peers
// (our JS glue inlined into the bundle); the .wasm stays pkg/'s own file.
import init, { customerWidget, sendEvent } from '../../pkg/gameball_tracker.js';

let wasm;
const done = () => {};

const config = (base) => ({
  apiKey: 'demo-public-key',
  apiBase: base,
  widget: false,
  // room for the 10,000-event memory run; the per-call runs stay below the default anyway
  maxQueueEvents: 20000,
  maxQueueBytes: 50000000,
});
// bundled, the glue's import.meta.url is the bundle's: name the module's URL
const MODULE_URL = '/pkg/gameball_tracker_bg.wasm';

export async function start(base) {
  wasm = await init({ module_or_path: MODULE_URL });
  customerWidget(config(base));
}

/** The same start one step at a time, in milliseconds: fetch (the module's bytes), compile,
 * instantiate (`init` with the compiled module), first call (`customerWidget`). `start`
 * streams, compiling while the bytes arrive, so it can take less than these parts' sum. */
export async function startParts(base) {
  const t0 = performance.now();
  const bytes = await (await fetch(MODULE_URL)).arrayBuffer();
  const t1 = performance.now();
  const module = await WebAssembly.compile(bytes);
  const t2 = performance.now();
  wasm = await init({ module_or_path: module });
  const t3 = performance.now();
  customerWidget(config(base));
  const t4 = performance.now();
  return { fetch: t1 - t0, compile: t2 - t1, instantiate: t3 - t2, firstCall: t4 - t3 };
}

export function track(customer, name, props) {
  sendEvent({ customerId: customer, events: { [name]: props } }, done);
}

export function wasmMemoryBytes() {
  return wasm.memory.buffer.byteLength;
}
