// bench/chart.svg from a results object: one panel per measure, one bar per tracker (ours
// first, in its own colour), the value written at the end of each bar. Lower is better
// everywhere. `node bench/chart.mjs` redraws it from bench/results.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const W = 960;
const PANEL_W = 460;
const BAR_H = 16;
const GAP = 4;
const LABEL_W = 110;
const COLORS = { ours: '#d9480f', other: '#868e96' };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panels(out) {
  const t = out.trackers;
  const drainCap = out.method.drainTimeoutMs / 1000;
  const last = out.method.backlogs.at(-1);
  const list = [
    { title: 'bytes shipped, wasm + JS gzip (KB)', unit: 'KB', value: (r) => r.bytes.gzip / 1024, digits: 1 },
    { title: 'start-up, import → ready, median (ms)', unit: 'ms', value: (r) => r.startup.medianMs, digits: 1 },
    ...out.method.backlogs.map((b) => ({
      title: `sendEvent/track p99, backlog ${b.toLocaleString('en-US')} (µs)`,
      unit: 'µs', value: (r) => r.calls[b].p99, digits: 0,
    })),
    {
      title: `sendEvent/track p50, backlog ${last.toLocaleString('en-US')} (µs)`,
      unit: 'µs', value: (r) => r.calls[last].p50, digits: 0,
    },
    {
      title: `drain ${out.method.drainEvents.toLocaleString('en-US')} events after reconnect (s)`,
      unit: 's', value: (r) => (r.drain.ms == null ? drainCap : r.drain.ms / 1000), digits: 2,
      note: (r) => (r.drain.ms == null ? `${r.drain.delivered} arrived in ${drainCap} s` : null),
      marker: { at: out.drainFloor.ms / 1000, label: 'rate-limit floor' },
    },
    {
      title: `memory after ${out.method.memoryEvents.toLocaleString('en-US')} events, JS heap + wasm (MB)`,
      unit: 'MB', value: (r) => r.memory.total / 1048576, digits: 1,
      note: (r) => (r.memory.events < out.method.memoryEvents
        ? `${(r.memory.total / 1048576).toFixed(1)} after ${r.memory.events.toLocaleString('en-US')} (time cap)` : null),
    },
  ];
  return list.map((p) => ({ ...p, rows: Object.entries(t).map(([id, r]) => ({ id, label: r.label, v: p.value(r), note: p.note?.(r) })) }));
}

function panel(p, x, y) {
  const max = Math.max(...p.rows.map((r) => r.v), p.marker?.at ?? 0) || 1;
  const room = p.rows.some((r) => r.note) ? 200 : 70; // for the text after the longest bar
  const scale = (PANEL_W - LABEL_W - room) / max;
  const parts = [`<text x="${x}" y="${y}" class="t">${esc(p.title)}</text>`];
  p.rows.forEach((r, i) => {
    const by = y + 10 + i * (BAR_H + GAP);
    const w = Math.max(1, r.v * scale);
    const fill = r.id === 'ours' ? COLORS.ours : COLORS.other;
    const text = r.note ?? r.v.toLocaleString('en-US', { minimumFractionDigits: p.digits, maximumFractionDigits: p.digits });
    parts.push(
      `<text x="${x + LABEL_W - 6}" y="${by + 12}" class="l">${esc(r.label)}</text>`,
      `<rect x="${x + LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${fill}"/>`,
      `<text x="${x + LABEL_W + w + 4}" y="${by + 12}" class="v">${esc(text)}</text>`,
    );
  });
  if (p.marker) {
    const mx = x + LABEL_W + p.marker.at * scale;
    const bottom = y + 10 + p.rows.length * (BAR_H + GAP);
    parts.push(
      `<line x1="${mx}" y1="${y + 6}" x2="${mx}" y2="${bottom}" stroke="#1c7ed6" stroke-dasharray="3 2"/>`,
      `<text x="${mx + 3}" y="${bottom + 10}" class="m">${esc(p.marker.label)} ${p.marker.at} s</text>`,
    );
  }
  return parts.join('\n');
}

/** The SVG text, trackers in the order of `out.trackers` (ours first). */
export function renderChart(out) {
  const ps = panels(out);
  const rowsH = 10 + ps[0].rows.length * (BAR_H + GAP) + 34;
  const H = 60 + Math.ceil(ps.length / 2) * rowsH;
  const body = ps.map((p, i) => panel(p, 10 + (i % 2) * (PANEL_W + 20), 60 + Math.floor(i / 2) * rowsH));
  const m = out.machine;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif">
<style>.t{font-size:13px;font-weight:600}.l{font-size:12px;text-anchor:end}.v{font-size:11px;fill:#343a40}.m{font-size:10px;fill:#1c7ed6}.h{font-size:15px;font-weight:700}.s{font-size:11px;fill:#495057}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" class="h">gameball-tracker vs the field: lower is better (npm run bench, one run)</text>
<text x="10" y="40" class="s">${esc(`${out.generatedAt.slice(0, 16).replace('T', ' ')} UTC · headless Chromium ${m.chromium} · ${m.cpus} CPU ${m.cpuModel ?? ''} · load ${m.loadAverage1m.toFixed(1)} · timer step ${m.timerResolutionUs.toFixed(0)} µs`)}</text>
${body.join('\n')}
</svg>
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = JSON.parse(readFileSync(new URL('results.json', import.meta.url), 'utf8'));
  writeFileSync(new URL('chart.svg', import.meta.url), renderChart(results));
}
