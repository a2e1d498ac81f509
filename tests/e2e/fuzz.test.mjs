// The seeded slice of the browser fuzz (tests/fuzz/): a few thousand hostile values through
// every export and Tracker method; `npm run fuzz` runs 100,000 and more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzBrowser, clean, describe } from '../fuzz/browser.mjs';

const COUNT = Number(process.env.FUZZ_BROWSER_SLICE || 3000);

test(`browser fuzz, seeded slice: ${COUNT} calls, no escape, no trap, one outcome each, still delivering`, async () => {
  const result = await fuzzBrowser({ count: COUNT, seed: 20261130 });
  console.log(`# ${describe(result)}`);
  assert.equal(result.calls, COUNT);
  assert.ok(clean(result), describe(result));
});
