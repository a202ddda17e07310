/**
 * The pure parts of the overlay driver: the VNI a network gets, option parsing and its
 * errors, the MTU rule, the peer entries and their difference, planNetwork's refusals and
 * claims, the record's round trip through the codec, and the VNI under Options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rtnl } from '../../src/kernel/netlink/index.js';
import { OverlayDriver } from '../../src/drivers/overlay.js';
import { chooseVni, overlayLinkNames, overlayMtu, overlayNsName, peerDiff, peerEntries } from '../../src/drivers/overlay-plan.js';
import type { PeerEndpoint } from '../../src/drivers/contract.js';
import { parseOverlayOptions, validateDriverOptions } from '../../src/model/driver-options.js';
import type { NetworkRecord } from '../../src/model/records.js';
import { decodeNetworkRecord } from '../../src/model/record-codec.js';
import { networkView } from '../../src/api/docker-views.js';
import { SwitchyardError } from '../../src/errors.js';
import { vxlanInfoData } from '../../src/kernel/netlink/index.js';
import { parseAttrs } from '../../src/kernel/netlink/message.js';
import type { OverlayPorts } from '../../src/drivers/overlay-ports.js';

const VXLAN = 'com.docker.network.driver.overlay.vxlanid_list';
const driver = new OverlayDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, ports: null as unknown as OverlayPorts, cluster: { dataPathAddress: '10.99.0.1', dataPathPort: 4789 }, log: () => {} });

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SwitchyardError, String(err));
    return `${err.kind}:${err.code}:${err.field ?? ''}`;
  }
  return 'accepted';
};

function network(id: string, options: Record<string, string> = {}, others: NetworkRecord[] = []): NetworkRecord {
  return {
    v: 1, id, name: `ov-${id.slice(0, 4)}`, driver: 'overlay', created: '2026-12-02T00:00:00.000000000Z', scope: 'global', enableIPv4: true, enableIPv6: false,
    ipamDriver: 'default', ipamOptions: {}, pools: [{ subnet: '10.10.0.0/24', gateway: '10.10.0.1', userSubnet: true }],
    internal: false, attachable: true, ingress: false, options, labels: {}, predefined: false,
    state: driver.planNetwork({ id, name: 'ov', options: parseOverlayOptions(options), predefined: false, others }),
  };
}

test('VNI: the one asked for, else the lowest free from 4096 up; a clash and a list are refused', () => {
  const a = network('aa'.repeat(32));
  assert.equal(chooseVni([], []), 4096);
  assert.equal(chooseVni([], [a]), 4097);
  const b = network('bb'.repeat(32), { [VXLAN]: '4098' }, [a]);
  assert.equal(chooseVni([], [a, b]), 4097, 'the lowest free, below a taken one');
  assert.equal(chooseVni([], [a, network('cc'.repeat(32), {}, [a])]), 4098);
  assert.equal(chooseVni([42], [a]), 42, 'a VNI below 4096 may be asked for');
  assert.equal(code(() => chooseVni([4096], [a])), 'conflict:VNI_IN_USE:');
  assert.equal(code(() => chooseVni([256, 257], [])), `invalid:INVALID_OPTION:Options.${VXLAN}`);
  assert.equal(code(() => chooseVni([16777215], [])), 'accepted');
});

test('options: vxlanid_list (Docker\'s errors), mtu, encrypted as present/""/true', () => {
  assert.deepEqual(parseOverlayOptions({ [VXLAN]: '16777215' }).vxlanIds, [16777215]);
  assert.equal(code(() => parseOverlayOptions({ [VXLAN]: '16777216' })), `invalid:INVALID_OPTION:Options.${VXLAN}`);
  assert.match(String((() => { try { parseOverlayOptions({ [VXLAN]: 'x1' }); } catch (e) { return (e as Error).message; } })()), /invalid VXLAN ID value "x1" passed/);
  assert.match(String((() => { try { parseOverlayOptions({ [VXLAN]: '16777216' }); } catch (e) { return (e as Error).message; } })()), /out of range/);
  assert.equal(code(() => parseOverlayOptions({ [VXLAN]: '0' })), `invalid:INVALID_OPTION:Options.${VXLAN}`);
  assert.equal(code(() => parseOverlayOptions({ [VXLAN]: '-1' })), `invalid:INVALID_OPTION:Options.${VXLAN}`);
  assert.equal(parseOverlayOptions({ 'com.docker.network.driver.mtu': '1400' }).mtu, 1400);
  assert.equal(code(() => parseOverlayOptions({ 'com.docker.network.driver.mtu': '20' })), 'invalid:INVALID_OPTION:Options.com.docker.network.driver.mtu');
  for (const v of ['', 'true', '1']) assert.equal(parseOverlayOptions({ encrypted: v }).encrypted, true, `encrypted=${JSON.stringify(v)}`);
  assert.equal(parseOverlayOptions({ encrypted: 'false' }).encrypted, false);
  assert.equal(code(() => validateDriverOptions('overlay', { 'com.docker.network.bridge.name': 'x' })), 'invalid:UNKNOWN_OPTION:Options.com.docker.network.bridge.name');
});

test('planNetwork on a daemon without a cluster: a clear error (503) mentioning the cluster store', () => {
  const alone = new OverlayDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, ports: null as unknown as OverlayPorts, log: () => {} });
  assert.equal(code(() => alone.planNetwork({ id: 'a'.repeat(64), name: 'ov', options: parseOverlayOptions({}), predefined: false, others: [] })), 'unavailable:OVERLAY_NO_CLUSTER:');
  assert.throws(() => alone.planNetwork({ id: 'a'.repeat(64), name: 'ov', options: parseOverlayOptions({}), predefined: false, others: [] }), /cluster store/);
});

test('planNetwork: -o encrypted without encryption support refused (503, nothing planned); capabilities; uniqueClaims names the VNI', () => {
  // (-o encrypted with support: test/unit/overlay-encryption-wire.test.ts.)
  assert.equal(code(() => network('dd'.repeat(32), { encrypted: '' })), 'unavailable:OVERLAY_ENCRYPTION_UNSUPPORTED:');
  assert.equal(code(() => network('dd'.repeat(32), { encrypted: 'true' })), 'unavailable:OVERLAY_ENCRYPTION_UNSUPPORTED:');
  assert.equal(code(() => network('dd'.repeat(32), { encrypted: 'false' })), 'accepted');
  assert.equal(code(() => network('dd'.repeat(32), { 'com.docker.network.container_iface_prefix': 'ov' })), 'not-implemented:OPTION_NOT_IMPLEMENTED:Options.com.docker.network.container_iface_prefix');
  assert.deepEqual(driver.capabilities, { scope: 'global', needsIpam: true, creatable: true, singleton: false, attach: 'endpoint', handsOverLinks: false });
  const n = network('ee'.repeat(32), { [VXLAN]: '5000' });
  assert.deepEqual(driver.uniqueClaims(n), ['vni/5000']);
  assert.deepEqual(driver.networkLinks(n), [], 'nothing in the daemon\'s namespace');
  assert.equal(overlayNsName(n.id), '1-eeeeeeeeee');
  assert.deepEqual(overlayLinkNames(n), { bridge: 'ov-001388-eeeee', vxlan: 'vx-001388-eeeee' });
  for (const name of Object.values(overlayLinkNames(network('ff'.repeat(32), { [VXLAN]: '16777215' })))) assert.ok(name.length <= 15, `${name} fits IFNAMSIZ`);
});

test('MTU: underlay − 50 over IPv4, − 70 over IPv6, less encryption; driver.mtu within that limit, else a clear error', () => {
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 4, asked: 0 }), 1450);
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 6, asked: 0 }), 1430);
  assert.equal(overlayMtu({ underlayMtu: 9000, underlayFamily: 4, asked: 0 }), 8950);
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 4, asked: 0, encryptionOverhead: 26 }), 1424, 'the encryption hook');
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 4, asked: 1450 }), 1450);
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 4, asked: 1300 }), 1300);
  assert.equal(code(() => overlayMtu({ underlayMtu: 1500, underlayFamily: 4, asked: 1451 })), 'invalid:OVERLAY_MTU_TOO_LARGE:Options.com.docker.network.driver.mtu');
  assert.equal(code(() => overlayMtu({ underlayMtu: 1500, underlayFamily: 6, asked: 1431 })), 'invalid:OVERLAY_MTU_TOO_LARGE:Options.com.docker.network.driver.mtu');
  assert.equal(code(() => overlayMtu({ underlayMtu: 100, underlayFamily: 4, asked: 0 })), 'invalid:OVERLAY_UNDERLAY_MTU_TOO_SMALL:underlay');
});

test('peers: entries per peer (MAC → node, each IP → MAC), and the difference removes stale and moved ones', () => {
  const p = (n: number, node: string): PeerEndpoint => ({
    endpointId: `${n}`.repeat(64), networkId: 'a'.repeat(64), nodeId: node, nodeAddress: node, mac: `02:42:0A:0A:00:0${n}`, ipv4: `10.10.0.${n}/24`, ipv6: `fd00::${n}/64`,
  });
  const want = peerEntries([p(1, '10.99.0.1'), p(2, '10.99.0.2')]);
  assert.deepEqual(want.fdb, [{ mac: '02:42:0a:0a:00:01', dst: '10.99.0.1' }, { mac: '02:42:0a:0a:00:02', dst: '10.99.0.2' }]);
  assert.deepEqual(want.neigh.map((n) => n.ip), ['10.10.0.1', 'fd00::1', '10.10.0.2', 'fd00::2']);
  const have = peerEntries([p(1, '10.99.0.1'), p(2, '10.99.0.9'), p(3, '10.99.0.3')]);
  const d = peerDiff(have, want);
  assert.deepEqual(d.add.fdb, [{ mac: '02:42:0a:0a:00:02', dst: '10.99.0.2' }], 'the moved MAC, with its new node');
  assert.deepEqual(d.add.neigh, []);
  assert.deepEqual(d.remove.fdb.map((f) => f.dst).sort(), ['10.99.0.3', '10.99.0.9']);
  assert.deepEqual(d.remove.neigh.map((n) => n.ip), ['10.10.0.3', 'fd00::3']);
  assert.deepEqual(peerDiff(want, want), { add: { fdb: [], neigh: [] }, remove: { fdb: [], neigh: [] } }, 'in sync: nothing to do');
});

test('record: the overlay arm round-trips through the codec; the VNI shows under Options as Docker shows it', () => {
  const n = network('ab'.repeat(32), { 'com.docker.network.driver.mtu': '1400' });
  const back = decodeNetworkRecord(JSON.parse(JSON.stringify(n)));
  assert.deepEqual(back.state, n.state);
  assert.equal(code(() => decodeNetworkRecord({ ...JSON.parse(JSON.stringify(n)), state: { driver: 'overlay', vni: 0 } })), 'invalid:INVALID_RECORD:state.vni');
  const view = networkView({ network: n, endpoints: [] } as never, { withContainers: false });
  assert.deepEqual(view.Options, { 'com.docker.network.driver.mtu': '1400', [VXLAN]: '4096' });
});

test('the VXLAN device asks for ARP/ND proxy (IFLA_VXLAN_PROXY = 11) only when told', () => {
  assert.deepEqual([...parseAttrs(vxlanInfoData({ id: 4096, proxy: true })).get(11)!], [1]);
  assert.ok(!parseAttrs(vxlanInfoData({ id: 4096 })).has(11));
});
