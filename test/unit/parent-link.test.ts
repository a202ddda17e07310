/**
 * The pure half of the macvlan/ipvlan parents (drivers/parent-link.ts): which parent a record
 * gets, the host interface's addresses and routes, and the ipvlan record arm through the
 * store's codec. The kernel half runs in test/integration/macvlan-parents.test.ts and the VM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkParentSharing, dummyMac, hostInterfaceAddresses, hostInterfaceName, hostRoutes, isolated, parentPlan } from '../../src/drivers/parent-link.js';
import { parseIpvlanOptions, parseMacvlanOptions } from '../../src/model/driver-options.js';
import { decodeNetworkRecord, encodeNetworkRecord } from '../../src/model/record-codec.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { SwitchyardError } from '../../src/errors.js';

const ID = '0123456789ab'.padEnd(64, 'c');

function net(driver: 'macvlan' | 'ipvlan', options: Record<string, string>, internal = false): NetworkRecord {
  const state = driver === 'macvlan' ? { driver, options: parseMacvlanOptions(options) } as const : { driver, options: parseIpvlanOptions(options) } as const;
  return {
    v: 1, id: ID, name: 'n', driver, created: '2026-01-01T00:00:00.000000000Z', scope: 'local', enableIPv4: true, enableIPv6: true,
    ipamDriver: 'default', ipamOptions: {},
    pools: [
      { subnet: '192.0.2.0/24', gateway: '192.0.2.1', auxAddresses: { host: '192.0.2.250', router: '192.0.2.2' }, userSubnet: true },
      { subnet: '198.51.100.0/24', gateway: '198.51.100.1', userSubnet: true },
      { subnet: '2001:db8::/64', gateway: '2001:db8::1', auxAddresses: { host: '2001:db8::fe' }, userSubnet: true },
    ],
    internal, attachable: false, ingress: false, options, labels: {}, predefined: false, state,
  };
}

test('parentPlan: a given parent, or a dummy named as Docker names it (dm-/di- + id12) without one or with --internal (a given parent then unused, as libnetwork); the dummy\'s MAC from the id', () => {
  assert.deepEqual(parentPlan(net('macvlan', { parent: 'eth0.10' }), 'macvlan'), { kind: 'given', name: 'eth0.10' });
  assert.deepEqual(parentPlan(net('macvlan', {}), 'macvlan'), { kind: 'dummy', name: 'dm-0123456789ab', alias: 'switchyard:macvlan-dummy:0123456789ab' });
  assert.deepEqual(parentPlan(net('ipvlan', {}, true), 'ipvlan'), { kind: 'dummy', name: 'di-0123456789ab', alias: 'switchyard:ipvlan-dummy:0123456789ab' });
  assert.equal(isolated(net('ipvlan', {}), 'ipvlan'), true);
  assert.equal(isolated(net('ipvlan', { parent: 'eth0' }), 'ipvlan'), false);
  assert.deepEqual(parentPlan(net('ipvlan', { parent: 'eth0' }, true), 'ipvlan'), { kind: 'dummy', name: 'di-0123456789ab', alias: 'switchyard:ipvlan-dummy:0123456789ab' });
  assert.deepEqual(parentPlan(net('macvlan', { parent: 'eth0.10' }, true), 'macvlan'), { kind: 'dummy', name: 'dm-0123456789ab', alias: 'switchyard:macvlan-dummy:0123456789ab' });
  assert.equal(isolated(net('macvlan', { parent: 'eth0' }, true), 'macvlan'), true);
  assert.equal(dummyMac(net('ipvlan', {})), '02:01:23:45:67:89', 'locally administered, unicast, from the id');
  // Sharing: an internal network does not use its given parent, so it shares with nothing.
  const onEth0 = net('ipvlan', { parent: 'eth0' });
  assert.throws(() => checkParentSharing('ipvlan', parseIpvlanOptions({ parent: 'eth0' }), [onEth0]), (e: unknown) => e instanceof SwitchyardError && e.code === 'IPVLAN_PARENT_IN_USE');
  assert.doesNotThrow(() => checkParentSharing('ipvlan', parseIpvlanOptions({ parent: 'eth0' }), [onEth0], true));
});

test('host interface: named syh + id12, holds the aux addresses named host as /32 and /128, routes each endpoint address as a host route', () => {
  const n = net('macvlan', { parent: 'eth0', 'com.switchyard.host_interface': 'true' });
  assert.equal(hostInterfaceName(n), 'syh0123456789ab');
  assert.equal(hostInterfaceName(n).length, 15);
  assert.deepEqual(hostInterfaceAddresses(n), ['192.0.2.250/32', '2001:db8::fe/128']);
  const ep = { ipv4: '192.0.2.7/24', ipv6: '2001:db8::7/64' } as EndpointRecord;
  assert.deepEqual(hostRoutes(ep, 9), [{ dst: '192.0.2.7/32', oif: 9 }, { dst: '2001:db8::7/128', oif: 9 }]);
  assert.equal(parseMacvlanOptions({ 'com.switchyard.host_interface': 'true' }).hostInterface, true);
  assert.equal(parseIpvlanOptions({}).hostInterface, false);
  assert.throws(() => parseIpvlanOptions({ 'com.switchyard.host_interface': 'maybe' }), (e: unknown) => e instanceof SwitchyardError && e.field === 'Options.com.switchyard.host_interface');
});

test('the ipvlan record arm survives the store codec (options re-parsed from the text, as at create)', () => {
  const n = net('ipvlan', { parent: 'eth1', ipvlan_mode: 'l3s', ipvlan_flag: 'private', 'com.switchyard.host_interface': 'true' });
  const back = decodeNetworkRecord(JSON.parse(encodeNetworkRecord(n)));
  assert.deepEqual(back.state, n.state);
  assert.deepEqual(back.state.driver === 'ipvlan' && [back.state.options.mode, back.state.options.flag, back.state.options.hostInterface], ['l3s', 'private', true]);
});
