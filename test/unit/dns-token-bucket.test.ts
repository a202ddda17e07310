/** The token bucket behind the per-sandbox DNS-over-TCP query budget (src/services/dns/token-bucket.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/services/dns/token-bucket.js';

test('a full bucket gives its burst at once, then refills at the rate and never above the burst', () => {
  const b = new TokenBucket(100, 5, 0);
  for (let i = 0; i < 5; i++) assert.equal(b.take(0), 0);
  assert.equal(b.take(0), 10, 'empty: one token comes in 10 ms at 100/s');
  assert.equal(b.take(10), 0);
  assert.equal(b.take(10), 10);
  // A long pause refills to the burst, not beyond.
  let got = 0;
  while (b.take(60_000) === 0) got++;
  assert.equal(got, 5);
});

test('a clock that does not move, or moves back, gives nothing new', () => {
  const b = new TokenBucket(1000, 1, 50);
  assert.equal(b.take(50), 0);
  assert.ok(b.take(40) > 0);
  assert.ok(b.take(50) > 0);
  assert.equal(b.take(51), 0);
});
