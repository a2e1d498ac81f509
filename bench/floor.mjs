// The floor Gameball's rate limits set for draining a backlog: the fewest requests the event
// mix allows (a name once per request, at most MAX_BATCH_RECORDS records and MAX_BATCH_BYTES
// per request, one customer per request, a customer's events in order), then the least time
// those requests need under RATE_LIMITS (100 requests/s and 1,200 per 30 s per API key).
import { readFileSync } from 'node:fs';
import { RATE_LIMITS } from '../tests/server/gameball-server.mjs';

const gameball = readFileSync(new URL('../src/core/gameball.rs', import.meta.url), 'utf8');
const constant = (name) => {
  const m = new RegExp(`pub const ${name}: usize = ([0-9_ *]+);`).exec(gameball);
  if (!m) throw new Error(`${name} not found in src/core/gameball.rs`);
  return m[1].split('*').map((f) => Number(f.trim().replaceAll('_', ''))).reduce((a, b) => a * b, 1);
};

/** Event `i` of the bench's mix: customers in turn, each customer's names in turn. */
export function eventAt(i, customers, names) {
  return ['bench_c' + (i % customers), names[Math.floor(i / customers) % names.length]];
}

/** Requests the mix needs at the fewest: greedy batches per customer, in order. */
export function fewestRequests({ events, customers, names }, recordBytes = 200) {
  const maxRecords = constant('MAX_BATCH_RECORDS');
  const maxBytes = constant('MAX_BATCH_BYTES');
  const perCustomer = Array.from({ length: customers }, () => []);
  for (let i = 0; i < events; i++) perCustomer[i % customers].push(eventAt(i, customers, names)[1]);
  let requests = 0;
  for (const list of perCustomer) {
    let batch = new Set();
    let bytes = 0;
    for (const name of list) {
      if (batch.size === 0 || batch.has(name) || batch.size >= maxRecords || bytes + recordBytes > maxBytes) {
        requests += 1;
        batch = new Set();
        bytes = 0;
      }
      batch.add(name);
      bytes += recordBytes;
    }
  }
  return requests;
}

/** Least time for `requests` requests under every rate window: the last one waits for the
 * window its predecessors filled. Round trips on loopback (about a millisecond) are left out. */
export function drainFloor(mix) {
  const requests = fewestRequests(mix);
  const ms = Math.max(...RATE_LIMITS.map(({ windowMs, max }) => (Math.ceil(requests / max) - 1) * windowMs));
  const limits = RATE_LIMITS.map(({ windowMs, max }) => `${max}/${windowMs / 1000} s`).join(' and ');
  return {
    requests,
    ms,
    explanation: `${mix.events} events over ${mix.customers} customers, ${mix.names.length} names in turn → ` +
      `at least ${requests} requests (a name once per request); at ${limits} the last can leave ` +
      `${ms / 1000} s after the first`,
  };
}
