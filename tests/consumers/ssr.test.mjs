// Server-side rendering: Next.js and Nuxt import a storefront's modules under Node while
// rendering. The installed package must import there without throwing, and every call must
// answer `unsupported_environment` (a GameballError) instead of crashing the render.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

test('import under Node works; init resolves without fetching; calls give unsupported_environment', async () => {
  assert.equal(typeof globalThis.window, 'undefined', 'this is plain Node, no DOM');
  const fetched = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (...args) => { fetched.push(String(args[0])); return realFetch(...args); };
  try {
    const mod = await import('gameball-tracker');
    assert.equal(await mod.default(), undefined, 'init() resolves');
    assert.equal(mod.initSync(new Uint8Array(0)), undefined, 'initSync() does nothing');
    assert.deepEqual(fetched, [], 'the wasm is not fetched on the server');

    assert.throws(
      () => mod.customerWidget({ apiKey: 'demo-public-key', customerId: 'ssr' }),
      (e) => e instanceof mod.GameballError && e instanceof Error && e.code === 'unsupported_environment',
    );

    const rejected = await mod.sendEvent({ customerId: 'ssr', events: { login: {} } }).then(
      () => assert.fail('sendEvent resolved under SSR'),
      (e) => e,
    );
    assert.ok(rejected instanceof mod.GameballError);
    assert.equal(rejected.code, 'unsupported_environment');

    let calls = 0;
    const outcome = await new Promise((resolve) => {
      const returned = mod.sendEvent({ customerId: 'ssr', events: { login: {} } }, (response, error) => {
        calls += 1;
        resolve({ response, error });
      });
      assert.equal(returned, undefined, 'the callback form returns nothing');
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1, 'the callback runs once');
    assert.equal(outcome.response, null);
    assert.equal(outcome.error.code, 'unsupported_environment');
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('require() from CommonJS server code (Node 20.19+ require(esm)) gets the same module', async () => {
  const require = createRequire(import.meta.url);
  const viaRequire = require('gameball-tracker');
  const viaImport = await import('gameball-tracker');
  assert.equal(viaRequire.sendEvent, viaImport.sendEvent);
  assert.throws(() => viaRequire.customerWidget({ apiKey: 'k' }), { code: 'unsupported_environment' });
});
