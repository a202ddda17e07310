/**
 * Cost of one network change with 0 and with 1,000 networks already in the table, in a
 * throwaway netns, through the in-process libnftables context. Prints the numbers that
 * docs/FIREWALL.md quotes. Needs root.
 *
 *   node --test dist/test/integration/firewall-scale.test.js
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { Firewall, type FirewallNetwork } from '../../src/services/firewall/firewall.js';
import { assertNoLeaks, makeNs, removeNs } from '../helpers/netns.js';

const SAMPLES = 200;

before(async () => {
  await warmThreadpool();
});

/** A network like Docker's defaults: one /24 and one /64, masquerading; a few internal or ICC-off. */
function network(i: number, prefix = 'sy'): FirewallNetwork {
  return {
    bridge: `${prefix}${i}`,
    subnets: [`10.${100 + (i >> 8)}.${i & 255}.0/24`, `fd00:${i.toString(16)}::/64`],
    icc: i % 2 === 0,
    masquerade: true,
    internal: i % 7 === 0,
  };
}

function ms(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function stats(samples: number[]): { median: number; p90: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p90: s[Math.floor(s.length * 0.9)]! };
}

/** ensureNetwork then deleteNetwork of SAMPLES networks not in the table yet. */
function measure(fw: Firewall): { ensure: { median: number; p90: number }; remove: { median: number; p90: number } } {
  const nets = Array.from({ length: SAMPLES }, (_, i) => network(i, 'sz'));
  const ensure = nets.map((n) => ms(() => fw.ensureNetwork(n)));
  const remove = nets.map((n) => ms(() => fw.deleteNetwork(n.bridge)));
  return { ensure: stats(ensure), remove: stats(remove) };
}

test('one network change costs about the same with 0 and with 1,000 networks present', () => {
  const ns = makeNs('fwscl');
  const nft = Nft.open(ns.path);
  try {
    const fw = new Firewall(nft);
    fw.ensureBase();
    const empty = measure(fw);
    const thousand = Array.from({ length: 1000 }, (_, i) => network(i));
    const reloadMs = ms(() => fw.reload(thousand));
    const full = measure(fw);
    assert.equal(fw.observedBridges().size, 1000);
    const f = (s: { median: number; p90: number }): string => `median ${s.median.toFixed(3)} ms, p90 ${s.p90.toFixed(3)} ms`;
    console.log(`firewall scale (n=${SAMPLES} each):`);
    console.log(`  0 networks:     ensureNetwork ${f(empty.ensure)}; deleteNetwork ${f(empty.remove)}`);
    console.log(`  1000 networks:  ensureNetwork ${f(full.ensure)}; deleteNetwork ${f(full.remove)}`);
    console.log(`  reload of 1000 networks in one transaction: ${reloadMs.toFixed(1)} ms`);
    // Loose bounds: the point is "no rewrite", i.e. milliseconds, not seconds (moby#53466).
    assert.ok(full.ensure.median < 20, `ensureNetwork at 1000 networks took ${full.ensure.median} ms`);
    assert.ok(full.remove.median < 20, `deleteNetwork at 1000 networks took ${full.remove.median} ms`);
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});
