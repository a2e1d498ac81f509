// The package's essential scenarios in Chromium, Firefox and WebKit, against the local server:
// one `describe` per engine, and a summary line per engine (`# engine firefox: 10 passed, 0
// failed in 41 s`). GB_ENGINES=firefox,webkit picks engines.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../server/gameball-server.mjs';
import { control, acceptedEvents, eventRequests, eventually, SCREENSHOTS } from '../e2e/harness.mjs';
import { walkThrough } from './walkthrough.mjs';
import { ENGINES, launchEngine } from './engines.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const engines = (process.env.GB_ENGINES || ENGINES.join(',')).split(',').filter(Boolean);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server;
before(async () => {
  server = await startServer({
    port: 0,
    quiet: true,
    static: [
      { prefix: '/pkg', dir: path.join(ROOT, 'pkg') },
      { prefix: '/t', dir: path.join(ROOT, 'tests', 'engines', 'pages') },
      { prefix: '/e2e-pages', dir: path.join(ROOT, 'tests', 'e2e', 'pages') },
      { prefix: '/', dir: path.join(ROOT, 'www') },
    ],
    // Cacheable pages: `no-store` keeps a page out of Chromium's back/forward cache, and a
    // shop's product pages are usually cacheable.
    headers: { 'Cache-Control': 'no-cache' },
  });
});
after(() => server?.close());

const event = (customerId, name, metadata = {}) => JSON.stringify({ customerId, events: { [name]: metadata } });

/** Accepted events carrying `metadata.tag === tag`. */
async function accepted(tag) {
  return (await acceptedEvents(server)).filter((e) => e.metadata?.tag === tag);
}

/** Waits for `win` to show `pathname` with its page ready. */
async function arrivedAt(win, pathname) {
  await eventually(async () => {
    try {
      return (await win.read('location.pathname + " " + document.readyState + " " + document.title'))
        === `${pathname} complete ready`;
    } catch (_) {
      return false; // navigating
    }
  }, `${win.engine} at ${pathname}`, 20_000);
}

async function outcomesOf(win, tag, count = 1) {
  return eventually(async () => {
    const all = await win.call('outcomes');
    return all[tag]?.length >= count ? all[tag] : null;
  }, `${win.engine}: outcome of ${tag}`, 20_000);
}

/** Exactly one outcome for `tag`, still one after the tracker had time to settle again. */
async function oneOutcome(win, tag) {
  await outcomesOf(win, tag);
  await win.call('flush');
  const all = await win.call('outcomes');
  assert.equal(all[tag].length, 1, `${tag}: ${JSON.stringify(all[tag])}`);
  return all[tag][0];
}

async function senderOf(wins) {
  return eventually(async () => {
    const roles = [];
    for (const w of wins) roles.push((await w.call('stats')).sender);
    return roles.filter(Boolean).length === 1 ? wins[roles.indexOf(true)] : null;
  }, 'exactly one sender');
}

for (const name of engines) {
  describe(name, () => {
    let engine;
    let passed = 0;
    let failed = 0;
    let started;
    const shop = (query = '') => `${server.url}/t/shop.html${query}`;
    const open = async (url, { ready = true } = {}) => {
      const win = await engine.open(url);
      if (ready) await win.waitReady();
      return win;
    };

    /**
     * A window whose tracker holds the sender role. A page that leaves before its tab was
     * elected sends nothing itself (the README's "leaving in the first moments"): its events
     * wait for the next page of the store. Web Locks took longer than a test's round trip
     * after `customerWidget` on the loaded machine (the cause of an old flake here).
     */
    const openSender = async (url) => {
      const win = await open(url);
      await senderOf([win]);
      return win;
    };

    /** A test whose result counts in this engine's summary line. */
    const check = (title, fn) => test(title, async () => {
      try {
        await fn();
        passed += 1;
      } catch (error) {
        failed += 1;
        throw error;
      }
    });

    before(async () => {
      started = Date.now();
      engine = await launchEngine(name);
      console.log(`# engine ${name}: ${engine.version}`);
    });
    after(async () => {
      const blackHole = engine?.blackHole;
      await engine?.close();
      if (blackHole) {
        const hosts = [...blackHole.hits].map(([h, n]) => `${h} ${n}`).join(', ') || 'none';
        console.log(`# engine ${name}: ${blackHole.total()} outbound connection attempts to non-local hosts, all black-holed (${hosts})`);
      }
      console.log(`# engine ${name}: ${passed} passed, ${failed} failed in ${Math.round((Date.now() - started) / 1000)} s`);
    });
    beforeEach(async () => {
      await control(server, '/__gb/reset', {});
      await engine.fresh(server.url);
    });

    check('delivers with a callback and with a Promise, one outcome each', async () => {
      const win = await open(shop());
      const a = await win.call('send', 'cb', event('c-deliver', 'add_to_cart', { tag: 'cb', price: 1350 }), 'callback');
      const b = await win.call('send', 'pr', event('c-deliver', 'login', { tag: 'pr' }), 'promise');
      assert.deepEqual([a.returned, b.returned], ['undefined', 'promise']);
      for (const tag of ['cb', 'pr']) {
        const outcome = await oneOutcome(win, tag);
        assert.equal(outcome.ok, true, JSON.stringify(outcome));
        assert.equal(outcome.status, 200);
        assert.match(outcome.id, /\S/);
        assert.equal((await accepted(tag)).length, 1);
      }
      assert.equal((await win.call('stats')).queued, 0);
    });

    check('bad input is invalid_event in both forms, never queued or sent', async () => {
      const win = await open(shop());
      await win.call('sendInvalid', 'nan-cb', 'callback');
      await win.call('sendInvalid', 'nan-pr', 'promise');
      await win.call('send', 'name', JSON.stringify({ customerId: 'c-bad', events: { 'bad name!': {} } }), 'promise');
      for (const tag of ['nan-cb', 'nan-pr', 'name']) {
        const [outcome] = await outcomesOf(win, tag);
        assert.equal(outcome.ok, false);
        assert.equal(outcome.code, 'invalid_event', outcome.message);
        assert.equal(outcome.gameballError, true, 'a GameballError of the page');
        assert.equal(outcome.className, 'GameballError', 'constructor.name');
      }
      assert.match((await win.call('outcomes'))['nan-cb'][0].message, /NaN/);
      assert.equal(await win.call('records'), 0);
      assert.deepEqual(await eventRequests(server), []);
    });

    check('an event queued while the server is unreachable survives a reload and is delivered once', async () => {
      await control(server, '/__gb/offline', { offline: true });
      const win = await open(shop());
      await win.call('send', 'reload', event('c-reload', 'add_to_cart', { tag: 'reload' }), 'callback');
      assert.equal(await win.call('records'), 1, 'in storage before sendEvent returned');
      await win.call('reload');
      await sleep(200);
      await arrivedAt(win, '/t/shop.html');
      assert.equal(await win.call('records'), 1, 'still in storage after the reload');
      await control(server, '/__gb/offline', { offline: false });
      await win.call('flush');
      await eventually(async () => (await accepted('reload')).length === 1, 'delivered after the reload', 20_000);
      const reports = await eventually(async () => {
        const list = await win.call('reports');
        return list.length ? list : null;
      }, 'onDelivery on the reloaded page');
      assert.equal(reports[0].ok, true);
      assert.deepEqual(reports[0].eventNames, ['add_to_cart']);
      await eventually(async () => (await win.call('stats')).queued === 0, 'nothing left');
      assert.equal((await accepted('reload')).length, 1);
    });

    check('a 503 with Retry-After is retried and delivered, attempts 2', async () => {
      await control(server, '/__gb/faults', { count: 1, status: 503, retryAfter: '1' });
      const win = await open(shop());
      await win.call('send', 'retry', event('c-retry', 'add_to_cart', { tag: 'retry' }));
      const outcome = await oneOutcome(win, 'retry');
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.equal(outcome.attempts, 2);
      const statuses = (await eventRequests(server)).map((r) => r.status);
      assert.deepEqual(statuses, [503, 200]);
      assert.equal((await win.call('stats')).retried, 1);
    });

    // A new user's finding: one 503 for each of ten customers' first requests held every
    // send for 107–219 s (the back-off doubled once per failed request).
    check('a brief outage met by ten customers at once backs off as one failure: all delivered within seconds', async () => {
      const win = await open(shop());
      await control(server, '/__gb/faults', { count: 10, status: 503 });
      for (let i = 0; i < 10; i++) await win.call('send', `blip-${i}`, event(`c-blip-${i}`, 'login', { tag: 'blip', i }));
      await eventually(async () => (await accepted('blip')).length === 10, 'all ten delivered', 8_000);
      for (let i = 0; i < 10; i++) assert.equal((await oneOutcome(win, `blip-${i}`)).ok, true);
    });

    check('a server that never answers: the request is given up after 10 s and sent again, no attempt spent', async () => {
      // WebKit never rejected an aborted fetch made from a Request object once that object was
      // collected: the customer's events waited for ever (a new user's finding, session 7).
      await control(server, '/__gb/faults', { count: 1, hang: true });
      const win = await open(shop());
      await win.call('send', 'hung', event('c-hung', 'add_to_cart', { tag: 'hung' }));
      await win.call('send', 'hung-next', event('c-hung', 'purchase', { tag: 'hung-next' }));
      // Aborted at 10 s; the test server keeps the customer busy (2001) for 12 s, as Gameball
      // would while it still works on the request; then it goes.
      await eventually(async () => (await win.call('outcomes'))['hung-next'], `${name}: hung-next`, 40_000);
      for (const tag of ['hung', 'hung-next']) {
        const outcome = await oneOutcome(win, tag);
        assert.equal(outcome.ok, true, `${tag}: ${JSON.stringify(outcome)}`);
        assert.equal(outcome.attempts, 1, `${tag}: an unanswered request spends no attempt`);
        assert.equal((await accepted(tag)).length, 1, `${tag} delivered once`);
      }
      assert.ok((await win.call('stats')).resentUnknown >= 1, 'the resend is counted');
    });

    check('page globals that throw, return nonsense or call the tracker back never break it', async () => {
      const win = await open(shop());
      const { threw, tags } = await win.call('hostileGlobals');
      assert.deepEqual(threw, [], 'nothing escapes a tracker call');
      // Each inner tag was sent from inside a call the tracker made (storage, clock, console).
      for (const inner of ['getitem-inner', 'date-inner', 'debug-inner']) assert.ok(tags.includes(inner), `${inner}: ${tags}`);
      await win.call('send', 'after', event('c-after', 'add_to_cart', { tag: 'after' }));
      for (const tag of [...tags, 'after']) {
        const outcome = await oneOutcome(win, tag);
        assert.equal(outcome.ok, true, `${tag}: ${JSON.stringify(outcome)}`);
        assert.equal((await accepted(tag)).length, 1, `${tag} delivered once`);
      }
      assert.deepEqual(win.errors, [], 'no uncaught error in the page');
    });

    check('two windows: one sender, one POST per event, each window gets its outcome', async () => {
      const a = await open(shop());
      const b = await open(shop());
      const sender = await senderOf([a, b]);
      const follower = sender === a ? b : a;
      await a.call('send', 'from-a', event('c-two-a', 'add_to_cart', { tag: 'from-a' }), 'callback');
      await b.call('send', 'from-b', event('c-two-b', 'add_to_cart', { tag: 'from-b' }), 'promise');
      for (const [win, tag] of [[a, 'from-a'], [b, 'from-b']]) {
        const outcome = await oneOutcome(win, tag);
        assert.equal(outcome.ok, true, `${tag}: ${JSON.stringify(outcome)}`);
      }
      assert.equal((await eventRequests(server)).length, 2, 'one POST per event');
      assert.equal((await accepted('from-a')).length, 1);
      assert.equal((await accepted('from-b')).length, 1);
      assert.equal((await follower.call('stats')).sender, false);
    });

    check('without Web Locks and BroadcastChannel: the lease and storage events take over', async () => {
      const a = await open(shop('?legacy=1'));
      const b = await open(shop('?legacy=1'));
      assert.deepEqual(await a.call('apis'), { locks: false, broadcastChannel: false, keepalive: true });
      const sender = await senderOf([a, b]);
      const follower = sender === a ? b : a;
      await follower.call('send', 'lease', event('c-lease', 'signup', { tag: 'lease' }));
      const outcome = await oneOutcome(follower, 'lease');
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.equal((await accepted('lease')).length, 1);
      assert.equal((await follower.call('stats')).sender, false, 'the follower did not send it');
    });

    // A first tester's finding (all three engines): the token of a customer signed in in a
    // tab that does not send never reached the sender, and their events went through v4.0.
    for (const legacy of [false, true]) {
      check(`a session token held by a tab that does not send rides with its customer's events${legacy ? ' (without BroadcastChannel: not shared, never in storage)' : ''}`, async () => {
        const query = legacy ? '?legacy=1' : '';
        const a = await open(shop(query));
        const b = await open(shop(query));
        const sender = await senderOf([a, b]);
        const other = sender === a ? b : a;
        for (const w of [a, b]) await w.call('watchStorage', 'jwe-');
        await other.call('setCustomer', 'c-tok', 'jwe-other');
        await other.call('send', 'tok-1', event('c-tok', 'login', { tag: 'tok-1' }));
        assert.equal((await oneOutcome(other, 'tok-1')).ok, true);
        await other.call('logout');
        await other.call('send', 'tok-2', event('c-tok', 'logout', { tag: 'tok-2' }));
        assert.equal((await oneOutcome(other, 'tok-2')).ok, true);
        const requests = await eventRequests(server);
        const of = (tag) => requests.filter((r) => JSON.stringify(r.body).includes(`"${tag}"`))
          .map((r) => [r.path, r.headers['x-gb-token'] ?? null]);
        const v41 = ['/api/v4.1/integrations/events', 'jwe-other'];
        const v40 = ['/api/v4.0/integrations/events', null];
        assert.deepEqual(of('tok-1'), [legacy ? v40 : v41], 'signed in');
        assert.deepEqual(of('tok-2'), [v40], 'after logout');
        assert.equal((await other.call('stats')).sender, false, 'the other tab sent them');
        for (const w of [a, b]) assert.deepEqual(await w.call('storageSaw'), [], 'a token written to storage');
      });
    }

    check('a localStorage that throws: storage "memory", and the event is still delivered', async () => {
      const win = await open(shop('?storage=throw'));
      assert.equal((await win.call('stats')).storage, 'memory');
      await win.call('send', 'mem', event('c-mem', 'add_to_cart', { tag: 'mem' }));
      const outcome = await oneOutcome(win, 'mem');
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.equal((await accepted('mem')).length, 1);
    });

    for (const next of ['plain', 'cart']) {
      check(`an event sent just before the page navigates away (next page ${next === 'cart' ? 'runs' : 'without'} the tracker) is delivered exactly once`, async () => {
        const win = await openSender(shop());
        // The answer takes a while: the request is still out when the page goes.
        await control(server, '/__gb/faults', { count: 1, delayMs: 500 });
        await win.call('sendAndGo', 'leave', event('c-leave', 'add_to_cart', { tag: 'leave' }), `/t/${next}.html`);
        await arrivedAt(win, `/t/${next}.html`);
        await eventually(async () => (await accepted('leave')).length === 1, 'delivered');
        if (next === 'cart') {
          await win.call('flush');
          const s = await win.call('stats');
          assert.equal(s.queued, 0, 'the next page found nothing to send');
          assert.equal(s.sent, 0);
        } else {
          await sleep(1500);
        }
        assert.equal((await eventRequests(server)).length, 1, 'one request');
        assert.equal((await accepted('leave')).length, 1);
      });
    }

    check('storage nearly full: what it refuses waits in memory, with no storm of rewrites, and is delivered once', async () => {
      const win = await open(shop());
      await control(server, '/__gb/offline', { offline: true });
      await win.call('fillStorage');
      for (let i = 0; i < 25; i++) {
        await win.call('send', `full-${i}`, event('c-full', 'add_to_cart', { tag: 'full', i, pad: 'p'.repeat(60) }), 'callback');
      }
      // Four flush intervals (1 s on this page) with events waiting and storage refusing
      // most writes: a missing marker was taken for a clear at each timeout, thousands of
      // rewrites a second in every engine.
      const writes = await win.call('countWrites', 4000);
      assert.ok(writes.sets < 100, `${writes.sets} writes (${writes.refused} refused) in 4 s`);
      const s = await win.call('stats');
      assert.equal(s.restored, 0, 'nothing was taken for removed');
      assert.equal(s.storage, 'memory');
      assert.equal(s.queued, 25);
      await win.call('freeStorage');
      await control(server, '/__gb/offline', { offline: false });
      await win.call('flush');
      await eventually(async () => (await accepted('full')).length >= 25, 'all 25 delivered', 20_000);
      await win.call('flush');
      const got = (await accepted('full')).map((e) => e.metadata.i).sort((a, b) => a - b);
      assert.deepEqual(got, [...Array(25).keys()], 'each once');
      for (let i = 0; i < 25; i++) assert.equal((await oneOutcome(win, `full-${i}`)).ok, true);
    });

    check('without keepalive fetch (Firefox before 133): nothing is handed over on leaving; the next page sends it', async () => {
      const win = await openSender(shop('?nokeepalive=1'));
      assert.equal((await win.call('apis')).keepalive, false);
      await control(server, '/__gb/faults', { count: 1, delayMs: 500 });
      await win.call('sendAndGo', 'nokeep', event('c-nokeep', 'add_to_cart', { tag: 'nokeep' }), '/t/cart.html');
      await arrivedAt(win, '/t/cart.html');
      // The record stayed in storage with its flight note: the cart page sends it again,
      // as for a request whose fate is unknown, and counts that resend.
      const s = await eventually(async () => {
        const now = await win.call('stats');
        return now.queued === 0 && now.sent === 1 ? now : null;
      }, 'the cart page delivered what the shop page left', 20_000);
      const copies = (await accepted('nokeep')).length;
      assert.ok(copies >= 1 && copies - 1 <= s.resentUnknownTotal, `${copies} copies, ${s.resentUnknownTotal} counted`);
    });

    /**
     * Waits for `win` to be on `/t/${next}.html`, lets the shopper look for 3 s, goes Back,
     * and tells whether the shop page came back from the back/forward cache.
     */
    async function backAgain(win, next, what) {
      await arrivedAt(win, `/t/${next}.html`);
      await sleep(3000);
      await win.read('void setTimeout(() => history.back(), 0)');
      await arrivedAt(win, '/t/shop.html');
      const lifecycle = await win.call('lifecycle');
      const restored = lifecycle.includes('pageshow:true');
      const why = restored ? '' : await win.read(
        'JSON.stringify(performance.getEntriesByType("navigation")[0]?.notRestoredReasons?.reasons ?? null)',
      );
      console.log(`# ${name}, ${what}: ${restored ? 'restored from the back/forward cache' : `loaded again (not restored: ${why})`}`);
      return restored;
    }

    /**
     * Runs `scenario` (it returns whether the page came back from the back/forward cache) until
     * it did, three times at most when `mustRestore`: on a loaded 2-core machine Chromium now
     * and then does not cache the page in time. Each attempt's own assertions hold.
     */
    async function untilRestored(mustRestore, scenario) {
      for (let attempt = 1; ; attempt++) {
        let restored = false;
        try {
          restored = await scenario();
        } catch (error) {
          // Seen once in WebKitGTK under load: after Back, the driver never reported the shop
          // page loaded (a WebDriver navigation hang, not a tracker outcome). Such an attempt
          // is tried again from a fresh window; any other failure stands.
          const hung = /timed out waiting for \S+ at \/t\/shop\.html/.test(String(error?.message));
          if (!hung || attempt >= 3) throw error;
          console.log(`# ${name}: Back did not finish loading (attempt ${attempt}); trying again`);
          await control(server, '/__gb/reset', {});
          await engine.fresh(server.url);
          continue;
        }
        if (restored || !mustRestore) return;
        assert.ok(attempt < 3, 'the page came back from the back/forward cache');
        await control(server, '/__gb/reset', {});
        await engine.fresh(server.url);
      }
    }

    // Issue 13 §3: "add to cart, view cart, Back". The shop page hands its request over as
    // it leaves; the answer comes while it is in the back/forward cache; Back restores it.
    // The examples of the issue (WebKit with the cart running the tracker, Chromium without)
    // must take the back/forward path, or the test proves nothing.
    for (const next of ['cart', 'plain']) {
      const example = (name === 'webkit' && next === 'cart') || (name === 'chromium' && next === 'plain');
      check(`a page restored from the back/forward cache does not send again (next page ${next === 'cart' ? 'runs' : 'without'} the tracker)`, () => untilRestored(example, async () => {
        const win = await openSender(shop());
        await control(server, '/__gb/faults', { count: 1, delayMs: 500 });
        await win.call('sendAndGo', 'bf', event('c-bf', 'add_to_cart', { tag: 'bf' }), `/t/${next}.html`);
        const restored = await backAgain(win, next, `next page ${next}`);
        if (restored) {
          // The answer if the engine hands it to the page (Chromium), or, where the
          // request's promise never settles after a restore (WebKit, Firefox), status 0 once
          // the page has waited as long as a request may take: handed over, not lost.
          const outcome = await oneOutcome(win, 'bf');
          assert.equal(outcome.ok, true, JSON.stringify(outcome));
          assert.ok([0, 200].includes(outcome.status), JSON.stringify(outcome));
          console.log(`# ${name}, next page ${next}: the restored page's outcome: status ${outcome.status}`);
        }
        await win.call('flush');
        await sleep(1000);
        assert.equal((await accepted('bf')).length, 1, 'Gameball got it once');
        assert.deepEqual((await eventRequests(server)).map((r) => r.status), [200]);
        const s = await win.call('stats');
        assert.equal(s.resentUnknown, 0);
        assert.equal(s.queued, 0);
        return restored;
      }));
    }

    // A new user's findings: with Web Locks, Chromium kept the lock of a sender sitting in the
    // back/forward cache (no tab sent until it came back), and WebKit dropped it without
    // telling the page (after Back both tabs sent, every later event twice).
    // Chromium now evicts the cached page (the new sender's BroadcastChannel messages reach
    // it: "broadcastchannel-message"), and Firefox does not cache it: only WebKit must restore.
    for (const legacy of [false, true]) {
    check(`two windows${legacy ? ' without Web Locks and BroadcastChannel' : ''}: while the sender is in the back/forward cache the other sends, and after Back there is one sender`, () => untilRestored(name === 'webkit', async () => {
      const query = legacy ? '?debug=1&legacy=1' : '?debug=1';
      const a = await open(shop(query));
      const b = await open(shop(query));
      const sender = await senderOf([a, b]);
      const other = sender === a ? b : a;
      // One event of the sender's own waits (the server unreachable) as it leaves: the other
      // tab delivers it, and the sender's page hears its outcome once it is back.
      await control(server, '/__gb/offline', { offline: true });
      await sender.call('send', 'left-behind', event('c-left', 'login', { tag: 'left-behind' }), 'callback');
      await eventually(async () => (await sender.call('stats')).retried + (await sender.call('pending')) >= 1, 'it waits');
      await sender.call('go', '/t/plain.html');
      await arrivedAt(sender, '/t/plain.html');
      await control(server, '/__gb/offline', { offline: false });
      for (let i = 0; i < 3; i++) await other.call('send', `away-${i}`, event('c-away', 'add_to_cart', { tag: 'away', i }));
      await eventually(async () => (await accepted('away')).length === 3, 'sent while the sender is away', 10_000);
      await eventually(async () => (await accepted('left-behind')).length === 1, 'its event delivered by the other tab', 15_000);
      const restored = await backAgain(sender, 'plain', 'the sender left for another page');
      if (restored) assert.equal((await oneOutcome(sender, 'left-behind')).ok, true);
      const one = await senderOf([sender, other]);
      for (let i = 0; i < 5; i++) {
        await sender.call('send', `after-s-${i}`, event(`c-after-${i % 2}`, 'add_to_cart', { tag: 'after', i }));
        await other.call('send', `after-o-${i}`, event(`c-after-${i % 2}`, 'write_review', { tag: 'after', i: 5 + i }));
      }
      for (let i = 0; i < 5; i++) {
        assert.equal((await oneOutcome(sender, `after-s-${i}`)).ok, true);
        assert.equal((await oneOutcome(other, `after-o-${i}`)).ok, true);
      }
      await sleep(1500);
      const copies = (await accepted('after')).length;
      const counted = Math.max(...await Promise.all([sender, other].map(async (w) => (await w.call('stats')).resentUnknownTotal)));
      // Nothing was out as the sender left, so there is no fate to doubt: no copy at all.
      assert.equal(copies, 10, `${copies} copies of 10 events (${counted} counted resends)`);
      assert.equal((await accepted('left-behind')).length, 1, JSON.stringify({
        requests: (await eventRequests(server)).filter((r) => JSON.stringify(r.body).includes('left-behind')).map((r) => [r.seq, r.status, r.at]),
        sender: await sender.call('stats'), other: await other.call('stats'), lifecycle: await sender.call('lifecycle'),
        outcome: (await sender.call('outcomes'))['left-behind'],
        senderLogs: await sender.call('logs'), otherLogs: await other.call('logs'),
      }, null, 1));
      assert.equal((await one.call('stats')).sender, true);
      assert.equal((await (one === sender ? other : sender).call('stats')).sender, false);
      return restored;
    }));
    }

    check('a page restored while a request it kept was out still gets one outcome', () => untilRestored(name !== 'firefox', async () => {
      const win = await openSender(shop());
      // A 503 first: delivery does not look healthy, so the retry is not handed over as the
      // page leaves (its record stays in storage); the retry's answer takes 1.5 s. WebKit
      // never settles that request after the restore: without a deadline the event would
      // wait forever.
      await control(server, '/__gb/faults', { count: 1, status: 503, retryAfter: '1' });
      await control(server, '/__gb/faults', { count: 1, delayMs: 1500 });
      await win.call('send', 'kept', event('c-kept', 'add_to_cart', { tag: 'kept' }), 'callback');
      await eventually(async () => (await eventRequests(server)).length === 2, 'the retry is out');
      await win.call('go', '/t/plain.html');
      const restored = await backAgain(win, 'plain', 'a kept request out');
      if (restored) {
        const outcome = await oneOutcome(win, 'kept');
        assert.equal(outcome.ok, true, JSON.stringify(outcome));
      }
      await eventually(async () => (await win.call('stats')).queued === 0, 'nothing left', 20_000);
      const copies = (await accepted('kept')).length;
      const s = await win.call('stats');
      assert.ok(copies >= 1 && copies - 1 <= s.resentUnknownTotal, `${copies} copies, ${s.resentUnknownTotal} counted`);
      return restored;
    }));

    // The page side is tests/e2e/pages/preinit.js (the Chromium e2e layer checks every
    // scenario in detail); here each engine shows that calls made before the module is ready
    // are delivered, in order, once each.
    for (const scenario of ['init-after', 'no-init']) {
      check(`calls made while the module loads are kept and delivered in order (${scenario})`, async () => {
        const win = await open(`${server.url}/e2e-pages/preinit.html?scenario=${scenario}`, { ready: false });
        const text = await eventually(async () => {
          try {
            return await win.read(
              `document.querySelector('#result[data-done="1"]') ? document.querySelector('#result').textContent : null`,
            );
          } catch (_) {
            return null;
          }
        }, `${name}: the ${scenario} scenario`, 30_000);
        const result = JSON.parse(text);
        assert.equal(result.failed, undefined, result.failed);
        assert.equal(result.results.length, 5);
        for (const r of result.results) assert.equal(r.ok, true, JSON.stringify(r));
        assert.deepEqual(result.callbackCalls, [1, 1], 'each callback ran once');
        assert.equal(result.wasmFetches, 1, 'the module is fetched once');
        const names = async (customerId) => (await acceptedEvents(server))
          .filter((e) => e.customerId === customerId).map((e) => e.name);
        await eventually(async () => (await names(`${result.customerId}_b`)).length === 1, 'the last event');
        assert.deepEqual(await names(result.customerId), ['pre_1', 'pre_2', 'pre_3', 'pre_4']);
        assert.deepEqual(await names(`${result.customerId}_b`), ['pre_5']);
      });
    }

    check('the demo walk-through: guest, login, cart, review, order, offline and back, logout', async () => {
      const win = await open(`${server.url}/`, { ready: false });
      mkdirSync(SCREENSHOTS, { recursive: true });
      await walkThrough(win, server, (n) => win.screenshot(path.join(SCREENSHOTS, `engines-${name}-${n}.png`)));
      assert.deepEqual(win.errors, []);
    });
  });
}
