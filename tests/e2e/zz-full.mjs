import { startDemoServer, launch, openBlank, control } from './harness.mjs';
const server = await startDemoServer();
const browser = await launch();
const context = await browser.newContext();
const page = await openBlank(context, server);
await control(server, '/__gb/offline', { offline: true });
const out = await page.evaluate(async (origin) => {
  // fill storage, leaving about 2,000 characters
  const chunk = 'x'.repeat(100000);
  let i = 0;
  for (;;) { try { localStorage.setItem('other:' + i++, chunk); } catch (_) { break; } }
  let small = 'y'.repeat(10000);
  while (small.length > 0) { try { localStorage.setItem('other:s' + i++, small); } catch (_) { small = small.slice(0, small.length >> 1); if (small.length < 1000) break; } }
  const S = Storage.prototype; const f = S.setItem; let sets = 0, refused = 0;
  S.setItem = function (k, v) { sets++; try { return f.call(this, k, v); } catch (e) { refused++; throw e; } };
  const t = window.gb.customerWidget({ apiKey: 'demo-public-key', apiBase: origin, widget: false, customerId: 'c1', flushIntervalMs: 5000 });
  for (let n = 0; n < 25; n++) t.sendEvent({ events: { ev: { n, pad: 'p'.repeat(50) } } }, () => {});
  const samples = [];
  for (let s = 0; s < 8; s++) { const a = sets, r = refused; await new Promise((res) => setTimeout(res, 1000)); samples.push([sets - a, refused - r, t.stats().restored, t.stats().storage]); }
  return samples;
}, server.url);
console.log(JSON.stringify(out));
await browser.close(); await server.close();
