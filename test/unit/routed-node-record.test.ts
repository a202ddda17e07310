/**
 * The IPv6 data-path address of a node (docs/drivers/routed.md "IPv6 across hosts"):
 * `--data-path-addr` once per family, node records v2 carrying `dataPathAddress6` (v1
 * records still read), and the address a block of each family is routed via.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterFlags, parseDataPathAddrs } from '../../src/daemon/cluster-flags.js';
import { parseDaemonFlags } from '../../src/daemon/flags.js';
import { dataPathAddressOf, decodeNodeRecord, encodeNodeRecord } from '../../src/engine/cluster-nodes.js';
import { SwitchyardError } from '../../src/errors.js';

const base = { 'cluster-store': 'etcd://10.0.0.9:2379', 'cluster-advertise': '10.0.0.1' };

function fails(fn: () => unknown, field: string, re: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SwitchyardError);
    assert.equal(err.code, 'INVALID_FLAG');
    assert.equal(err.field, field);
    assert.match(err.message, re);
    return;
  }
  assert.fail('no error');
}

test('--data-path-addr once per family: the IPv4 one stays dataPathAddress, the IPv6 one is dataPathAddress6', () => {
  assert.deepEqual(parseDataPathAddrs(undefined, '10.0.0.1'), { dataPathAddress: '10.0.0.1' });
  assert.deepEqual(parseDataPathAddrs('fd00::1', '10.0.0.1'), { dataPathAddress: 'fd00::1' });
  assert.deepEqual(parseDataPathAddrs(['fd00::1', '10.0.0.2'], '10.0.0.1'), { dataPathAddress: '10.0.0.2', dataPathAddress6: 'fd00::1' });
  const c = parseClusterFlags({ ...base, 'data-path-addr': ['10.0.0.2', 'fd00::2'] }, 'h')!;
  assert.equal(c.dataPathAddress, '10.0.0.2');
  assert.equal(c.dataPathAddress6, 'fd00::2');
  assert.equal(parseClusterFlags({ ...base, 'data-path-addr': ['10.0.0.2'] }, 'h')!.dataPathAddress6, undefined);
  fails(() => parseClusterFlags({ ...base, 'data-path-addr': ['10.0.0.2', '10.0.0.3'] }, 'h'), '--data-path-addr', /given twice for IPv4/);
  fails(() => parseClusterFlags({ ...base, 'data-path-addr': ['fd00::2', 'fd00::3'] }, 'h'), '--data-path-addr', /given twice for IPv6/);
  fails(() => parseClusterFlags({ ...base, 'data-path-addr': ['10.0.0.2', 'fd00::2', 'fd00::3'] }, 'h'), '--data-path-addr', /at most once per family/);
  fails(() => parseClusterFlags({ ...base, 'data-path-addr': ['10.0.0.2', 'nope'] }, 'h'), '--data-path-addr', /IP address/);
  fails(() => parseClusterFlags({ 'data-path-addr': ['10.0.0.2'] }, 'h'), '--data-path-addr', /needs --cluster-store/);
  // Through the daemon's own argument parser (repeatable flag).
  const d = parseDaemonFlags(['--cluster-store', 'etcd://10.0.0.9:2379', '--cluster-advertise', '10.0.0.1', '--data-path-addr', '10.0.0.1', '--data-path-addr', 'fd00::1']);
  assert.equal(d.cluster?.dataPathAddress, '10.0.0.1');
  assert.equal(d.cluster?.dataPathAddress6, 'fd00::1');
});

test('node records: v1 without an IPv6 data-path address (readable by older releases), v2 with one; both read', () => {
  const self = { id: 'a'.repeat(64), name: 'host0', address: '10.0.0.1', dataPathAddress: '10.0.0.1', dataPathPort: 4789 };
  const v1 = JSON.parse(encodeNodeRecord(self, '2026-01-01T00:00:00.000Z')) as Record<string, unknown>;
  assert.equal(v1['v'], 1);
  assert.ok(!('dataPathAddress6' in v1));
  const v2 = decodeNodeRecord(encodeNodeRecord({ ...self, dataPathAddress6: 'fd00::1' }, '2026-01-01T00:00:00.000Z'));
  assert.equal(v2.v, 2);
  assert.equal(v2.dataPathAddress6, 'fd00::1');
  // A record written by the previous release (v1, no such field) reads as before.
  const old = decodeNodeRecord(JSON.stringify({ v: 1, ...self, started: '2025-01-01T00:00:00.000Z' }));
  assert.equal(old.dataPathAddress6, undefined);
  assert.equal(dataPathAddressOf(old, 6), undefined, 'an old node has no IPv6 next hop: its IPv6 blocks are not routed');
  assert.equal(dataPathAddressOf(old, 4), '10.0.0.1');
  assert.equal(dataPathAddressOf(v2, 6), 'fd00::1');
  assert.equal(dataPathAddressOf({ dataPathAddress: 'fd00::9' }, 6), 'fd00::9', 'a single IPv6 data-path address serves IPv6 blocks');
  assert.equal(dataPathAddressOf({ dataPathAddress: 'fd00::9' }, 4), undefined);
  assert.throws(() => decodeNodeRecord(JSON.stringify({ v: 2, ...self, dataPathAddress6: '10.0.0.5', started: 'x' })), (e: SwitchyardError) => e.code === 'INVALID_RECORD' && e.field === 'dataPathAddress6');
  assert.throws(() => decodeNodeRecord(JSON.stringify({ v: 3, ...self, started: 'x' })), (e: SwitchyardError) => e.code === 'RECORD_VERSION_UNSUPPORTED');
});
