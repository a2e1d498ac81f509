// Several tabs of one shop in real Chromium (one browser context: shared localStorage, Web
// Locks and BroadcastChannel), against the local server: one sender, outcomes relayed to the
// tab that asked, take-over when the sender closes, leaving the page, a foreign
// localStorage.clear(), the circuit breaker, and a small chaos run.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { launch, control, eventually } from './harness.mjs';
import { startChaosServer, runChaos } from '../chaos/run.mjs';

let server;
let browser;

before(async () => {
  server = await startChaosServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

beforeEach(async () => {
  await control(server, '/__gb/reset', {});
});

async function openTab(context, query = '') {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/page.html${query}`);
  await page.waitForFunction(() => document.title === 'ready', null, { timeout: 15_000 });
  page.errors = errors;
  return page;
}

const stats = (page) => page.evaluate(() => window.chaos.stats());

/** How many times the server accepted each chaos id. */
async function arrivals() {
  const counts = {};
  for (const e of await control(server, '/__gb/events')) {
    const id = e.metadata?.chaos_id;
    if (id) counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

/**
 * Each of `ids` arrived, and any second arrival is one the tracker counted: closing a tab
 * while the network comes back can let the closing tab's request out after the tab lost
 * sight of it, and the new sender then sends it again (`resentUnknownTotal`).
 */
async function onceOrCounted(page, ids) {
  const got = await arrivals();
  assert.deepEqual(Object.keys(got).sort(), [...ids].sort());
  const duplicates = Object.values(got).reduce((n, c) => n + c - 1, 0);
  const counted = (await stats(page)).resentUnknownTotal;
  assert.ok(duplicates <= counted, `${duplicates} duplicates, ${counted} counted`);
}

/** One tab, sending, and a server whose next answer takes 1.5 s (so a request is still out
 * when the page goes away). */
async function oneTabAndASlowServer() {
  const context = await browser.newContext();
  const page = await openTab(context);
  await senderOf([page]);
  await control(server, '/__gb/faults', { count: 1, delayMs: 1500 });
  return { context, page };
}

/** `page` holds the sender role, has nothing left to send, and `ids` each arrived (twice
 * only inside the counted window). */
async function tookOver(page, ids) {
  await eventually(async () => (await stats(page)).sender, 'the remaining tab took over');
  await eventually(async () => (await stats(page)).queued === 0, 'nothing left to send');
  await onceOrCounted(page, ids);
}

async function senderOf(pages) {
  return eventually(async () => {
    const roles = await Promise.all(pages.map(stats));
    const senders = roles.filter((s) => s.sender).length;
    return senders === 1 ? pages[roles.findIndex((s) => s.sender)] : null;
  }, 'exactly one sender');
}

/** Two tabs, the first sending; the browser offline (so nothing is in flight: Chromium may
 * retry a dropped POST on its own, even after the tab that made it is gone); `events` queued
 * by the second tab and adopted by the sender. */
async function twoTabsWithABacklog(events) {
  const context = await browser.newContext();
  const a = await openTab(context);
  const b = await openTab(context);
  await senderOf([a, b]);
  await context.setOffline(true);
  await b.evaluate((batch) => window.chaos.send(batch), events);
  await eventually(async () => (await stats(a)).queued === events.length, 'the sender adopted them');
  return { context, a, b };
}

test('one tab sends for all, and the tab that asked gets its outcome', async () => {
  const context = await browser.newContext();
  const a = await openTab(context);
  const b = await openTab(context);
  const sender = await senderOf([a, b]);
  assert.equal(sender, a, 'the first tab holds the sender role');
  const outcome = await b.evaluate(() => window.chaos.sendOne('tab-c1', 'add_to_cart', 'from-b'));
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.equal(outcome.response.status, 200);
  assert.deepEqual(await arrivals(), { 'from-b': 1 });
  assert.equal((await stats(b)).sender, false, 'the follower did not send it');
  assert.equal((await stats(b)).sent, 1, "the follower counts its event's delivery");
  // A follower's flush() asks the sender, and settles once the sender has nothing in flight.
  const flushed = await b.evaluate(() => {
    window.chaos.send([
      { id: 'flush-1', customer: 'tab-c2', name: 'view_product' },
      { id: 'flush-2', customer: 'tab-c3', name: 'view_product' },
    ]);
    return window.chaos.flush();
  });
  assert.deepEqual(flushed, { sent: 2, failed: 0, pending: 0 });
  assert.deepEqual(await arrivals(), { 'from-b': 1, 'flush-1': 1, 'flush-2': 1 });
  assert.deepEqual([...a.errors, ...b.errors], []);
  await context.close();
});

test('when the sending tab closes, another takes over and sends each waiting event once', async () => {
  const { context, a, b } = await twoTabsWithABacklog(
    ['w1', 'w2', 'w3', 'w4', 'w5'].map((id, i) => ({ id, customer: `tab-c${i % 2}`, name: `ev_${i}` })),
  );
  await a.close();
  await context.setOffline(false);
  const started = Date.now();
  await eventually(async () => Object.keys(await arrivals()).length === 5, 'all five delivered', 20_000);
  const tookMs = Date.now() - started;
  await tookOver(b, ['w1', 'w2', 'w3', 'w4', 'w5']);
  console.log(`# take-over: the second tab delivered the backlog ${tookMs} ms after the sender closed`);
  await context.close();
});

test('the last tab leaving sends what waits with keepalive; the next page does not send it again', async () => {
  const { context, page } = await oneTabAndASlowServer();
  await page.evaluate(() => {
    window.chaos.send([{ id: 'leaving', customer: 'tab-c1', name: 'checkout' }]);
    location.href = '/page.html?next';
  });
  await page.waitForFunction(() => document.title === 'ready' && location.search === '?next');
  await eventually(async () => (await arrivals()).leaving === 1, 'the keepalive request arrived');
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(await arrivals(), { leaving: 1 }, 'delivered once, not again by the next page');
  const next = await stats(page);
  assert.equal(next.queued, 0);
  assert.equal(next.sent, 0, 'the next page had nothing to send');
  await context.close();
});

test('without Web Locks and BroadcastChannel: a localStorage lease elects the sender and storage events carry outcomes', async () => {
  const context = await browser.newContext();
  // An older browser: neither API exists before the package loads.
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    delete window.BroadcastChannel;
  });
  const a = await openTab(context);
  const b = await openTab(context);
  assert.equal(await a.evaluate(() => navigator.locks === undefined && !('BroadcastChannel' in window)), true);
  const sender = await senderOf([a, b]);
  const follower = sender === a ? b : a;
  const outcome = await follower.evaluate(() => window.chaos.sendOne('lease-c1', 'signup', 'lease-1'));
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.deepEqual(await arrivals(), { 'lease-1': 1 });
  // The lease holder closes: the other tab's lease check takes over within a few seconds.
  await context.setOffline(true);
  await follower.evaluate(() => window.chaos.send([{ id: 'lease-2', customer: 'lease-c1', name: 'review' }]));
  await eventually(async () => (await stats(sender)).queued === 1, 'the sender adopted it');
  const started = Date.now();
  await sender.close();
  await context.setOffline(false);
  await eventually(async () => (await stats(follower)).sender, 'the other tab holds the lease', 10_000);
  console.log(`# lease take-over: the other tab sends ${Date.now() - started} ms after the lease holder closed`);
  await eventually(async () => (await arrivals())['lease-2'] >= 1, 'lease-2 delivered', 20_000);
  await tookOver(follower, ['lease-1', 'lease-2']);
  await context.close();
});

test("without Web Locks: a tab whose clock jumps an hour forward does not take a live sender's lease", async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    delete window.BroadcastChannel;
    const real = Date.now.bind(Date);
    let step = 0;
    Date.now = () => real() + step;
    window.stepClock = (ms) => { step += ms; };
  });
  const a = await openTab(context);
  const b = await openTab(context);
  const sender = await senderOf([a, b]);
  const follower = sender === a ? b : a;
  await follower.evaluate(() => window.stepClock(3_600_000));
  // Longer than the lease (3 s) and a renewal: a lease judged by wall times would be over.
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal((await stats(sender)).sender, true, 'the live sender keeps the role');
  assert.equal((await stats(follower)).sender, false, 'no second sender');
  // Events from the tab with the jumped clock still go through the one sender.
  const outcome = await follower.evaluate(() => window.chaos.sendOne('jump-c1', 'signup', 'jump-1'));
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.deepEqual(await arrivals(), { 'jump-1': 1 });
  await context.close();
});

test('a sender that loses its lease with a request out announces the answer: the tab that asked gets one outcome, a second copy only inside the counted window', async () => {
  const context = await browser.newContext();
  // The lease fallback (no Web Locks, no BroadcastChannel): the role can be taken away.
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    delete window.BroadcastChannel;
  });
  const tabs = [await openTab(context), await openTab(context), await openTab(context)];
  const sender = await senderOf(tabs);
  const [asker, other] = tabs.filter((t) => t !== sender);
  // The answer to the sender's request comes 6 s after the request.
  await control(server, '/__gb/faults', { count: 1, delayMs: 6000 });
  await asker.evaluate(() => window.chaos.send([{ id: 'role-1', customer: 'role-c1', name: 'add_to_cart' }]));
  await eventually(async () => (await control(server, '/__gb/log')).requests
    .some((r) => r.method === 'POST' && r.path.includes('/integrations/events')), 'the sender sent it', 10_000);
  // The sender's page is stuck for 5 s (a long task; its lease is 3 s): another tab takes
  // the role while the request is out, and the stuck page hears the answer as a follower.
  const stuck = sender.evaluate(() => { const end = Date.now() + 5000; while (Date.now() < end) { /* busy */ } });
  const successor = await eventually(async () => {
    for (const t of [asker, other]) if ((await stats(t)).sender) return t;
    return null;
  }, 'another tab took the lease', 15_000);
  await stuck;
  await eventually(async () => !(await stats(sender)).sender, 'the old sender follows', 10_000);
  const outcomes = () => asker.evaluate(() => ({ ok: window.chaos.outcomes.ok, failed: window.chaos.outcomes.failed }));
  await eventually(async () => (await outcomes()).ok === 1, 'the asking tab got its outcome', 20_000);
  for (const t of tabs) await eventually(async () => (await stats(t)).queued === 0, 'nothing left', 20_000);
  await asker.evaluate(() => window.chaos.flush());
  assert.deepEqual(await outcomes(), { ok: 1, failed: 0 }, 'exactly one outcome');
  await onceOrCounted(successor, ['role-1']);
  for (const t of tabs) assert.deepEqual(t.errors, []);
  await context.close();
});

test('a page restored from the back/forward cache keeps what it handed over out of storage and takes its answer', async () => {
  const { context, page } = await oneTabAndASlowServer();
  const outcome = page.evaluate(() => window.chaos.sendOne('bf-c1', 'add_to_cart', 'bfcache'));
  await eventually(async () => (await stats(page)).queued === 1, 'queued');
  // The page is put in the back/forward cache and comes back (the events a browser fires).
  const storedWhileAway = await page.evaluate(async () => {
    await new Promise((r) => setTimeout(r, 50));
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
    const away = Object.keys(localStorage).filter((k) => !k.includes('~')).length;
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
    return away;
  });
  assert.equal(storedWhileAway, 0, 'handed to keepalive: out of storage while away');
  // Not written back while it waits for the answer: another tab may hold the sender role by
  // now and would send it again (the engine fuzz target's finding, session 9).
  assert.equal(
    await page.evaluate(() => Object.keys(localStorage).filter((k) => !k.includes('~')).length),
    0,
    'still out of storage once restored',
  );
  const result = await outcome;
  assert.equal(result.ok, true, JSON.stringify(result));
  await eventually(async () => (await stats(page)).queued === 0, 'settled');
  const s = await stats(page);
  assert.equal(s.sentOnExit, 1);
  // What it handed over as it "left" was not lost on coming back: the page took the
  // request's answer, and the event went out once.
  assert.deepEqual(await arrivals(), { bfcache: 1 });
  assert.equal(result.response.status, 200);
  assert.equal(s.resentUnknown, 0);
  await context.close();
});

test('a frozen page resumed takes the answer to its request and sends nothing again', async () => {
  const { context, page } = await oneTabAndASlowServer();
  const outcome = page.evaluate(() => window.chaos.sendOne('fz-c1', 'add_to_cart', 'frozen'));
  await eventually(async () => (await stats(page)).queued === 1, 'queued');
  // Chromium's page lifecycle: hidden, then frozen while the server answers, then resumed.
  const cdp = await context.newCDPSession(page);
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  await eventually(async () => (await arrivals()).frozen === 1, 'the request arrived while frozen');
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const result = await outcome;
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.equal(result.response.status, 200);
  await eventually(async () => (await stats(page)).queued === 0, 'settled');
  await page.evaluate(() => window.chaos.flush());
  assert.deepEqual(await arrivals(), { frozen: 1 });
  assert.equal((await stats(page)).resentUnknown, 0);
  await context.close();
});

test("another script's localStorage.clear() loses nothing", async () => {
  const { context, a, b } = await twoTabsWithABacklog(
    ['c1', 'c2', 'c3'].map((id, i) => ({ id, customer: 'tab-c1', name: `ev_${i}` })),
  );
  await b.evaluate(() => localStorage.clear());
  // The records are written back from memory: a reload now would still find them.
  await eventually(
    () => b.evaluate(() => Object.keys(localStorage).filter((k) => !k.includes('~')).length === 3),
    'the records are back in storage',
  );
  assert.ok((await stats(a)).restored >= 3, 'the sender counts what it restored');
  await context.setOffline(false);
  await a.evaluate(() => window.chaos.flush());
  await eventually(async () => Object.keys(await arrivals()).length === 3, 'all three delivered', 20_000);
  assert.deepEqual(await arrivals(), { c1: 1, c2: 1, c3: 1 });
  await context.close();
});

test('requests that never reach a server use up no attempts (maxAttempts 2, eight failures) and open the circuit breaker', async () => {
  const context = await browser.newContext();
  // Port 9 refuses connections at once, like an ad blocker or a DNS failure would.
  const page = await openTab(context, '?apiBase=http://127.0.0.1:9&maxAttempts=2');
  await senderOf([page]);
  const outcome = page.evaluate(() => window.chaos.sendOne('tab-c1', 'signup', 'blocked'));
  for (let i = 0; i < 8; i++) {
    await page.evaluate(() => window.chaos.flush());
  }
  const s = await stats(page);
  assert.equal(s.circuitOpen, true, 'the breaker opened');
  assert.equal(s.queued, 1, 'eight failures, maxAttempts 2: the event is still kept');
  assert.deepEqual(s.dropped, {});
  // The merchant fixes the endpoint (a first-party proxy, say): the probe goes, the breaker closes.
  await page.evaluate(() => window.chaos.reconfigure({ maxAttempts: 2 }));
  await page.evaluate(() => window.chaos.flush());
  const result = await outcome;
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.deepEqual(await arrivals(), { blocked: 1 });
  assert.equal((await stats(page)).circuitOpen, false);
  await context.close();
});

test('a small chaos run loses nothing and duplicates only inside the counted window', async () => {
  const r = await runChaos({ events: 600, tabs: 3, rate: 80, seed: 7 });
  console.log(`# chaos (small): ${JSON.stringify({ ...r, lostIds: undefined, pageErrors: r.pageErrors.length })}`);
  assert.equal(r.lost, 0, `lost: ${r.lostIds.join(',')}`);
  assert.equal(r.outsideWindow, 0, `${r.duplicated} duplicates, ${r.countedWindow} counted`);
  assert.deepEqual(r.pageErrors, []);
  assert.equal(r.senders, 1, 'one sender at the end');
  // Voucherify, at the same time from the same tabs.
  assert.ok(r.voucherify.events > 0);
  assert.equal(r.voucherify.lost, 0, `Voucherify lost: ${r.voucherify.lostIds.join(',')}`);
  assert.equal(r.voucherify.outsideWindow, 0, `Voucherify: ${r.voucherify.duplicated} duplicates, ${r.voucherify.countedWindow} counted`);
  assert.equal(r.voucherify.senders, 1, 'one Voucherify sender at the end');
});
