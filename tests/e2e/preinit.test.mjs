// Calls made while the package's module loads (before `init()` settles, or with no `init()`
// at all) are kept in order and made once it is ready; a bad config, the bound and a module
// that fails to load each give every call an outcome. The page side is
// tests/e2e/pages/preinit.{html,js}, plain page code any engine can run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDemoServer, acceptedEvents, eventually } from './harness.mjs';

const env = useDemoServer();

/** Runs a scenario of pages/preinit.js in a fresh context; returns its result and page errors. */
async function runScenario(name) {
  const context = await env.browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${env.server.url}/e2e-pages/preinit.html?scenario=${name}`);
    const result = page.locator('#result[data-done="1"]');
    await result.waitFor({ timeout: 30_000 });
    const parsed = JSON.parse(await result.textContent());
    assert.equal(parsed.failed, undefined, parsed.failed);
    assert.deepEqual(errors, []);
    return parsed;
  } finally {
    await context.close();
  }
}

const namesAtServer = async (customerId) =>
  (await acceptedEvents(env.server)).filter((e) => e.customerId === customerId).map((e) => e.name);

async function assertDeliveredInOrder(result) {
  const { before, results, flush, callbackCalls, after, customerId } = result;
  assert.deepEqual(before, {
    instanceOfTracker: true,
    className: 'Tracker',
    pendingAtStart: 0,
    callbackFormReturned: 'undefined',
    pending: 4,
    stats: {
      queued: 4, sent: 0, retried: 0, dropped: {}, storage: 'memory', bytes: 0, paused: false,
      sender: false, resentUnknown: 0, resentUnknownTotal: 0, restored: 0, sentOnExit: 0, circuitOpen: false,
      heldMs: 0,
    },
    setCustomer: 'undefined',
  });
  assert.equal(results.length, 5);
  for (const r of results) {
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.status, 200);
    assert.match(r.id, /\S/);
  }
  assert.equal(new Set(results.map((r) => r.id)).size, 5, 'five distinct events');
  assert.deepEqual(callbackCalls, [1, 1], 'each callback ran once');
  assert.equal(typeof flush.sent, 'number', `flush settled with ${JSON.stringify(flush)}`);
  assert.equal(typeof flush.pending, 'number');
  assert.deepEqual(after, { pending: 0, storage: 'localStorage' });
  assert.equal(result.wasmFetches, 1, 'the module is fetched once');
  assert.deepEqual(result.logged, []);
  // In order, and the event after setCustomer belongs to the new customer.
  await eventually(async () => (await namesAtServer(`${customerId}_b`)).length === 1, 'the last event');
  assert.deepEqual(await namesAtServer(customerId), ['pre_1', 'pre_2', 'pre_3', 'pre_4']);
  assert.deepEqual(await namesAtServer(`${customerId}_b`), ['pre_5']);
}

test('calls made after init() started but before it settled are delivered in order, with their outcomes', async () => {
  await assertDeliveredInOrder(await runScenario('init-first'));
});

test('calls made before init() is called are delivered in order once it settles', async () => {
  await assertDeliveredInOrder(await runScenario('init-after'));
});

test('with no init() at all, the first call loads the module from its default place', async () => {
  await assertDeliveredInOrder(await runScenario('no-init'));
});

test('sendEvent with no tracker at all gets not_initialized, before the module is ready and after', async () => {
  const result = await runScenario('no-tracker');
  for (const outcome of [result.before, result.beforeCallback, result.after]) {
    assert.equal(outcome.error, 'not_initialized', JSON.stringify(outcome));
  }
  assert.match(result.before.message, /customerWidget/);
  assert.equal(result.wasmFetches, 1);
  assert.deepEqual(await namesAtServer(result.customerId), []);
});

test('a config refused once the module is ready: every call on the handle and sendEvent get invalid_config, and it is logged', async () => {
  const result = await runScenario('bad-config');
  assert.equal(result.thrown, null, 'customerWidget does not throw before the module is ready');
  assert.equal(result.results.length, 5);
  for (const outcome of result.results) assert.equal(outcome.error, 'invalid_config', JSON.stringify(outcome));
  assert.match(result.results[0].message, /apiKey/);
  const { afterReady } = result;
  assert.equal(afterReady.handleSendEvent.error, 'invalid_config');
  assert.equal(afterReady.moduleSendEvent.error, 'invalid_config');
  assert.equal(afterReady.setCustomer.error, 'invalid_config');
  assert.equal(afterReady.pending, 0);
  assert.equal(afterReady.thrownWhenReady.error, 'invalid_config', 'made when ready, it throws');
  assert.deepEqual(result.logged, ['invalid_config'], 'logged once, when the kept call was made');
  assert.equal(result.recovered.ok, true, JSON.stringify(result.recovered));
  await eventually(async () => (await namesAtServer(result.customerId)).length === 1, 'the event after a good config');
  assert.deepEqual(await namesAtServer(result.customerId), ['good_after_bad']);
});

test('1,000 calls are kept; the next get not_initialized at once; every kept one is delivered', async () => {
  const result = await runScenario('bound');
  assert.equal(result.pendingAtBound, 999);
  for (const [call, outcome] of Object.entries(result.refused)) {
    assert.equal(outcome?.error, 'not_initialized', `${call}: ${JSON.stringify(outcome)}`);
    assert.match(outcome.message, /1000 calls already wait/);
  }
  assert.deepEqual(result.logged, ['not_initialized'], 'logout past the bound is logged (it has no other way to report)');
  assert.equal(result.firstProblem, null);
  assert.equal(result.delivered, 999);
  const names = await eventually(async () => {
    const list = await namesAtServer(result.customerId);
    return list.length >= 999 ? list : null;
  }, 'the 999 kept events at the server', 20_000);
  assert.deepEqual(names, Array.from({ length: 999 }, (_, i) => `b${i}`), 'all of them, once each, in order');
});

test('a module that fails to load gives every kept call an error; the next call loads it again', async () => {
  const result = await runScenario('init-failure');
  assert.match(result.initError, /\S/, 'init() rejects');
  assert.equal(result.results.length, 4);
  for (const outcome of result.results) {
    assert.equal(outcome.error, 'not_initialized', JSON.stringify(outcome));
    assert.match(outcome.message, /the module did not load/);
  }
  assert.equal(result.handleAfter.error, 'not_initialized', 'the handle stays without a tracker');
  assert.deepEqual(result.logged, ['not_initialized'], 'the kept customerWidget logged the failure');
  assert.equal(result.recovered.ok, true, JSON.stringify(result.recovered));
  assert.deepEqual(await namesAtServer(result.customerId), []);
  await eventually(async () => (await namesAtServer(`${result.customerId}_r`)).length === 1, 'the recovered event');
  assert.deepEqual(await namesAtServer(`${result.customerId}_r`), ['recovered']);
});
