// The package's entry, `gameball_tracker.js` (scripts/finish-pkg.mjs copies it into pkg/ and
// moves wasm-bindgen's module to `gameball_tracker_wasm.js`). Same exports as wasm-bindgen's
// module, plus two guarantees it cannot give:
//
// - Server-side rendering (Next.js, Nuxt, plain Node) and workers: importing never throws,
//   `init()` resolves without fetching the wasm, `customerWidget` throws and `sendEvent`
//   rejects (or calls back) with a GameballError `unsupported_environment`.
// - In a browser, a call made before `await init()` gets a GameballError `not_initialized`
//   instead of a TypeError from deep inside the generated glue.
import * as wasm from './gameball_tracker_wasm.js';
import { GameballError } from './gameball_tracker_wasm.js';

export { GameballError, Tracker } from './gameball_tracker_wasm.js';

const inBrowser = () => typeof window !== 'undefined' && typeof document !== 'undefined';

let ready = false;

const unsupported = () => new GameballError(
  'unsupported_environment',
  'gameball-tracker needs a browser page (window and localStorage); this looks like server-side rendering or a worker',
);
const notReady = (what) => new GameballError(
  'not_initialized',
  `await init() (the package's default export) before calling ${what}`,
);

/** Reports `error` the way sendEvent reports every outcome: asynchronously, once. */
function fail(error, callback) {
  if (typeof callback === 'function') {
    queueMicrotask(() => callback(null, error));
    return undefined;
  }
  return Promise.reject(error);
}

/** Instantiates the wasm module once; resolves without doing anything outside a browser. */
export default async function init(moduleOrPath) {
  if (!inBrowser()) return undefined;
  const output = await wasm.default(moduleOrPath);
  ready = true;
  return output;
}

/** Synchronous instantiation from bytes or a compiled module; does nothing outside a browser. */
export function initSync(module) {
  if (!inBrowser()) return undefined;
  const output = wasm.initSync(module);
  ready = true;
  return output;
}

export function customerWidget(config) {
  if (!inBrowser()) throw unsupported();
  if (!ready) throw notReady('customerWidget');
  return wasm.customerWidget(config);
}

export function sendEvent(event, callback) {
  if (!inBrowser()) return fail(unsupported(), callback);
  if (!ready) return fail(notReady('sendEvent'), callback);
  return wasm.sendEvent(event, callback);
}
