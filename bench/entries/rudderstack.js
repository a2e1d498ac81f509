// RudderStack analytics-js v3 (the build with its plugins bundled, so nothing is fetched
// from a CDN), source config given inline, data plane at the local server.
import { RudderAnalytics } from '@rudderstack/analytics-js/bundled';

let analytics;

export function start(base) {
  analytics = new RudderAnalytics();
  return new Promise((ready) => {
    analytics.load('bench-write-key', base, {
      configUrl: base,
      getSourceConfig: () => ({
        source: { id: 'bench', name: 'bench', workspaceId: 'bench', enabled: true, config: {}, destinations: [] },
      }),
      onLoaded: () => ready(),
    });
  });
}

export function track(customer, name, props) {
  analytics.track(name, { ...props, customer });
}

export const wasmMemoryBytes = () => 0;
