/**
 * What the store latency tests of every backend measure with, so their figures compare
 * (docs/STORE.md quotes them): the same ~500-byte record, the same attach-shaped txn and
 * the same percentiles.
 */
import type { Store } from '../../src/store/contract.js';

/** A ~500-byte JSON record, shaped like the engine's endpoint records. */
export function endpointRecord(i: number): string {
  const ep = {
    id: i.toString(16).padStart(64, '0'),
    name: `sandbox-${i}`,
    networkId: 'f'.repeat(64),
    sandboxId: 'e'.repeat(64),
    ifName: 'eth0',
    mac: '02:42:ac:11:00:02',
    ipv4: `10.88.${(i >> 8) & 255}.${i & 255}/16`,
    gateway: '10.88.0.1',
    aliases: ['web', 'frontend'],
    order: i,
  };
  const json = JSON.stringify(ep);
  return json.slice(0, -1) + `,"pad":"${'x'.repeat(Math.max(0, 490 - json.length))}"}`;
}

/** An attach-shaped txn: claim an address create-only and write the endpoint, atomically. */
export function attachTxn(store: Store, i: number) {
  const ip = `/ipam/net/10.88.${(i >> 8) & 255}.${i & 255}#${i}`;
  return store.txn({
    compare: [{ key: ip, target: 'createRevision', op: '=', value: 0 }],
    success: [
      { type: 'put', key: ip, value: `ep${i}` },
      { type: 'put', key: `/endpoints/${i}`, value: endpointRecord(i) },
    ],
  });
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Percentiles of the samples (ms), to the µs. */
export function percentiles(ms: number[]): Percentiles {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3));
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

export const showPercentiles = (p: Percentiles) => `p50 ${p.p50} ms, p90 ${p.p90} ms, p99 ${p.p99} ms, max ${p.max} ms`;
