// The built package and the demo storefront, end to end in Chromium against the local
// server: what a shopper's clicks do, and what survives offline periods and reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useDemoServer, control, acceptedEvents, screenshot, eventually,
} from './harness.mjs';

const env = useDemoServer();

async function openDemo(context) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(env.server.url + '/');
  await page.getByTestId('ready').filter({ hasText: /^ready$/ }).waitFor({ timeout: 15_000 });
  page.errors = errors;
  return page;
}

async function logIn(page, id) {
  await page.getByTestId('login-id').fill(id);
  await page.getByTestId('login-btn').click();
  await eventually(async () => (await page.getByTestId('customer-state').textContent()) === id, 'login');
}

const pendingCount = async (page) => Number(await page.getByTestId('pending-count').textContent());

test('a click on "Add to cart" reaches the server once, with the product', async () => {
  const context = await env.browser.newContext();
  const page = await openDemo(context);
  await logIn(page, 'e2e_click');
  await page.getByTestId('add-to-cart-231402').click();
  const events = await eventually(async () => {
    const list = (await acceptedEvents(env.server)).filter((e) => e.name === 'add_to_cart');
    return list.length ? list : null;
  }, 'add_to_cart at the server');
  assert.equal(events.length, 1);
  assert.equal(events[0].customerId, 'e2e_click');
  assert.equal(events[0].metadata.product_id, '231402');
  await eventually(async () => (await page.getByTestId('activity-row').count()) > 0, 'activity');
  await screenshot(page, 'demo-after-add-to-cart');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('browser offline: queued in localStorage, delivered exactly once when back online', async () => {
  const context = await env.browser.newContext();
  const page = await openDemo(context);
  await logIn(page, 'e2e_offline');
  await context.setOffline(true);
  await page.getByTestId('add-to-cart-231403').click();
  await eventually(async () => (await pendingCount(page)) === 1, 'pending 1');
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('gb1:') && !k.includes('~')).length);
  assert.equal(stored, 1, 'the event is in localStorage');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await acceptedEvents(env.server)).filter((e) => e.name === 'add_to_cart').length, 0);
  await context.setOffline(false);
  await eventually(async () => (await pendingCount(page)) === 0, 'queue drained');
  const events = (await acceptedEvents(env.server)).filter((e) => e.customerId === 'e2e_offline' && e.name === 'add_to_cart');
  assert.equal(events.length, 1);
  await context.close();
});

test('network down → queued → reload → network back → delivered exactly once', async () => {
  const context = await env.browser.newContext();
  let page = await openDemo(context);
  await logIn(page, 'e2e_reload');
  await page.getByTestId('login-btn').isVisible();
  await eventually(async () => (await pendingCount(page)) === 0, 'login delivered');
  // The server drops event requests: the browser sees a network failure.
  await control(env.server, '/__gb/offline', { offline: true });
  await page.getByTestId('add-to-cart-231404').click();
  await page.getByTestId('add-to-cart-231405').click();
  await eventually(async () => (await pendingCount(page)) === 2, 'two pending');
  await screenshot(page, 'demo-offline-pending');
  await page.reload();
  await page.getByTestId('ready').filter({ hasText: /^ready$/ }).waitFor();
  await eventually(async () => (await pendingCount(page)) === 2, 'still two pending after reload');
  await control(env.server, '/__gb/offline', { offline: false });
  await page.evaluate(() => window.demo.tracker.flush());
  await eventually(async () => (await pendingCount(page)) === 0, 'delivered after the network returns');
  const carts = (await acceptedEvents(env.server)).filter((e) => e.customerId === 'e2e_reload' && e.name === 'add_to_cart');
  assert.deepEqual(carts.map((e) => e.metadata.product_id).sort(), ['231404', '231405']);
  // Nothing else arrives later either.
  await new Promise((r) => setTimeout(r, 2500));
  const again = (await acceptedEvents(env.server)).filter((e) => e.customerId === 'e2e_reload' && e.name === 'add_to_cart');
  assert.equal(again.length, 2, 'exactly once each');
  await screenshot(page, 'demo-after-reload-delivered');
  await context.close();
});

test('the package works from a plain module script, and GameballError is exported', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(env.server.url + '/');
  const result = await page.evaluate(async (apiBase) => {
    const mod = await import('/pkg/gameball_tracker.js');
    await mod.default();
    let thrown;
    try { mod.customerWidget({ apiKey: 'demo-public-key', secretKey: 'nope' }); } catch (e) { thrown = e; }
    const tracker = mod.customerWidget({ apiKey: 'demo-public-key', apiBase, widget: false, customerId: 'e2e_module' });
    const response = await mod.sendEvent({ events: { sign_up: { plan: 'gold' } } });
    const invalid = await mod.sendEvent({ events: { sign_up: { when: () => 1 } } }).catch((e) => e);
    return {
      thrownIsGameballError: thrown instanceof mod.GameballError && thrown instanceof Error,
      thrownCode: thrown.code,
      response,
      invalidCode: invalid.code,
      invalidMessage: invalid.message,
      pending: tracker.pending(),
    };
  }, env.server.url);
  assert.equal(result.thrownIsGameballError, true);
  assert.equal(result.thrownCode, 'invalid_config');
  assert.equal(result.response.ok, true);
  assert.equal(result.response.status, 200);
  assert.equal(result.invalidCode, 'invalid_event');
  assert.match(result.invalidMessage, /events\.sign_up\.when is a function/);
  assert.equal(result.pending, 0);
  await context.close();
});
