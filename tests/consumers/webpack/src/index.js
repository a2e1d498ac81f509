// A webpack 5 storefront: the package is resolved from node_modules (the installed
// tarball) and webpack emits the .wasm that `new URL(..., import.meta.url)` points at.
import init, { customerWidget, sendEvent, GameballError } from 'gameball-tracker';

const out = document.getElementById('result');

async function main() {
  await init();
  customerWidget({ apiKey: 'demo-public-key', apiBase: location.origin, customerId: 'consumer_webpack', widget: false });
  // The callback form, as a storefront's click handler would use it.
  const response = await new Promise((resolve, reject) => {
    sendEvent({ events: { consumer_built: { bundler: 'webpack' } } }, (ok, error) => (error ? reject(error) : resolve(ok)));
  });
  out.textContent = JSON.stringify(response);
}

main().catch((error) => {
  out.textContent = `error: ${error instanceof GameballError ? error.code : String(error)}`;
});
