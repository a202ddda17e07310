/**
 * Record codecs (model/record-codec.ts) and the engine's loader (engine/state.ts): records
 * are versioned, legacy ones upgrade, malformed or foreign-version ones are refused and
 * left alone. Also: options the bridge parses but does not implement are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { formatIp } from '../../src/model/ip.js';
import { parseBridgeOptions, refuseUnimplementedOptions } from '../../src/model/driver-options.js';
import {
  decodeEndpointRecord, decodeNetworkRecord, decodeSandboxRecord, encodeNetworkRecord,
} from '../../src/model/record-codec.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../../src/model/records.js';
import { EngineState, KEY } from '../../src/engine/state.js';
import type { KeyValue, Store, Txn } from '../../src/store/contract.js';
import { httpStatusOf } from '../../src/api/http-status.js';

const NET_ID = 'a'.repeat(64);
const SB_ID = 'b'.repeat(64);
const EP_ID = 'c'.repeat(64);

/** A network record as the previous release wrote it (no `v`, bridgeName, options as text). */
const legacyNetwork = {
  id: NET_ID, name: 'netA', driver: 'bridge', created: '2025-01-01T12:00:00.000000000Z', scope: 'local',
  enableIPv4: true, enableIPv6: false, ipamDriver: 'default', ipamOptions: {},
  pools: [{ subnet: '172.18.0.0/16', gateway: '172.18.0.1', userSubnet: false }],
  internal: false, attachable: false, ingress: false,
  options: { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1', 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.driver.mtu': '1400' },
  labels: {}, predefined: false, bridgeName: 'sy-aaaaaaaaaaaa',
};
const legacyEndpoint = {
  id: EP_ID, networkId: NET_ID, sandboxId: SB_ID, ifname: 'eth0', hostIfname: 'syvcccccccccc', mac: '02:42:ac:12:00:02',
  ipv4: '172.18.0.2/16', gateway: '172.18.0.1', aliases: [], links: [], dnsNames: ['web'], order: 0,
};
const legacySandbox = {
  id: SB_ID, name: 'web', hostname: 'bbbbbbbbbbbb', created: '2025-01-01T12:00:01Z', command: ['sleep', '1'], env: [],
  networkMode: 'netA', nsPath: '/run/switchyard/netns/' + SB_ID,
  state: { status: 'exited', pid: 0, exitCode: 0, startedAt: '', finishedAt: '', error: '' },
  dns: { servers: [], search: [], options: [] }, links: [], publish: [], publishAll: false, expose: [], ports: [],
  autoRemove: false, dir: '/var/lib/switchyard/sandboxes/' + SB_ID,
};

const isErr = (kind: string, code: string, field?: string) => (e: unknown) =>
  e instanceof SwitchyardError && e.kind === kind && e.code === code && (field === undefined || e.field === field);

test('legacy records upgrade to v1: typed bridge state, hostLink', () => {
  const n = decodeNetworkRecord(structuredClone(legacyNetwork));
  assert.equal(n.v, 1);
  assert.equal('bridgeName' in n, false);
  assert.equal(n.state.driver, 'bridge');
  if (n.state.driver !== 'bridge') return;
  assert.equal(n.state.bridge, 'sy-aaaaaaaaaaaa');
  assert.equal(n.state.options.enableIcc, false);
  assert.equal(n.state.options.mtu, 1400);
  assert.equal(formatIp(n.state.options.hostBindingIpv4!), '127.0.0.1');
  const e = decodeEndpointRecord(structuredClone(legacyEndpoint));
  assert.equal(e.v, 1);
  assert.equal(e.hostLink, 'syvcccccccccc');
  assert.equal('hostIfname' in e, false);
  assert.equal(decodeSandboxRecord(structuredClone(legacySandbox)).v, 1);
});

test('v1 network records round-trip through the store text (addresses as text)', () => {
  const n = decodeNetworkRecord(structuredClone(legacyNetwork));
  const text = encodeNetworkRecord(n);
  assert.match(text, /"hostBindingIpv4":"127\.0\.0\.1"/);
  const back = decodeNetworkRecord(JSON.parse(text));
  assert.deepEqual(back, n);
});

test('malformed and foreign-version records are refused with the field', () => {
  const cases: [() => unknown, string, string | undefined][] = [
    [() => decodeNetworkRecord({ ...legacyNetwork, v: 2 }), 'RECORD_VERSION_UNSUPPORTED', 'v'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, v: '1' }), 'RECORD_VERSION_UNSUPPORTED', 'v'],
    [() => decodeNetworkRecord({ ...legacyNetwork, id: 'x' }), 'INVALID_RECORD', 'id'],
    [() => decodeNetworkRecord({ ...legacyNetwork, pools: 'many' }), 'INVALID_RECORD', 'pools'],
    [() => decodeNetworkRecord({ ...legacyNetwork, driver: 'weave' }), 'INVALID_RECORD', 'driver'],
    [() => decodeNetworkRecord({ ...legacyNetwork, v: 1 }), 'INVALID_RECORD', 'state'],
    [() => decodeNetworkRecord({ ...legacyNetwork, v: 1, state: { driver: 'null' } }), 'INVALID_RECORD', 'state.driver'],
    [() => decodeNetworkRecord({ ...legacyNetwork, internal: 'no' }), 'INVALID_RECORD', 'internal'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, ifname: 'eth0; rm -rf /' }), 'INVALID_RECORD', 'ifname'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, v: 1, hostLink: 'a b' }), 'INVALID_RECORD', 'hostLink'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, aliases: [1] }), 'INVALID_RECORD', 'aliases'],
    [() => decodeSandboxRecord({ ...legacySandbox, state: { status: 'zombie', pid: 0, exitCode: 0 } }), 'INVALID_RECORD', 'status'],
    [() => decodeSandboxRecord({ ...legacySandbox, ports: [7] }), 'INVALID_RECORD', 'ports'],
    [() => decodeSandboxRecord(null), 'INVALID_RECORD', '(record)'],
  ];
  for (const [fn, code, field] of cases) assert.throws(fn, isErr('invalid', code, field), `${code} ${field}`);
});

test('v1 records carry the other branches\' optional fields, validated; records without them still load', () => {
  const requested = { ipamConfig: null, aliases: ['db'], links: null, driverOpts: { a: 'b' }, gwPriority: 5 };
  const e = decodeEndpointRecord({ ...legacyEndpoint, requested });
  assert.deepEqual(e.requested, requested);
  assert.equal(decodeEndpointRecord(structuredClone(legacyEndpoint)).requested, undefined);
  const sb = decodeSandboxRecord({ ...legacySandbox, v: 1, owner: 'switchyard', capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'], privileged: false, pidMode: 'host' });
  assert.deepEqual([sb.capAdd, sb.capDrop, sb.privileged, sb.pidMode], [['CAP_NET_ADMIN'], ['ALL'], false, 'host']);
  assert.equal(decodeSandboxRecord(structuredClone(legacySandbox)).capAdd, undefined);
  assert.equal(decodeNetworkRecord({ ...legacyNetwork, ipamOptionsNull: true }).ipamOptionsNull, true);
  const cases: [() => unknown, string][] = [
    [() => decodeNetworkRecord({ ...legacyNetwork, ipamOptionsNull: 'yes' }), 'ipamOptionsNull'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, requested: { ...requested, aliases: 'db' } }), 'requested.aliases'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, requested: { ...requested, driverOpts: { a: 1 } } }), 'requested.driverOpts.a'],
    [() => decodeEndpointRecord({ ...legacyEndpoint, requested: { ...requested, gwPriority: 0.5 } }), 'requested.gwPriority'],
    [() => decodeSandboxRecord({ ...legacySandbox, capAdd: ['net_admin; x'] }), 'capAdd[0]'],
    [() => decodeSandboxRecord({ ...legacySandbox, capDrop: 'ALL' }), 'capDrop'],
    [() => decodeSandboxRecord({ ...legacySandbox, privileged: 1 }), 'privileged'],
    [() => decodeSandboxRecord({ ...legacySandbox, pidMode: 'container:x' }), 'pidMode'],
  ];
  for (const [fn, field] of cases) assert.throws(fn, isErr('invalid', 'INVALID_RECORD', field), field);
});

/** Just enough of a store for EngineState.load/commit: range over a sorted map, unconditional txn. */
function tinyStore(entries: Record<string, string>): Store {
  const data = new Map(Object.entries(entries));
  return {
    async range(prefix: string): Promise<KeyValue[]> {
      return [...data].filter(([k]) => k.startsWith(prefix)).sort().map(([key, value]) => ({ key, value, createRevision: 1, modRevision: 1, version: 1 }) as KeyValue);
    },
    async txn(t: Txn) {
      for (const op of t.success) {
        if (op.type === 'put') data.set(op.key, op.value);
        else if (op.type === 'delete') data.delete(op.key);
      }
      return { succeeded: true, revision: 2, results: [] } as unknown as Awaited<ReturnType<Store['txn']>>;
    },
  } as unknown as Store;
}

test('the loader refuses bad records, keeps them in the store and keeps their address claims', async () => {
  const otherNet = { ...legacyNetwork, id: 'd'.repeat(64), name: 'future', v: 7 };
  const badEp = { ...legacyEndpoint, id: 'e'.repeat(64), order: -1, ipv4: '172.18.0.3/16' };
  const store = tinyStore({
    [KEY.network(NET_ID)]: JSON.stringify(legacyNetwork),
    [KEY.network(otherNet.id)]: JSON.stringify(otherNet),
    [KEY.sandbox(SB_ID)]: JSON.stringify(legacySandbox),
    [KEY.endpoint(EP_ID)]: JSON.stringify(legacyEndpoint),
    [KEY.endpoint(badEp.id)]: JSON.stringify(badEp),
    [KEY.endpoint('f'.repeat(64))]: '{not json',
    [KEY.address(NET_ID, '172.18.0.2')]: EP_ID,
    [KEY.address(NET_ID, '172.18.0.3')]: badEp.id,
    [KEY.address(NET_ID, '172.18.0.9')]: '9'.repeat(64),
  });
  const state = new EngineState(store);
  const { refused, strayClaims } = await state.load();
  assert.deepEqual(refused.map((r) => [r.key, r.error.code]).sort(), [
    [KEY.endpoint(badEp.id), 'INVALID_RECORD'],
    [KEY.endpoint('f'.repeat(64)), 'INVALID_RECORD'],
    [KEY.network(otherNet.id), 'RECORD_VERSION_UNSUPPORTED'],
  ].sort());
  assert.deepEqual([...state.networks.keys()], [NET_ID]);
  assert.equal(state.endpoints.get(EP_ID)?.hostLink, 'syvcccccccccc');
  // The refused endpoint's address stays taken; only the claim nobody explains is stray.
  assert.deepEqual(strayClaims, [KEY.address(NET_ID, '172.18.0.9')]);
  assert.equal(state.usedAddresses(NET_ID).get('172.18.0.3'), badEp.id);
  assert.ok(state.refusedIds.has(otherNet.id));
  // The refused records are still in the store, untouched.
  assert.equal((await store.range(KEY.network(otherNet.id)))[0]?.value, JSON.stringify(otherNet));
  // A change writes the upgraded shape.
  const net = state.networks.get(NET_ID)!;
  await state.commit({ networks: [{ ...net, labels: { x: 'y' } } satisfies NetworkRecord] });
  const stored = JSON.parse((await store.range(KEY.network(NET_ID)))[0]!.value) as NetworkRecord;
  assert.equal(stored.v, 1);
  assert.equal(stored.state.driver, 'bridge');
  void ({} as EndpointRecord | SandboxRecord);
});

test('bridge options that are parsed but not implemented are refused (not-implemented, 501), naming the option', () => {
  const cases: [Record<string, string>, string][] = [
    [{ 'com.docker.network.bridge.gateway_mode_ipv4': 'routed' }, 'com.docker.network.bridge.gateway_mode_ipv4'],
    [{ 'com.docker.network.bridge.gateway_mode_ipv6': 'isolated' }, 'com.docker.network.bridge.gateway_mode_ipv6'],
    [{ 'com.docker.network.bridge.trusted_host_interfaces': 'eth0' }, 'com.docker.network.bridge.trusted_host_interfaces'],
    [{ 'com.docker.network.host_ipv4': '192.0.2.1' }, 'com.docker.network.host_ipv4'],
    [{ 'com.docker.network.host_ipv6': '2001:db8::1' }, 'com.docker.network.host_ipv6'],
    [{ 'com.docker.network.container_iface_prefix': 'en' }, 'com.docker.network.container_iface_prefix'],
    [{ 'com.docker.network.bridge.default_bridge': 'true' }, 'com.docker.network.bridge.default_bridge'],
  ];
  for (const [opts, key] of cases) {
    assert.throws(() => refuseUnimplementedOptions(parseBridgeOptions(opts)), (e: unknown) => {
      assert.ok(e instanceof SwitchyardError);
      assert.equal(e.kind, 'not-implemented');
      assert.equal(e.code, 'OPTION_NOT_IMPLEMENTED');
      assert.equal(e.field, `Options.${key}`);
      assert.match(e.message, new RegExp(key.replaceAll('.', '\\.')));
      assert.equal(httpStatusOf(e), 501);
      return true;
    }, key);
  }
  // The defaults, said out loud, are fine.
  refuseUnimplementedOptions(parseBridgeOptions({ 'com.docker.network.bridge.gateway_mode_ipv4': 'nat', 'com.docker.network.bridge.trusted_host_interfaces': '' }));
});
