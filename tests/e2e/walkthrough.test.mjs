// A shopper's walk through the demo storefront in Chromium, with screenshots a person can
// look at (tests/e2e/screenshots/walkthrough-*.png): guest view, login with a session token,
// the widget, cart, review, order, the network switch, logout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useDemoServer, acceptedEvents, eventRequests, screenshot, eventually,
} from './harness.mjs';

const env = useDemoServer();

const text = (page, id) => page.getByTestId(id).textContent();

async function waitForText(page, id, expected) {
  await eventually(async () => (await text(page, id)) === expected, `${id} = ${expected}`);
}

async function acceptedNamed(name, customerId, count) {
  return eventually(async () => {
    const list = (await acceptedEvents(env.server)).filter((e) => e.name === name && e.customerId === customerId);
    return list.length === count ? list : null;
  }, `${count} × ${name} accepted for ${customerId}`);
}

test('walk-through: browse as a guest, log in, shop, review, order, go offline and back, log out', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  // Chromium logs each request the "offline" server drops as a failed resource: that one is
  // the point of step 4; any other console error is a problem.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource: net::ERR_EMPTY_RESPONSE')) problems.push(m.text());
  });
  await page.goto(env.server.url + '/');
  await waitForText(page, 'ready', 'ready');

  // 1. A guest: the widget shows its guest view, shopping asks for a login.
  await eventually(() => page.evaluate(() => document.body.dataset.gbWidget === 'guest'), 'guest widget');
  await waitForText(page, 'customer-state', 'guest');
  await page.getByTestId('add-to-cart-231402').click();
  await waitForText(page, 'cart-count', '0');
  assert.match(await text(page, 'notice'), /log in/i);
  await screenshot(page, 'walkthrough-1-guest');

  // 2. Log in with a session token: the widget follows, the login event goes to v4.1.
  await page.getByTestId('login-id').fill('walker');
  await page.getByTestId('login-email').fill('walker@example.com');
  await page.getByTestId('login-token').fill('jwe-walker');
  await page.getByTestId('login-btn').click();
  await waitForText(page, 'customer-state', 'walker');
  await waitForText(page, 'gb-widget-player', 'walker');
  const [login] = await acceptedNamed('login', 'walker', 1);
  assert.equal(login.email, 'walker@example.com');
  const loginRequest = (await eventRequests(env.server)).find((r) => r.status === 200 && r.body?.events?.login);
  assert.equal(loginRequest.path, '/api/v4.1/integrations/events');
  assert.equal(loginRequest.headers['x-gb-token'], 'jwe-walker');
  await page.getByTestId('gb-widget-launcher').click();
  assert.equal(await text(page, 'gb-widget-title'), 'Hi, walker!');
  assert.equal(await text(page, 'gb-widget-session'), 'yes');
  await screenshot(page, 'walkthrough-2-logged-in-widget');
  await page.getByTestId('gb-widget-launcher').click();

  // 3. Two products in the cart, a review, an order.
  await page.getByTestId('add-to-cart-231402').click();
  await page.getByTestId('add-to-cart-231405').click();
  await waitForText(page, 'cart-count', '2');
  assert.equal(await text(page, 'cart-total'), 'EGP 1,599');
  await page.getByTestId('review-231403').click();
  await page.getByTestId('review-stars-231403').selectOption('4');
  await page.getByTestId('review-text-231403').fill('Roomy, and the straps hold.');
  await page.getByTestId('review-submit-231403').click();
  await page.getByTestId('place-order').click();
  await waitForText(page, 'cart-count', '0');
  const carts = await acceptedNamed('add_to_cart', 'walker', 2);
  assert.deepEqual(carts.map((e) => e.metadata.product_id), ['231402', '231405']);
  const [review] = await acceptedNamed('write_review', 'walker', 1);
  assert.deepEqual(review.metadata, { product_id: '231403', rating: 4, text: 'Roomy, and the straps hold.' });
  const [order] = await acceptedNamed('place_order', 'walker', 1);
  assert.deepEqual(order.metadata, { order_total: 1599, items: ['231402', '231405'] });
  await eventually(async () => (await page.getByTestId('server-row').count()) >= 5, 'server log rows');
  await waitForText(page, 'pending-count', '0');
  await screenshot(page, 'walkthrough-3-order-placed');

  // 4. The network switch: offline, the event waits in the queue; online, it goes out once.
  await page.getByTestId('network-toggle').click({ force: true });
  await waitForText(page, 'network-state', 'Offline');
  await page.getByTestId('add-to-cart-231404').click();
  await waitForText(page, 'pending-count', '1');
  assert.equal((await acceptedEvents(env.server)).filter((e) => e.metadata?.product_id === '231404').length, 0);
  await screenshot(page, 'walkthrough-4-offline-queued');
  await page.getByTestId('network-toggle').click({ force: true });
  await waitForText(page, 'network-state', 'Online');
  await waitForText(page, 'pending-count', '0');
  const late = (await acceptedEvents(env.server)).filter((e) => e.metadata?.product_id === '231404');
  assert.equal(late.length, 1, 'delivered once after the network came back');

  // 5. Log out: the widget is back to the guest view.
  await page.getByTestId('logout-btn').click();
  await waitForText(page, 'customer-state', 'guest');
  await waitForText(page, 'gb-widget-player', 'guest');
  assert.equal(await page.evaluate(() => document.body.dataset.gbWidget), 'guest');
  await screenshot(page, 'walkthrough-5-logged-out');

  assert.deepEqual(problems, []);
  await context.close();
});
