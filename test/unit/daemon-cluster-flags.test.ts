/** The cluster flags of `switchyard daemon` (src/daemon/cluster-flags.ts): parsing and errors naming the flag. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterFlags } from '../../src/daemon/cluster-flags.js';
import { parseDaemonFlags } from '../../src/daemon/flags.js';
import type { SwitchyardError } from '../../src/errors.js';

const fails = (fn: () => unknown, field: string, text: RegExp) =>
  assert.throws(fn, (e: SwitchyardError) => e.code === 'INVALID_FLAG' && e.field === field && text.test(e.message));

test('without --cluster-store: single host, nothing else changes', () => {
  assert.equal(parseClusterFlags({}, 'h1'), undefined);
  assert.equal(parseDaemonFlags([]).cluster, undefined);
  for (const f of ['cluster-advertise', 'data-path-addr', 'data-path-port'] as const) {
    fails(() => parseClusterFlags({ [f]: '10.0.0.1' }, 'h1'), `--${f}`, /needs --cluster-store/);
  }
  fails(() => parseClusterFlags({ 'cluster-store-opt': ['kv.cacertfile=/a'] }, 'h1'), '--cluster-store-opt', /needs --cluster-store/);
});

test('etcd:// members, defaults: data path = advertise address, port 4789, node name = hostname, key rotation 12 h', () => {
  const c = parseClusterFlags({ 'cluster-store': 'etcd://10.0.0.9:2379,etcd2.lan:2379', 'cluster-advertise': '10.0.0.1:2376' }, 'box');
  assert.deepEqual(c, {
    endpoints: ['http://10.0.0.9:2379', 'http://etcd2.lan:2379'],
    store: 'etcd://10.0.0.9:2379,etcd2.lan:2379',
    advertise: '10.0.0.1:2376',
    advertiseAddress: '10.0.0.1',
    dataPathAddress: '10.0.0.1',
    dataPathPort: 4789,
    nodeName: 'box',
    keyRotationMs: 12 * 3600_000,
  });
  const v6 = parseClusterFlags({ 'cluster-store': 'etcd://[fd00::9]:2379', 'cluster-advertise': 'fd00::1', 'data-path-addr': '192.168.7.1', 'data-path-port': '7789', 'node-name': 'n-1.lab' }, 'box');
  assert.equal(v6?.endpoints[0], 'http://[fd00::9]:2379');
  assert.equal(v6?.advertiseAddress, 'fd00::1');
  assert.equal(v6?.dataPathAddress, '192.168.7.1');
  assert.equal(v6?.dataPathPort, 7789);
  assert.equal(v6?.nodeName, 'n-1.lab');
  assert.equal(parseClusterFlags({ 'cluster-store': 'etcd://h:1', 'cluster-advertise': '[fd00::1]:2376' }, 'b')?.advertiseAddress, 'fd00::1');
});

test('etcds:// and --cluster-store-opt kv.* files (repeatable, comma lists)', () => {
  const c = parseClusterFlags(
    { 'cluster-store': 'etcds://10.0.0.9:2379', 'cluster-advertise': '10.0.0.1', 'cluster-store-opt': ['kv.cacertfile=/ca.pem,kv.certfile=/c.pem', 'kv.keyfile=/k.pem'] },
    'b',
  );
  assert.deepEqual(c?.endpoints, ['https://10.0.0.9:2379']);
  assert.deepEqual(c?.tls, { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' });
  fails(() => parseClusterFlags({ 'cluster-store': 'etcd://h:1', 'cluster-advertise': '10.0.0.1', 'cluster-store-opt': ['kv.cacertfile=/ca'] }, 'b'), '--cluster-store-opt', /etcds:\/\//);
  fails(() => parseClusterFlags({ 'cluster-store': 'etcds://h:1', 'cluster-advertise': '10.0.0.1', 'cluster-store-opt': ['kv.path=/x'] }, 'b'), '--cluster-store-opt', /unknown --cluster-store-opt "kv.path"/);
  fails(() => parseClusterFlags({ 'cluster-store': 'etcds://h:1', 'cluster-advertise': '10.0.0.1', 'cluster-store-opt': ['kv.cacertfile=/ca,kv.certfile=/c'] }, 'b'), '--cluster-store-opt', /go together/);
  fails(() => parseClusterFlags({ 'cluster-store': 'etcds://h:1', 'cluster-advertise': '10.0.0.1', 'cluster-store-opt': ['kv.certfile=/c,kv.keyfile=/k'] }, 'b'), '--cluster-store-opt', /kv.cacertfile/);
});

test('bad values: a clear error naming the flag', () => {
  const base = { 'cluster-store': 'etcd://10.0.0.9:2379', 'cluster-advertise': '10.0.0.1' };
  fails(() => parseClusterFlags({ ...base, 'cluster-store': 'consul://h:8500' }, 'b'), '--cluster-store', /only etcd/);
  fails(() => parseClusterFlags({ ...base, 'cluster-store': 'etcd://h' }, 'b'), '--cluster-store', /HOST:PORT/);
  fails(() => parseClusterFlags({ ...base, 'cluster-store': 'etcd://h:1,' }, 'b'), '--cluster-store', /empty member/);
  fails(() => parseClusterFlags({ 'cluster-store': 'etcd://h:1' }, 'b'), '--cluster-advertise', /needs --cluster-advertise/);
  fails(() => parseClusterFlags({ ...base, 'cluster-advertise': 'eth0' }, 'b'), '--cluster-advertise', /IP address/);
  fails(() => parseClusterFlags({ ...base, 'cluster-advertise': '10.0.0.1:99999' }, 'b'), '--cluster-advertise', /IP address/);
  fails(() => parseClusterFlags({ ...base, 'data-path-addr': 'x' }, 'b'), '--data-path-addr', /IP address/);
  fails(() => parseClusterFlags({ ...base, 'data-path-port': '80' }, 'b'), '--data-path-port', /1024-49151/);
  fails(() => parseClusterFlags({ ...base, 'data-path-port': 'abc' }, 'b'), '--data-path-port', /1024-49151/);
  fails(() => parseClusterFlags({ ...base, 'node-name': 'bad name' }, 'b'), '--node-name', /letters, digits/);
  fails(() => parseClusterFlags(base, '-bad-'), '--node-name', /letters, digits/);
});

test('parseDaemonFlags carries the cluster flags', () => {
  const f = parseDaemonFlags(['--cluster-store', 'etcd://127.0.0.1:2379', '--cluster-advertise', '10.1.0.1', '--node-name', 'host1', '--data-path-port', '4790']);
  assert.equal(f.cluster?.nodeName, 'host1');
  assert.equal(f.cluster?.dataPathPort, 4790);
  assert.deepEqual(f.cluster?.endpoints, ['http://127.0.0.1:2379']);
});
