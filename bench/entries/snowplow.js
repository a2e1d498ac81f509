// Snowplow browser tracker, the minimal init + self-describing event, collector at the local
// server, POST without base64 (so the bench can count what arrives).
import { newTracker, trackSelfDescribingEvent } from '@snowplow/browser-tracker';

export function start(base) {
  newTracker('sp', base, { appId: 'bench', eventMethod: 'post', encodeBase64: false });
}

export function track(customer, name, props) {
  trackSelfDescribingEvent({
    event: { schema: `iglu:com.bench/${name}/jsonschema/1-0-0`, data: { ...props, customer } },
  });
}

export const wasmMemoryBytes = () => 0;
