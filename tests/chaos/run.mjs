// The chaos run: several tabs of one shop in real headless Chromium share one tracker queue
// while the local server misbehaves (5xx, 429 with Retry-After, 2001, slow answers, offline
// spells), tabs reload mid-flush, the sending tab is closed and replaced, and another script
// clears localStorage. Afterwards it counts what Gameball received: every event sent must
// arrive; an event may arrive twice only inside the window the tracker counts
// (`resentUnknownTotal`: resends after a request whose fate was unknown).
//
// Each tab also sends to Voucherify at the same time (its own tracker from `voucherify()`,
// its own faults): one event in a hundred, as Voucherify serves 5 client-side requests per
// 5 s per IP; lost and duplicated are counted per destination.
//
//   node tests/chaos/run.mjs [--events 10000] [--tabs 4] [--rate 80] [--seed 1] [--vf-events N]
// or import { runChaos } and call it (the small version in `npm test` does).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../server/gameball-server.mjs';
import { launch } from '../e2e/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NAMES = Array.from({ length: 20 }, (_, i) => `chaos_event_${i}`);
const CUSTOMERS = Array.from({ length: 40 }, (_, i) => `chaos-customer-${i}`);

/** A small seeded generator, so a run can be repeated. */
function rng(seed) {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The local server with the built package and the chaos tab page. */
export function startChaosServer() {
  return startServer({
    port: 0,
    quiet: true,
    static: [
      { prefix: '/pkg', dir: path.join(ROOT, 'pkg') },
      { prefix: '/', dir: path.join(ROOT, 'tests', 'chaos') },
    ],
  });
}

export async function runChaos({
  events = 10_000, tabs = 4, rate = 150, seed = 1, chaos = true, log = () => {},
  vfEvents = Math.ceil(events / 100),
} = {}) {
  const random = rng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const server = await startChaosServer();
  const browser = await launch();
  const context = await browser.newContext();
  const pages = [];
  const pageErrors = [];
  const counts = { fault5xx: 0, fault429: 0, fault2001: 0, slow: 0, offline: 0, reloads: 0, closes: 0, clears: 0, vfFaults: 0 };
  const sentAt = new Map();
  const vfSentAt = new Map();
  const actions = [];
  const control = async (route, body) => {
    await fetch(server.url + route, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  };
  const openTab = async () => {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url + '/page.html');
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 20_000 });
    pages.push(page);
    return page;
  };
  const started = Date.now();
  try {
    for (let i = 0; i < tabs; i++) await openTab();
    let sent = 0;
    let offlineUntil = 0;
    let nextChaos = Date.now() + 500;
    const spacing = 1000 / rate;
    while (sent < events) {
      const now = Date.now();
      if (offlineUntil && now > offlineUntil) {
        await control('/__gb/offline', { offline: false });
        offlineUntil = 0;
      }
      if (chaos && now >= nextChaos) {
        nextChaos = now + 300 + random() * 1200;
        await chaosAction();
      }
      const size = Math.min(events - sent, 1 + Math.floor(random() * 12));
      const batch = [];
      for (let i = 0; i < size; i++) {
        batch.push({ id: `e${sent + i}`, customer: pick(CUSTOMERS), name: pick(NAMES) });
      }
      const page = pick(pages);
      const result = await page.evaluate((b) => window.chaos.send(b), batch);
      for (const [id, at] of result) sentAt.set(id, at);
      sent += size;
      // Voucherify's share, spread over the run.
      const vfDue = Math.ceil((vfEvents * sent) / events) - vfSentAt.size;
      if (vfDue > 0) {
        const vfBatch = Array.from({ length: vfDue }, (_, i) => ({
          id: `v${vfSentAt.size + i}`, customer: pick(CUSTOMERS), name: pick(NAMES),
        }));
        for (const [id, at] of await pick(pages).evaluate((b) => window.chaos.sendVoucherify(b), vfBatch)) vfSentAt.set(id, at);
      }
      if (sent % 1000 < size) log(`sent ${sent}/${events}`);
      const due = started + sent * spacing;
      if (due > Date.now()) await sleep(due - Date.now());
    }

    async function chaosAction() {
      const roll = random();
      actions.push({ at: Date.now(), roll: Math.round(roll * 100) / 100 });
      // The server's faults hit the next requests in order. Faults not yet met are dropped
      // first: a hiccup belongs to its moment, and piling them up while the tracker
      // (rightly) backs off would only model a server that fails more the longer it rests.
      if (roll < 0.55) await control('/__gb/faults', { clear: true });
      if (roll < 0.18) {
        const count = 1 + Math.floor(random() * 3);
        await control('/__gb/faults', { count, status: pick([500, 502, 503]) });
        await control('/__gb/faults', { count: 1, status: pick([500, 502, 503]), destination: 'voucherify' });
        counts.fault5xx += count;
        counts.vfFaults += 1;
      } else if (roll < 0.3) {
        await control('/__gb/faults', { count: 1, status: 429, retryAfter: '1' });
        counts.fault429 += 1;
      } else if (roll < 0.45) {
        const count = 1 + Math.floor(random() * 3);
        await control('/__gb/faults', { count, status: 422, code: 2001 });
        await control('/__gb/faults', { count: 1, status: 429, retryAfter: '1', destination: 'voucherify' });
        counts.fault2001 += count;
        counts.vfFaults += 1;
      } else if (roll < 0.55) {
        await control('/__gb/faults', { count: 2, delayMs: 300 + Math.floor(random() * 1200) });
        await control('/__gb/faults', { count: 1, delayMs: 300 + Math.floor(random() * 1200), destination: 'voucherify' });
        counts.slow += 2;
        counts.vfFaults += 1;
      } else if (roll < 0.67) {
        if (!offlineUntil) {
          await control('/__gb/offline', { offline: true });
          offlineUntil = Date.now() + 800 + random() * 2500;
          counts.offline += 1;
        }
      } else if (roll < 0.82) {
        await pick(pages).reload();
        counts.reloads += 1;
        await Promise.all(pages.map((p) => p.waitForFunction(() => document.title === 'ready')));
      } else if (roll < 0.96) {
        // A tab closes (often the sender: the first one opened) and a new one opens.
        const index = random() < 0.6 ? 0 : Math.floor(random() * pages.length);
        const [page] = pages.splice(index, 1);
        await page.close();
        counts.closes += 1;
        await openTab();
      } else {
        await pick(pages).evaluate(() => localStorage.clear());
        counts.clears += 1;
      }
    }

    // The world heals: no more faults, the server online; every tab flushes now and then.
    await control('/__gb/faults', { clear: true });
    await control('/__gb/offline', { offline: false });
    const sendingDone = Date.now();
    log(`all ${events} sent in ${((sendingDone - started) / 1000).toFixed(1)} s; draining`);
    const received = (destination = 'gameball') => {
      const arrivals = new Map();
      for (const entry of server.state.log) {
        if (!entry.accepted || !entry.body || typeof entry.body !== 'object') continue;
        if (entry.destination !== destination) continue;
        const metas = destination === 'voucherify' ? [entry.body.metadata] : Object.values(entry.body.events ?? {});
        for (const meta of metas) {
          const id = meta && meta.chaos_id;
          if (typeof id !== 'string') continue;
          const seen = arrivals.get(id);
          if (seen) seen.count += 1;
          else arrivals.set(id, { count: 1, at: entry.at });
        }
      }
      return arrivals;
    };
    let arrivals = received();
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      arrivals = received();
      const vfArrivals = received('voucherify');
      const missing = [...sentAt.keys()].filter((id) => !arrivals.has(id)).length
        + [...vfSentAt.keys()].filter((id) => !vfArrivals.has(id)).length;
      const pending = await Promise.all(pages.map((p) => p.evaluate(() => window.chaos.pending() + window.chaos.vf.pending())));
      if (missing === 0 && pending.every((n) => n === 0)) break;
      await Promise.all(pages.map((p) => p.evaluate(() => Promise.all([window.chaos.flush(), window.chaos.vf.flush()]))));
      await sleep(1000);
    }
    arrivals = received();
    const vfArrivals = received('voucherify');
    const stats = await Promise.all(pages.map((p) => p.evaluate(() => window.chaos.stats())));
    const vfStats = await Promise.all(pages.map((p) => p.evaluate(() => window.chaos.vf.stats())));
    const vfLost = [...vfSentAt.keys()].filter((id) => !vfArrivals.has(id));
    let vfDuplicated = 0;
    for (const { count } of vfArrivals.values()) vfDuplicated += count - 1;
    const vfCounted = Math.max(0, ...vfStats.map((s) => s.resentUnknownTotal));
    const posts = (destination) => server.state.log.filter((e) => e.method === 'POST' && e.destination === destination);
    const lost = [...sentAt.keys()].filter((id) => !arrivals.has(id));
    let duplicated = 0;
    for (const { count } of arrivals.values()) duplicated += count - 1;
    const counted = Math.max(0, ...stats.map((s) => s.resentUnknownTotal));
    const delays = [...sentAt.entries()]
      .filter(([id]) => arrivals.has(id))
      .map(([id, at]) => arrivals.get(id).at - at)
      .sort((a, b) => a - b);
    return {
      events,
      tabs,
      seconds: (Date.now() - started) / 1000,
      delivered: arrivals.size,
      lost: lost.length,
      lostIds: lost.slice(0, 20),
      duplicated,
      countedWindow: counted,
      outsideWindow: Math.max(0, duplicated - counted),
      delayMs: {
        p50: percentile(delays, 50),
        p99: percentile(delays, 99),
        max: delays.length ? delays[delays.length - 1] : 0,
      },
      requests: posts('gameball').length,
      // 429s the server gave on its own (rate limit), not injected: the sender's limiter
      // should keep this at 0.
      rateLimited: posts('gameball').filter((e) => e.status === 429 && !e.fault).length,
      voucherify: {
        events: vfSentAt.size,
        delivered: vfArrivals.size,
        lost: vfLost.length,
        lostIds: vfLost.slice(0, 20),
        duplicated: vfDuplicated,
        countedWindow: vfCounted,
        outsideWindow: Math.max(0, vfDuplicated - vfCounted),
        requests: posts('voucherify').length,
        rateLimited: posts('voucherify').filter((e) => e.status === 429 && !e.fault).length,
        senders: vfStats.filter((s) => s.sender).length,
      },
      chaos: counts,
      // Longest stretches with no request reaching the server while events waited.
      gaps: gapsIn(server.state.log.filter((e) => e.method === 'POST').map((e) => e.at), started, actions),
      senders: stats.filter((s) => s.sender).length,
      pageErrors,
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

function gapsIn(times, started, actions) {
  const gaps = [];
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    if (gap > 500) {
      const during = actions.filter((a) => a.at >= times[i - 1] - 3000 && a.at <= times[i]).map((a) => a.roll);
      gaps.push({ from: (times[i - 1] - started) / 1000, ms: gap, actions: during });
    }
  }
  const idle = gaps.reduce((n, g) => n + g.ms, 0);
  return { idleMs: idle, longest: gaps.sort((a, b) => b.ms - a.ms).slice(0, 10) };
}

function argument(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = {
    events: argument('events', 10_000),
    tabs: argument('tabs', 4),
    rate: argument('rate', 80),
    seed: argument('seed', 1),
    chaos: argument('chaos', 1) !== 0,
    vfEvents: argument('vf-events', undefined),
    log: (line) => console.log(`[chaos] ${line}`),
  };
  if (options.vfEvents === undefined) delete options.vfEvents;
  const r = await runChaos(options);
  const c = r.chaos;
  const v = r.voucherify;
  console.log(`
chaos run: ${r.events} events from ${r.tabs} tabs in ${r.seconds.toFixed(1)} s (seed ${options.seed})
  faults    5xx ${c.fault5xx}, 429 ${c.fault429}, 2001 ${c.fault2001}, slow ${c.slow}, offline spells ${c.offline}
  tabs      reloads ${c.reloads}, closed and replaced ${c.closes}, localStorage.clear() ${c.clears}
  requests  ${r.requests} POSTs to the events endpoint, ${r.rateLimited} refused by the server's own rate limit
  delivered ${r.delivered}
  lost      ${r.lost}${r.lost ? ' ' + r.lostIds.join(',') : ''}
  duplicated ${r.duplicated} (counted window ${r.countedWindow}, outside it ${r.outsideWindow})
  delay     sendEvent -> delivery p50 ${r.delayMs.p50} ms, p99 ${r.delayMs.p99} ms, max ${r.delayMs.max} ms
  idle      ${(r.gaps.idleMs / 1000).toFixed(1)} s in stretches over 0.5 s with no request reaching the server (back-off, Retry-After, take-overs)
  voucherify ${v.events} events at the same time (${c.vfFaults} faults of its own, the offline spells, reloads, closes and clears shared)
    requests  ${v.requests} POSTs to /client/v1/events, ${v.rateLimited} refused by the server's own per-IP limit
    delivered ${v.delivered}
    lost      ${v.lost}${v.lost ? ' ' + v.lostIds.join(',') : ''}
    duplicated ${v.duplicated} (counted window ${v.countedWindow}, outside it ${v.outsideWindow})
  page errors ${r.pageErrors.length}`);
  process.exitCode = r.lost === 0 && r.outsideWindow === 0 && v.lost === 0 && v.outsideWindow === 0
    && r.pageErrors.length === 0 ? 0 : 1;
}
