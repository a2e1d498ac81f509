// Segment analytics-next, the minimal init + track a storefront writes; settings given
// inline (no CDN fetch), events and metrics pointed at the local server.
import { AnalyticsBrowser } from '@segment/analytics-next';

let analytics;

export async function start(base) {
  const host = new URL(base).host;
  const segmentio = { apiKey: 'bench', apiHost: `${host}/v1`, protocol: 'http' };
  [analytics] = await AnalyticsBrowser.load(
    {
      writeKey: 'bench',
      cdnURL: base,
      cdnSettings: { integrations: { 'Segment.io': segmentio }, metrics: { sampleRate: 0 } },
    },
    { integrations: { 'Segment.io': segmentio } },
  );
}

export function track(customer, name, props) {
  analytics.track(name, { ...props, customer }).catch(() => {});
}

export const wasmMemoryBytes = () => 0;
