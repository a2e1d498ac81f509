// Issue 12 §1 and §4 in Chromium against the local server: a page whose wall clock (Date.now)
// is set back or forward keeps its deadlines, and a customer's events reach the server in the
// order they were sent even when one of them has to wait (2001).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useDemoServer, control, eventually, openBlank, acceptedEvents, eventRequests,
} from './harness.mjs';

const env = useDemoServer();

/** A page whose Date.now can be stepped with `window.stepClock(ms)` (as NTP or a user would). */
async function pageWithMovableClock(config = {}) {
  const context = await env.browser.newContext();
  await context.addInitScript(() => {
    const real = Date.now.bind(Date);
    let step = 0;
    Date.now = () => real() + step;
    window.stepClock = (ms) => { step += ms; };
    // When the page hands each events request to the network, on its monotonic clock: the
    // server's arrival times can be early by however late the one before was handled.
    window.eventFetchTimes = [];
    const fetch = window.fetch.bind(window);
    window.fetch = (input, init) => {
      if (String(input.url ?? input).includes('/integrations/events')) {
        window.eventFetchTimes.push(performance.now());
      }
      return fetch(input, init);
    };
  });
  const page = await openBlank(context, env.server);
  await page.evaluate(([origin, c]) => {
    window.tracker = window.gb.customerWidget({
      apiKey: 'demo-public-key', apiBase: origin, widget: false, ...c,
    });
    window.outcomes = [];
    window.send = (customerId, name) => window.tracker.sendEvent(
      { customerId, events: { [name]: {} } },
      (response, error) => window.outcomes.push({ name, ok: !error, code: error && error.code }),
    );
  }, [env.server.url, config]);
  return { context, page };
}

/** How many event requests the server has answered with `status`. */
async function answered(status) {
  return (await eventRequests(env.server)).filter((r) => r.status === status).length;
}

const namesOf = async (customerId) => (await acceptedEvents(env.server))
  .filter((e) => e.customerId === customerId)
  .map((e) => e.name);

for (const [what, stepMs, withinMs] of [
  ['an hour', -3_600_000, 5_000],
  ['6 seconds', -6_000, 3_000],
]) {
  test(`a 503, then the page's clock set back ${what}: delivered when the back-off ends, not ${what} late`, async () => {
    const { context, page } = await pageWithMovableClock();
    await control(env.server, '/__gb/faults', { count: 1, status: 503 });
    await page.evaluate(() => window.send('clock-c1', 'login'));
    await eventually(async () => (await answered(503)) === 1, 'the 503');
    const started = Date.now();
    await page.evaluate((ms) => window.stepClock(ms), stepMs);
    await eventually(async () => (await namesOf('clock-c1')).length === 1, 'the event delivered', withinMs);
    const took = Date.now() - started;
    console.log(`# clock set back ${what} after a 503: delivered ${took} ms later`);
    // The first back-off is under a second (full jitter); the rest is this test's polling.
    assert.ok(took < withinMs, `${took} ms`);
    assert.deepEqual(await page.evaluate(() => window.outcomes), [{ name: 'login', ok: true, code: null }]);
    assert.deepEqual(page.errors, []);
    await context.close();
  });
}

test("a page's clock set forward an hour expires no waiting event (eventTtlMs 30 minutes)", async () => {
  const { context, page } = await pageWithMovableClock({ eventTtlMs: 1_800_000 });
  await control(env.server, '/__gb/offline', { offline: true });
  await page.evaluate(() => window.send('clock-c2', 'login'));
  await eventually(async () => (await control(env.server, '/__gb/log')).requests.length > 0, 'a try while offline');
  await page.evaluate(() => window.stepClock(3_600_000));
  await control(env.server, '/__gb/offline', { offline: false });
  await page.evaluate(() => window.tracker.flush());
  await eventually(async () => (await page.evaluate(() => window.outcomes.length)) === 1, 'an outcome', 15_000);
  assert.deepEqual(await page.evaluate(() => window.outcomes), [{ name: 'login', ok: true, code: null }]);
  assert.deepEqual(await namesOf('clock-c2'), ['login']);
  await context.close();
});

test("a 2001 on a customer's event: the customer's next event waits for it (7, 8, 9; never 7, 9, 8)", async () => {
  const { context, page } = await pageWithMovableClock();
  await page.evaluate(() => window.send('order-c1', 'e7'));
  await eventually(async () => (await namesOf('order-c1')).length === 1, 'event 7');
  await control(env.server, '/__gb/faults', { count: 1, status: 422, code: 2001 });
  await page.evaluate(() => window.send('order-c1', 'e8'));
  await eventually(async () => (await answered(422)) === 1, 'the 2001 answer to event 8');
  // Event 9 is sent while 8 waits for its retry; another customer's event is not held up.
  await page.evaluate(() => { window.send('order-c1', 'e9'); window.send('order-c2', 'other'); });
  await eventually(async () => (await namesOf('order-c1')).length === 3, 'events 8 and 9');
  assert.deepEqual(await namesOf('order-c1'), ['e7', 'e8', 'e9']);
  assert.deepEqual(await namesOf('order-c2'), ['other']);
  const outcomes = await page.evaluate(() => window.outcomes.map((o) => `${o.name}:${o.ok}`).sort());
  assert.deepEqual(outcomes, ['e7:true', 'e8:true', 'e9:true', 'other:true']);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a customer answered 2001 again and again is retried more slowly each time, and no attempt is used up", async () => {
  const { context, page } = await pageWithMovableClock({ maxAttempts: 1 });
  await control(env.server, '/__gb/faults', { count: 4, status: 422, code: 2001 });
  await page.evaluate(() => window.send('busy-c1', 'login'));
  await eventually(async () => (await namesOf('busy-c1')).length === 1, 'the event after four 2001s', 30_000);
  assert.equal((await eventRequests(env.server)).length, 5);
  const times = await page.evaluate(() => window.eventFetchTimes);
  const gaps = times.slice(1).map((t, i) => Math.round(t - times[i]));
  console.log(`# four 2001s in a row: retried after ${gaps.join(', ')} ms`);
  assert.equal(times.length, 5);
  // Waits of 0.5–1 s, 1–2 s, 2–4 s, 4–8 s after each answer, so at least that between the
  // page's sends: lower bounds only (a loaded machine is late, never early). Measured in the
  // page, since the server's arrival times carry its own event loop's delays (a CI run saw a
  // gap under its bound).
  assert.ok(gaps[0] >= 500 && gaps[1] >= 1_000 && gaps[2] >= 2_000 && gaps[3] >= 4_000, `${gaps}`);
  assert.deepEqual(await page.evaluate(() => window.outcomes), [{ name: 'login', ok: true, code: null }]);
  await context.close();
});

test("a 503 with Retry-After: 30 shows in stats().heldMs, counted down on the page's monotonic clock", async () => {
  const { context, page } = await pageWithMovableClock();
  await control(env.server, '/__gb/faults', { count: 1, status: 503, retryAfter: 30 });
  assert.equal(await page.evaluate(() => window.tracker.stats().heldMs), 0);
  await page.evaluate(() => window.send('held-c1', 'login'));
  await eventually(async () => (await answered(503)) === 1, 'the 503');
  const held = await eventually(async () => {
    const ms = await page.evaluate(() => window.tracker.stats().heldMs);
    return ms > 0 ? ms : null;
  }, 'a hold in stats()');
  assert.ok(held > 20_000 && held <= 30_000, `heldMs ${held}`);
  await page.evaluate(() => window.stepClock(-3_600_000));
  const after = await page.evaluate(() => window.tracker.stats().heldMs);
  assert.ok(after <= held && after > held - 10_000, `heldMs ${held}, then ${after} after the clock was set back`);
  assert.equal(await answered(200), 0, 'nothing sent during the hold');
  await context.close();
});
