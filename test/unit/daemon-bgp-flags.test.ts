/** `switchyard daemon --bgp-asn N --bgp-peer ADDR[:ASN]…` through parseDaemonFlags (src/daemon/flags.ts, services/bgp/flags.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDaemonFlags } from '../../src/daemon/flags.js';
import type { SwitchyardError } from '../../src/errors.js';

const CLUSTER = ['--cluster-store', 'etcd://10.0.0.9:2379', '--cluster-advertise', '10.0.0.1'];
const fails = (argv: string[], field: string, text: RegExp) =>
  assert.throws(() => parseDaemonFlags(argv), (e: SwitchyardError) => e.code === 'INVALID_FLAG' && e.field === field && text.test(e.message));

test('daemon BGP flags: absent → no BGP (routes from etcd alone); given → ASN and peers (iBGP when a peer has no ASN)', () => {
  assert.equal(parseDaemonFlags(CLUSTER).bgp, undefined);
  assert.deepEqual(parseDaemonFlags([...CLUSTER, '--bgp-asn', '65001', '--bgp-peer', '10.0.0.254:65000', '--bgp-peer', '10.0.0.253']).bgp, {
    asn: 65001,
    peers: [
      { address: '10.0.0.254', asn: 65000 },
      { address: '10.0.0.253', asn: 65001 },
    ],
  });
});

test('daemon BGP flags: errors name the flag', () => {
  fails([...CLUSTER, '--bgp-peer', '10.0.0.254:65000'], '--bgp-peer', /needs --bgp-asn/);
  fails([...CLUSTER, '--bgp-asn', '65001'], '--bgp-asn', /at least one --bgp-peer/);
  fails(['--bgp-asn', '65001', '--bgp-peer', '10.0.0.254:65000'], '--bgp-asn', /needs --cluster-store/);
  fails([...CLUSTER, '--bgp-asn', '23456', '--bgp-peer', '10.0.0.254'], '--bgp-asn', /AS_TRANS/);
});
