// Text that is not valid Unicode, and text no HTTP header can carry (issue 12 §2), through
// the built package in Chromium against the local server: one rule at every crossing from
// JavaScript into the module (a lone surrogate is refused with the field's documented error,
// naming the field), valid surrogate pairs arrive byte for byte, and a header value fetch
// would throw on is refused where it enters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDemoServer, acceptedEvents, eventually, openBlank, eventRequests } from './harness.mjs';

const env = useDemoServer();

/** A tracker on a blank page of the server's origin, as `window.tracker`. */
async function trackerPage(config = {}) {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  await page.evaluate(({ origin, config }) => {
    window.tracker = window.gb.customerWidget({
      apiKey: 'demo-public-key', apiBase: origin, widget: false, ...config,
    });
  }, { origin: env.server.url, config });
  return { context, page };
}

// Built in the page: a lone surrogate cannot cross Playwright's own serialization intact.
const HIGH = '\\ud83c';
const LOW = '\\udc00';

test('sendEvent: a lone surrogate anywhere in the event is invalid_event naming the field; nothing is queued or sent', async () => {
  const { context, page } = await trackerPage({ customerId: 'cust_text' });
  const cases = [
    // The example, whole: the metadata is read first.
    [`({ customerId: 'cust${HIGH}', events: { review: { text: 'half ${HIGH.replace('c', 'd')}' } } })`, 'events.review.text'],
    [`({ customerId: 'cust${HIGH}', events: { login: {} } })`, 'customerId'],
    [`({ customerId: 'cust${LOW}x', events: { login: {} } })`, 'customerId'],
    [`({ email: 'a${HIGH}@shop.test', events: { login: {} } })`, 'email'],
    [`({ mobile: '+20${LOW}', events: { login: {} } })`, 'mobile'],
    [`({ events: { ['log${HIGH}in']: {} } })`, 'events.log\\ud83cin'],
    [`({ events: { review: { ['k${HIGH}']: 1 } } })`, 'events.review.k\\ud83c'],
    [`({ events: { review: { a: [1, { b: ['ok', 'x${LOW}'] }] } } })`, 'events.review.a[1].b[1]'],
    // A surrogate pair in the wrong order is two lone surrogates.
    [`({ events: { review: { t: '\\udc00\\ud83c' } } })`, 'events.review.t'],
  ];
  for (const [source, field] of cases) {
    const outcome = await page.evaluate(async (source) => {
      // eslint-disable-next-line no-eval
      const event = (0, eval)(source);
      const viaCallback = await new Promise((resolve) => {
        window.tracker.sendEvent(event, (response, error) => resolve({ code: error?.code, message: error?.message }));
      });
      const viaPromise = await window.gb.sendEvent(event).then(() => ({ code: 'delivered' }), (e) => ({ code: e.code, message: e.message }));
      return { viaCallback, viaPromise, pending: window.tracker.pending() };
    }, source);
    for (const got of [outcome.viaCallback, outcome.viaPromise]) {
      assert.equal(got.code, 'invalid_event', source);
      assert.ok(got.message.startsWith(`${field} is not valid Unicode text`), `${source}: ${got.message}`);
    }
    assert.equal(outcome.pending, 0, source);
  }
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('gb1:') && !k.includes('~'))), []);
  await page.evaluate(() => window.tracker.flush());
  assert.equal((await eventRequests(env.server)).length, 0, 'nothing was sent');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('customerWidget and setCustomer: a lone surrogate in any string field is invalid_config naming it', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  const configCases = [
    ['apiKey', `{ apiKey: 'demo${HIGH}' }`],
    ['customerId', `{ customerId: 'c${HIGH}' }`],
    ['email', `{ email: 'e${LOW}' }`],
    ['mobile', `{ mobile: 'm${HIGH}' }`],
    ['lang', `{ lang: 'e${HIGH}' }`],
    ['sessionToken', `{ sessionToken: 't${HIGH}' }`],
    ['apiBase', `{ apiBase: ORIGIN + '/${HIGH}' }`],
    ['widget.scriptUrl', `{ widget: { scriptUrl: ORIGIN + '/w${HIGH}.js' } }`],
    ['customerAttributes.displayName', `{ customerAttributes: { displayName: 'Zo${HIGH}' } }`],
    ['customerAttributes.custom.k\\udc00', `{ customerAttributes: { custom: { ['k${LOW}']: 1 } } }`],
    // A key of the config itself (only read to refuse secret keys).
    ['x\\ud83c', `{ ['x${HIGH}']: 1 }`],
  ];
  for (const [field, source] of configCases) {
    const thrown = await page.evaluate(({ source, origin }) => {
      // eslint-disable-next-line no-eval
      const extra = (0, eval)(`(ORIGIN) => (${source})`)(origin);
      try {
        window.gb.customerWidget({ apiKey: 'demo-public-key', apiBase: origin, widget: false, ...extra });
        return null;
      } catch (e) {
        return { name: e.name, className: e.constructor.name, code: e.code, message: e.message };
      }
    }, { source, origin: env.server.url });
    assert.ok(thrown, `${field}: accepted`);
    assert.equal(thrown.name, 'GameballError', field);
    assert.equal(thrown.className, 'GameballError', `${field}: constructor.name`);
    assert.equal(thrown.code, 'invalid_config', field);
    assert.ok(thrown.message.startsWith(`${field} is not valid Unicode text`), `${field}: ${thrown.message}`);
  }

  await page.evaluate((origin) => {
    window.tracker = window.gb.customerWidget({ apiKey: 'demo-public-key', apiBase: origin, widget: false, customerId: 'before' });
  }, env.server.url);
  const customerCases = [
    ['customerId', `{ customerId: 'c${HIGH}' }`],
    ['email', `{ customerId: 'c', email: 'e${HIGH}' }`],
    ['mobile', `{ customerId: 'c', mobile: 'm${LOW}' }`],
    ['sessionToken', `{ customerId: 'c', sessionToken: 't${HIGH}' }`],
    ['customerAttributes.displayName', `{ customerId: 'c', customerAttributes: { displayName: 'Zo${HIGH}' } }`],
  ];
  for (const [field, source] of customerCases) {
    const returned = await page.evaluate((source) => {
      // eslint-disable-next-line no-eval
      const error = window.tracker.setCustomer((0, eval)(`(${source})`));
      return error && { code: error.code, message: error.message };
    }, source);
    assert.equal(returned?.code, 'invalid_config', field);
    assert.ok(returned.message.startsWith(`${field} is not valid Unicode text`), `${field}: ${returned.message}`);
  }
  // Each refusal left the tracker as it was: its customer is still `before`.
  const response = await page.evaluate(() => window.tracker.sendEvent({ events: { login: {} } }));
  assert.equal(response.ok, true);
  const events = await acceptedEvents(env.server);
  assert.deepEqual(events.map((e) => e.customerId), ['before']);
  await context.close();
});

test('valid surrogate pairs (emoji, flags, ZWJ sequences, astral CJK) reach the server exactly as given', async () => {
  const { context, page } = await trackerPage();
  const texts = {
    emoji: '😀',
    flag: '🇪🇬',
    family: '👨‍👩‍👧‍👦',
    skin: '👍🏽',
    cjk: '𠀋𡈽',
    mixed: 'Zoë ❤️ 🏳️‍🌈 ok',
  };
  const customerId = 'cust_🇪🇬_😀';
  const response = await page.evaluate(({ customerId, texts }) => window.tracker.sendEvent({
    customerId, email: '😀@shop.test', events: { review: { ...texts, ['key_👨‍👩‍👧']: texts.family, nested: [texts.flag] } },
  }), { customerId, texts });
  assert.equal(response.ok, true);
  const [event] = await acceptedEvents(env.server);
  assert.equal(event.customerId, customerId);
  assert.equal(event.email, '😀@shop.test');
  assert.deepEqual(event.metadata, { ...texts, 'key_👨‍👩‍👧': texts.family, nested: [texts.flag] });
  // Compared as UTF-16 code units too: not one U+FFFD anywhere.
  assert.ok(!JSON.stringify(event).includes('\ufffd'));
  await context.close();
});

test('a header value fetch cannot carry is refused where it enters; other customers are not held up', async () => {
  const context = await env.browser.newContext();
  const page = await openBlank(context, env.server);
  const refusals = await page.evaluate((origin) => {
    const tries = [
      { sessionToken: 'tok€n' },
      { sessionToken: 'tok\u0100' },
      { sessionToken: 'tok\r\nX-Other: 1' },
      { sessionToken: ' tok' },
      { apiKey: 'demo-public-key€' },
    ];
    return tries.map((extra) => {
      try {
        window.gb.customerWidget({ apiKey: 'demo-public-key', apiBase: origin, widget: false, ...extra });
        return null;
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    });
  }, env.server.url);
  const fields = ['sessionToken', 'sessionToken', 'sessionToken', 'sessionToken', 'apiKey'];
  refusals.forEach((got, i) => {
    assert.equal(got?.code, 'invalid_config', `try ${i}`);
    assert.ok(got.message.startsWith(fields[i]), got.message);
  });

  // A token refreshed to a value no header can carry: refused by setCustomer, the tracker
  // keeps its customer and token, and every customer's events keep going.
  const outcome = await page.evaluate(async (origin) => {
    const tracker = window.gb.customerWidget({
      apiKey: 'demo-public-key', apiBase: origin, widget: false, customerId: 'tok_a', sessionToken: 'good-token',
    });
    const error = tracker.setCustomer({ customerId: 'tok_a', sessionToken: 'tok€n' });
    const results = await Promise.allSettled([
      tracker.sendEvent({ events: { login: {} } }),
      tracker.sendEvent({ customerId: 'tok_b', events: { login: {} } }),
      tracker.sendEvent({ customerId: 'tok_c', events: { login: {} } }),
    ]);
    return {
      error: error && { code: error.code, message: error.message },
      results: results.map((r) => (r.status === 'fulfilled' ? r.value.ok : r.reason.code)),
      stats: tracker.stats(),
    };
  }, env.server.url);
  assert.equal(outcome.error?.code, 'invalid_config');
  assert.ok(outcome.error.message.startsWith('sessionToken cannot be sent as an HTTP header'), outcome.error.message);
  assert.deepEqual(outcome.results, [true, true, true]);
  assert.equal(outcome.stats.circuitOpen, false);
  // A request that fails inside fetch gets no answer: it is resent as an unknown fate.
  assert.equal(outcome.stats.resentUnknown, 0, 'no request failed inside fetch');
  const requests = await eventRequests(env.server);
  const tokens = requests.map((r) => r.headers['x-gb-token']).filter(Boolean);
  assert.deepEqual(tokens, ['good-token'], 'tok_a kept its good token');
  assert.deepEqual(page.errors, []);
  await context.close();
});
