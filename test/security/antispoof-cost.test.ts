/**
 * The cost anti-spoofing adds to a connect: allowEndpointSources/revokeEndpointSources (a few elements
 * of `table bridge switchyard` in one transaction) with 0 and with 1,000 endpoints present,
 * in a throwaway netns. Prints the numbers docs/SECURITY.md quotes.
 *
 *   node --test dist/test/security/antispoof-cost.test.js
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { Firewall, type AntiSpoofEndpoint } from '../../src/services/firewall/firewall.js';
import { assertNoLeaks, inNs, makeNs, removeNs } from '../helpers/netns.js';

const SAMPLES = 200;

before(async () => {
  await warmThreadpool();
});

function endpoint(i: number, prefix = 'syv'): AntiSpoofEndpoint {
  const hex = (n: number) => (n & 255).toString(16).padStart(2, '0');
  return {
    port: `${prefix}${i.toString(16).padStart(10, '0')}`,
    mac: `02:42:0a:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`,
    ipv4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    ipv6: `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`,
  };
}

const ms = (fn: () => void): number => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: +s[Math.floor(s.length / 2)]!.toFixed(3), p90: +s[Math.floor(s.length * 0.9)]!.toFixed(3) };
};

test('an endpoint costs a few element adds, flat with the number of endpoints', () => {
  const ns = makeNs('ascost');
  const nft = Nft.open(ns.path);
  try {
    const fw = new Firewall(nft);
    fw.ensureBase();
    const measure = () => {
      const eps = Array.from({ length: SAMPLES }, (_, i) => endpoint(100_000 + i, 'syw'));
      const add = eps.map((e) => ms(() => fw.allowEndpointSources(e)));
      const del = eps.map((e) => ms(() => fw.revokeEndpointSources(e)));
      return { add: stats(add), del: stats(del) };
    };
    const empty = measure();
    const reloadMs = ms(() => fw.reloadEndpointSources(Array.from({ length: 1000 }, (_, i) => endpoint(i))));
    const full = measure();
    console.log(`anti-spoofing cost: 0 endpoints ${JSON.stringify(empty)}; 1000 endpoints ${JSON.stringify(full)}; reloadEndpointSources(1000) ${reloadMs.toFixed(1)} ms`);
    assert.ok(full.add.median < 1.5, `allowEndpointSources median ${full.add.median} ms`);
    // Idempotent both ways, and the sets hold exactly what reload asked for.
    fw.allowEndpointSources(endpoint(1));
    fw.revokeEndpointSources(endpoint(5000));
    fw.revokeEndpointSources(endpoint(5000));
    const listing = inNs(ns.name, 'nft', ['list', 'set', 'bridge', 'switchyard', 'ports']).stdout;
    assert.equal((listing.match(/"syv/g) ?? []).length, 1000);
    assert.throws(() => fw.allowEndpointSources({ ...endpoint(1), mac: 'zz:42' }), /MAC address/);
    assert.throws(() => fw.allowEndpointSources({ ...endpoint(1), port: 'a"b' }), /not a valid interface name/);
    assert.throws(() => fw.allowEndpointSources({ ...endpoint(1), ipv4: '1.2.3.4 } ; flush ruleset' }), /IPv4/);
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});
