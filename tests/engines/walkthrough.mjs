// A shopper's walk through the demo storefront (www/), in any engine: guest view, login with a
// session token, the widget, cart, review, order, the network switch, logout. `win` is a window
// of tests/engines/engines.mjs; `shot(name)` saves a screenshot a person can look at.
// Run in Chromium by tests/e2e/walkthrough.test.mjs and in every engine by the engines layer.
import assert from 'node:assert/strict';
import { acceptedEvents, eventRequests, eventually } from '../e2e/harness.mjs';

export async function walkThrough(win, server, shot) {
  const text = (id) => win.text(id);
  const waitForText = (id, expected) => eventually(async () => (await text(id)) === expected, `${id} = ${expected}`);
  const acceptedNamed = (name, customerId, count) => eventually(async () => {
    const list = (await acceptedEvents(server)).filter((e) => e.name === name && e.customerId === customerId);
    return list.length === count ? list : null;
  }, `${count} × ${name} accepted for ${customerId}`);
  await waitForText('ready', 'ready');

  // 1. A guest: the widget shows its guest view, shopping asks for a login.
  await eventually(async () => (await win.read('document.body.dataset.gbWidget')) === 'guest', 'guest widget');
  await waitForText('customer-state', 'guest');
  await win.click('add-to-cart-231402');
  await waitForText('cart-count', '0');
  assert.match(await text('notice'), /log in/i);
  await shot('1-guest');

  // 2. Log in with a session token: the widget follows, the login event goes to v4.1.
  await win.fill('login-id', 'walker');
  await win.fill('login-email', 'walker@example.com');
  await win.fill('login-token', 'jwe-walker');
  await win.click('login-btn');
  await waitForText('customer-state', 'walker');
  await waitForText('gb-widget-player', 'walker');
  const [login] = await acceptedNamed('login', 'walker', 1);
  assert.equal(login.email, 'walker@example.com');
  const loginRequest = (await eventRequests(server)).find((r) => r.status === 200 && r.body?.events?.login);
  assert.equal(loginRequest.path, '/api/v4.1/integrations/events');
  assert.equal(loginRequest.headers['x-gb-token'], 'jwe-walker');
  await win.click('gb-widget-launcher');
  assert.equal(await text('gb-widget-title'), 'Hi, walker!');
  assert.equal(await text('gb-widget-session'), 'yes');
  await shot('2-logged-in-widget');
  await win.click('gb-widget-launcher');

  // 3. Two products in the cart, a review, an order.
  await win.click('add-to-cart-231402');
  await win.click('add-to-cart-231405');
  await waitForText('cart-count', '2');
  assert.equal(await text('cart-total'), 'EGP 1,599');
  await win.click('review-231403');
  await win.select('review-stars-231403', '4');
  await win.fill('review-text-231403', 'Roomy, and the straps hold.');
  await win.click('review-submit-231403');
  await win.click('place-order');
  await waitForText('cart-count', '0');
  const carts = await acceptedNamed('add_to_cart', 'walker', 2);
  assert.deepEqual(carts.map((e) => e.metadata.product_id), ['231402', '231405']);
  const [review] = await acceptedNamed('write_review', 'walker', 1);
  assert.deepEqual(review.metadata, { product_id: '231403', rating: 4, text: 'Roomy, and the straps hold.' });
  const [order] = await acceptedNamed('place_order', 'walker', 1);
  assert.deepEqual(order.metadata, { order_total: 1599, items: ['231402', '231405'] });
  await eventually(
    async () => (await win.read('document.querySelectorAll(\'[data-testid="server-row"]\').length')) >= 5,
    'server log rows',
  );
  await waitForText('pending-count', '0');
  await shot('3-order-placed');

  // 4. The network switch: offline, the event waits in the queue; online, it goes out once.
  await win.click('network-toggle');
  await waitForText('network-state', 'Offline');
  await win.click('add-to-cart-231404');
  await waitForText('pending-count', '1');
  assert.equal((await acceptedEvents(server)).filter((e) => e.metadata?.product_id === '231404').length, 0);
  await shot('4-offline-queued');
  await win.click('network-toggle');
  await waitForText('network-state', 'Online');
  await eventually(async () => (await text('pending-count')) === '0', 'pending 0', 20_000);
  const late = (await acceptedEvents(server)).filter((e) => e.metadata?.product_id === '231404');
  assert.equal(late.length, 1, 'delivered once after the network came back');

  // 5. Log out: the widget is back to the guest view.
  await win.click('logout-btn');
  await waitForText('customer-state', 'guest');
  await waitForText('gb-widget-player', 'guest');
  assert.equal(await win.read('document.body.dataset.gbWidget'), 'guest');
  await shot('5-logged-out');
}
