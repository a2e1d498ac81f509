// Both destinations from one page, end to end in Chromium against the local server (which
// speaks Gameball's events API and Voucherify's client-side events): delivery and the wire,
// persistence across a reload, a failure or pause on one not blocking the other, two tabs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDemoServer, control, acceptedEvents, eventually, openBlank, screenshot } from './harness.mjs';

const env = useDemoServer();

const vfEvents = () => control(env.server, '/__gb/events?destination=voucherify');

/** Makes both trackers on `page` (window.gbt, window.vft), reports kept in window.reports. */
async function makeBoth(page, { vfKey = 'test-vf-key', trackingId } = {}) {
  return page.evaluate(({ origin, vfKey, trackingId }) => {
    window.reports = { gameball: [], voucherify: [] };
    window.gbt = window.gb.customerWidget({
      apiKey: 'test-public-key', apiBase: origin, widget: false, customerId: 'gb_cust',
      onDelivery: (r) => window.reports.gameball.push(r),
    });
    window.vft = window.gb.voucherify({
      clientApplicationId: 'test-vf-app', clientSecretKey: vfKey, apiUrl: origin, trackingId,
      onDelivery: (r) => window.reports.voucherify.push({ ...r, error: r.error && { code: r.error.code } }),
    });
    return true;
  }, { origin: env.server.url, vfKey, trackingId });
}

/** Sends one event to each, without waiting; returns their ids once both are queued. */
function sendBoth(page, tag) {
  return page.evaluate((tag) => {
    window.outcomes ??= {};
    const keep = (name) => (response, error) => {
      window.outcomes[name] = error ? { code: error.code, message: error.message, status: error.status, requestId: error.requestId, voucherifyKey: error.voucherifyKey } : response;
    };
    window.gb.sendEvent({ events: { login: { tag } } }, keep(`gb-${tag}`));
    window.vft.sendEvent({ event: 'user_subscribed', customer: { source_id: 'vf_cust' }, metadata: { tag } }, keep(`vf-${tag}`));
    return [window.gbt.pending(), window.vft.pending()];
  }, tag);
}

const outcome = (page, name) => page.evaluate((name) => window.outcomes?.[name] ?? null, name);

test('one page, both destinations: each event delivered once, on its own wire, reported with its names', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  await makeBoth(page);
  assert.deepEqual(await sendBoth(page, 'one'), [1, 1]);
  const gbOut = await eventually(() => outcome(page, 'gb-one'), 'Gameball outcome');
  const vfOut = await eventually(() => outcome(page, 'vf-one'), 'Voucherify outcome');
  assert.equal(gbOut.ok, true);
  assert.equal(vfOut.ok, true);
  assert.equal(vfOut.status, 200);
  assert.deepEqual((await acceptedEvents(env.server)).map((e) => [e.customerId, e.name, e.metadata.tag]), [['gb_cust', 'login', 'one']]);
  const vf = await vfEvents();
  assert.deepEqual(vf.map((e) => [e.customerId, e.name, e.metadata.tag]), [['vf_cust', 'user_subscribed', 'one']]);
  assert.deepEqual(vf[0].customer, { source_id: 'vf_cust' }, 'the customer object as given');
  const { requests } = await control(env.server, '/__gb/log');
  const vfPost = requests.find((r) => r.destination === 'voucherify' && r.method === 'POST');
  assert.equal(vfPost.headers['x-client-application-id'], 'test-vf-app');
  assert.equal(vfPost.headers['x-client-token'], 'test-vf-key');
  assert.match(vfPost.headers['x-voucherify-channel'], /^gameball-tracker\/\d+\.\d+\.\d+/);
  assert.deepEqual(Object.keys(vfPost.body), ['event', 'customer', 'metadata'], 'absent fields left out');
  // Each preflight asked for exactly its destination's headers.
  const vfPreflight = requests.find((r) => r.destination === 'voucherify' && r.method === 'OPTIONS');
  if (vfPreflight) {
    assert.deepEqual(vfPreflight.headers['access-control-request-headers'].split(',').sort(),
      ['content-type', 'x-client-application-id', 'x-client-token', 'x-voucherify-channel']);
  }
  const reports = await eventually(async () => {
    const r = await page.evaluate(() => window.reports);
    return r.gameball.length && r.voucherify.length ? r : null;
  }, 'both reports');
  assert.deepEqual(reports.voucherify.map((r) => [r.ok, r.eventNames, r.customerId]), [[true, ['user_subscribed'], 'vf_cust']]);
  assert.deepEqual(reports.gameball.map((r) => [r.ok, r.eventNames, r.customerId]), [[true, ['login'], 'gb_cust']]);
  // Separate namespaces in storage, nothing left.
  const keys = await page.evaluate(() => Object.keys(localStorage));
  assert.ok(keys.some((k) => k.startsWith('gb1:')) && keys.some((k) => k.startsWith('vf1:')), keys.join(' '));
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('queued on both while offline, kept across a reload, delivered once each when back', async () => {
  const context = await env.browser.newContext();
  let page = await openBlank(context, env.server);
  await control(env.server, '/__gb/offline', { offline: true });
  await makeBoth(page, { trackingId: 'vf_default' });
  await page.evaluate(() => {
    window.gb.sendEvent({ events: { review: { n: 1 } } }, () => {});
    window.vft.sendEvent({ event: 'reviewed', metadata: { n: 1 } }, () => {});
  });
  const stored = await page.evaluate(() => ['gb1:', 'vf1:'].map((p) => Object.keys(localStorage).filter((k) => k.startsWith(p) && !k.includes('~')).length));
  assert.deepEqual(stored, [1, 1], 'each record is in its own namespace before sendEvent returns');
  // Both in back-off (a first attempt found no server): the records stay for the next page
  // rather than leave with the closing page's keepalive requests.
  // (A request without an answer uses up no attempt: the hold it starts shows in heldMs.)
  await eventually(() => page.evaluate(() => window.gbt.stats().heldMs > 0 && window.vft.stats().heldMs > 0), 'both tried once');
  await page.close();
  await control(env.server, '/__gb/offline', { offline: false });
  page = await openBlank(context, env.server);
  await makeBoth(page);
  // Delivered at least once each. The first page's requests got no answer (the server was
  // offline), so their fate is unknown: a second copy is allowed, and counted (below).
  await eventually(async () => (await vfEvents()).length >= 1 && (await acceptedEvents(env.server)).length >= 1, 'both delivered after the reload', 20_000)
    .catch(async (e) => {
      console.log(JSON.stringify(await page.evaluate(() => [window.gbt.stats(), window.vft.stats(), Object.keys(localStorage)])));
      console.log(JSON.stringify((await control(env.server, '/__gb/log')).requests.map((r) => [r.method, r.path, r.status, r.fault])));
      throw e;
    });
  const [vf] = await vfEvents();
  assert.equal(vf.customerId, 'vf_default', 'trackingId filled source_id when queued');
  const reports = await eventually(async () => {
    const r = await page.evaluate(() => window.reports);
    return r.voucherify.length && r.gameball.length ? r : null;
  }, 'reports of the earlier page\'s events');
  assert.deepEqual(reports.voucherify[0].eventNames, ['reviewed']);
  await page.waitForTimeout(500);
  const counted = await page.evaluate(() => [window.gbt.stats().resentUnknownTotal, window.vft.stats().resentUnknownTotal]);
  assert.ok((await acceptedEvents(env.server)).length <= 1 + counted[0], 'a second Gameball copy only as a counted resend');
  assert.ok((await vfEvents()).length <= 1 + counted[1], 'a second Voucherify copy only as a counted resend');
  await context.close();
});

test('Voucherify unauthorized pauses only Voucherify; voucherify() again resumes it', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  await makeBoth(page, { vfKey: 'wrong-key' });
  await sendBoth(page, 'a');
  const vfOut = await eventually(() => outcome(page, 'vf-a'), 'Voucherify outcome');
  assert.equal(vfOut.code, 'unauthorized');
  assert.equal(vfOut.status, 401);
  assert.equal(vfOut.voucherifyKey, 'unauthorized');
  assert.match(vfOut.message, /^Voucherify refused the API key: sending is paused until voucherify is called again/);
  assert.match(vfOut.message, /Unauthorized: Missing or invalid/, 'message carries details');
  assert.match(vfOut.requestId, /^v-/);
  assert.equal((await eventually(() => outcome(page, 'gb-a'), 'Gameball outcome')).ok, true);
  // Gameball goes on while Voucherify is paused.
  await page.evaluate(() => window.gb.sendEvent({ events: { login: { tag: 'b' } } }));
  await eventually(async () => (await acceptedEvents(env.server)).length === 2, 'Gameball keeps delivering');
  assert.equal(await page.evaluate(() => window.vft.stats().paused), true);
  assert.equal(await page.evaluate(() => window.gbt.stats().paused), false);
  // customerWidget does not touch Voucherify; voucherify() for the same app id does.
  await page.evaluate((origin) => window.gb.customerWidget({ apiKey: 'test-public-key', apiBase: origin, widget: false }), env.server.url);
  assert.equal(await page.evaluate(() => window.vft.stats().paused), true);
  await page.evaluate((origin) => {
    window.gb.voucherify({
      clientApplicationId: 'test-vf-app', clientSecretKey: 'test-vf-key', apiUrl: origin,
      onDelivery: (r) => window.reports.voucherify.push({ ...r, error: r.error && { code: r.error.code } }),
    });
  }, env.server.url);
  await eventually(async () => (await vfEvents()).length === 1, 'the kept event delivered after the fix');
  const reports = await eventually(async () => {
    const r = (await page.evaluate(() => window.reports)).voucherify;
    return r.some((x) => x.ok) ? r : null;
  }, 'delivery reported to onDelivery');
  assert.deepEqual(reports.map((r) => r.ok), [false, true]);
  await context.close();
});

test('Voucherify down (no answer, then 503 with Retry-After) never delays Gameball; rejected carries Voucherify\'s fields', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  await control(env.server, '/__gb/offline', { offline: true, destination: 'voucherify' });
  await makeBoth(page);
  await sendBoth(page, 'x');
  await page.evaluate(() => window.gb.sendEvent({ events: { add_to_cart: { tag: 'y' } } }));
  await eventually(async () => (await acceptedEvents(env.server)).length === 2, 'Gameball delivered while Voucherify is down', 5_000);
  assert.equal(await outcome(page, 'vf-x'), null, 'Voucherify still waiting');
  await eventually(async () => (await page.evaluate(() => window.vft.stats().heldMs)) > 0, 'Voucherify held back while down', 10_000);
  await control(env.server, '/__gb/offline', { offline: false });
  await control(env.server, '/__gb/faults', { status: 503, retryAfter: 1, destination: 'voucherify' });
  await page.evaluate(() => window.vft.flush());
  await eventually(() => outcome(page, 'vf-x'), 'Voucherify delivered once back', 20_000);
  assert.equal((await vfEvents()).length, 1);
  // A 4xx other than 401/403 drops the event, with Voucherify's error fields.
  await control(env.server, '/__gb/faults', { status: 422, destination: 'voucherify' });
  const rejected = await page.evaluate(async () => {
    try {
      await window.vft.sendEvent({ event: 'refused', customer: { id: 'c9' } });
      return null;
    } catch (e) {
      return { code: e.code, status: e.status, key: e.voucherifyKey, requestId: e.requestId, message: e.message, gameballCode: e.gameballCode };
    }
  });
  assert.equal(rejected.code, 'rejected');
  assert.equal(rejected.status, 422);
  assert.equal(rejected.key, 'injected_fault');
  assert.match(rejected.requestId, /^v-/);
  assert.equal(rejected.message, 'Voucherify rejected the event (status 422: Injected fault: HTTP 422: injected by the local server)');
  assert.equal(rejected.gameballCode, undefined);
  await context.close();
});

test('two tabs, both destinations: one sender each, every event delivered once', async () => {
  const context = await env.browser.newContext();
  const tabs = [await openBlank(context, env.server), await openBlank(context, env.server)];
  for (const tab of tabs) await makeBoth(tab);
  await eventually(async () => {
    const roles = await Promise.all(tabs.map((t) => t.evaluate(() => [window.gbt.stats().sender, window.vft.stats().sender])));
    return roles.filter((r) => r[0]).length === 1 && roles.filter((r) => r[1]).length === 1;
  }, 'one sender per destination');
  for (const [i, tab] of tabs.entries()) {
    await tab.evaluate((i) => {
      for (let n = 0; n < 3; n++) {
        window.gb.sendEvent({ customerId: `gb_${i}`, events: { [`e${n}`]: { tab: i } } }, () => {});
        window.vft.sendEvent({ event: `e${n}`, customer: { source_id: `vf_${i}` }, metadata: { tab: i, n } }, () => {});
      }
    }, i);
  }
  // Voucherify takes 5 per 5.5 s from the sender (and the local server 5 per 5 s per IP):
  // six events need two windows, more on a loaded machine.
  await eventually(async () => (await vfEvents()).length === 6 && (await acceptedEvents(env.server)).length === 6, 'all twelve delivered', 60_000);
  const vf = await vfEvents();
  for (const i of [0, 1]) {
    assert.deepEqual(vf.filter((e) => e.customerId === `vf_${i}`).map((e) => e.metadata.n), [0, 1, 2], 'a customer\'s events in order');
  }
  await Promise.all(tabs.map((t) => eventually(() => t.evaluate(() => window.vft.pending() === 0 && window.gbt.pending() === 0), 'each tab heard its outcomes')));
  assert.equal((await vfEvents()).length, 6);
  await context.close();
});

test('the demo store sends each customer action to both and shows both queues and both logs', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${env.server.url}/?widget=off`);
  await page.getByTestId('ready').filter({ hasText: /^ready$/ }).waitFor({ timeout: 15_000 });
  await page.getByTestId('login-id').fill('demo_vf');
  await page.getByTestId('login-btn').click();
  await page.getByTestId('add-to-cart-231402').click();
  const vf = await eventually(async () => {
    const rows = (await vfEvents()).filter((e) => e.customerId === 'demo_vf');
    return rows.length === 2 ? rows : null;
  }, 'login and add_to_cart at Voucherify', 20_000);
  assert.deepEqual(vf.map((e) => e.name), ['login', 'add_to_cart']);
  assert.equal(vf[1].metadata.product_id, '231402');
  await eventually(async () => (await acceptedEvents(env.server)).filter((e) => e.customerId === 'demo_vf').length === 2, 'both at Gameball');
  await eventually(async () => (await page.getByTestId('vf-server-row').count()) === 2, 'Voucherify log rows');
  assert.equal(await page.getByTestId('server-row').count(), 2, 'Gameball log rows');
  await eventually(async () => (await page.getByTestId('vf-pending-count').textContent()) === '0', 'Voucherify queue drained');
  assert.equal(await page.getByTestId('pending-count').textContent(), '0');
  assert.match(await page.getByTestId('vf-stats').textContent(), /sent\s*2/);
  await eventually(async () => (await page.locator('[data-testid="activity-row"][data-source="voucherify"]').count()) === 2, 'Voucherify outcomes in the activity log');
  await screenshot(page, 'demo-both-destinations');
  assert.deepEqual(errors, []);
  await context.close();
});

test('voucherify() before the module has loaded: a stand-in Tracker whose calls are kept and then made', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server, { init: false });
  const result = await page.evaluate(async (origin) => {
    const vf = window.gb.voucherify({ clientApplicationId: 'test-vf-app', clientSecretKey: 'test-vf-key', apiUrl: origin });
    const early = { isTracker: vf instanceof window.gb.Tracker, pending: vf.pending() };
    const sent = vf.sendEvent({ event: 'early_bird', customer: { id: 'pre_1' } });
    early.pendingAfter = vf.pending();
    // A bad config kept the same way reaches only its own handle.
    const bad = window.gb.voucherify({ clientApplicationId: 'test-vf-app' });
    const badOutcome = bad.sendEvent({ event: 'x', customer: { id: 'c' } }).then(() => 'delivered', (e) => e.code);
    const response = await sent;
    return { early, ok: response.ok, bad: await badOutcome };
  }, env.server.url);
  assert.deepEqual(result, { early: { isTracker: true, pending: 0, pendingAfter: 1 }, ok: true, bad: 'invalid_config' });
  assert.deepEqual((await vfEvents()).map((e) => [e.customerId, e.name]), [['pre_1', 'early_bird']]);
  await context.close();
});
