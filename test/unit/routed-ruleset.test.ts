import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { renderRoutedBase, renderRoutedReload, routedEndpointElements, routedNetworkElements } from '../../src/services/firewall/ruleset/routed.js';
import { parseRoutedOptions, validateDriverOptions } from '../../src/model/driver-options.js';
import { decodeNetworkRecord, encodeNetworkRecord } from '../../src/model/record-codec.js';
import { RoutedDriver } from '../../src/drivers/routed.js';
import type { Rtnl } from '../../src/kernel/netlink/index.js';
import type { NetworkRecord } from '../../src/model/records.js';

test('routed ruleset: fail-closed source check before routing, isolation by (subnet . subnet), egress and masquerade only for non-internal networks', () => {
  const base = renderRoutedBase();
  assert.match(base, /add chain inet switchyard-routed prerouting \{ type filter hook prerouting priority raw; policy accept; \}/);
  assert.match(base, /add rule inet switchyard-routed prerouting iifname "syr\*" jump check-source/);
  const check = base.split('\n').filter((l) => l.startsWith('add rule inet switchyard-routed check-source'));
  assert.match(check[0]!, /iifname != @ports counter drop comment "UNKNOWN PORT"/, 'an unknown routed port is dropped first');
  assert.match(check.at(-1)!, /counter drop comment "ROUTED SPOOF"/, 'and anything not from the port\'s own address last');
  assert.match(base, /from-sandbox ip saddr \. ip daddr @same4 accept\n.*from-sandbox ip6 saddr \. ip6 daddr @same6 accept\n[\s\S]*from-sandbox ip daddr @routed4 counter drop/, 'the same network is accepted before another routed network is dropped');
  assert.match(base, /postrouting oifname != "syr\*" ip saddr @egress4 ip daddr != @routed4 masquerade/);
  // Published ports: DNATed flows pass this table (inet switchyard keeps them to published ports),
  // an internal network's sandbox does not reach one (egress only).
  assert.match(base, /to-sandbox ct state established,related accept\n.*to-sandbox ct status dnat ct direction original accept comment "PUBLISHED PORT \(DNAT\)"\n.*to-sandbox ip saddr \. ip daddr @same4 accept/);
  assert.match(base, /from-sandbox ct status dnat ct direction reply accept/);
  assert.match(base, /from-sandbox ip saddr @egress4 ct status dnat ct direction original accept/);
  assert.deepEqual(routedNetworkElements('add', { subnets: ['10.1.0.0/16', 'fd01::/64'], internal: false }), [
    'add element inet switchyard-routed same4 { 10.1.0.0/16 . 10.1.0.0/16 }',
    'add element inet switchyard-routed routed4 { 10.1.0.0/16 }',
    'add element inet switchyard-routed egress4 { 10.1.0.0/16 }',
    'add element inet switchyard-routed same6 { fd01::/64 . fd01::/64 }',
    'add element inet switchyard-routed routed6 { fd01::/64 }',
    'add element inet switchyard-routed egress6 { fd01::/64 }',
  ]);
  assert.ok(!routedNetworkElements('add', { subnets: ['10.1.0.0/16'], internal: true }).some((l) => l.includes('egress')), 'internal: no egress');
  assert.deepEqual(routedEndpointElements('delete', { port: 'syr0123456789', ipv4: '10.1.0.5', ipv6: 'fd01::5' }), [
    'delete element inet switchyard-routed ports { "syr0123456789" }',
    'delete element inet switchyard-routed src4 { "syr0123456789" . 10.1.0.5 }',
    'delete element inet switchyard-routed src6 { "syr0123456789" . fd01::5 }',
  ]);
  assert.throws(() => routedEndpointElements('add', { port: 'a"; flush ruleset', ipv4: '10.1.0.5' }), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_INTERFACE_NAME');
  assert.throws(() => routedEndpointElements('add', { port: 'syr1', ipv4: 'fd01::5' }), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_ADDRESS');
  assert.throws(() => routedNetworkElements('add', { subnets: ['10.1.0.1/16'], internal: false }), (e: unknown) => e instanceof SwitchyardError && e.code === 'NON_CANONICAL_CIDR');
  const reload = renderRoutedReload([], []);
  assert.match(reload, /flush set inet switchyard-routed ports\n/);
});

test('routed options and record: block size parsed once, unknown keys refused, the record round-trips through the store text', () => {
  assert.deepEqual(validateDriverOptions('routed', { 'com.switchyard.routed.block_size': '28' }), { ...parseRoutedOptions({ 'com.switchyard.routed.block_size': '28' }) });
  assert.equal(parseRoutedOptions({}).blockSize, 26);
  assert.throws(() => parseRoutedOptions({ parent: 'eth0' }), (e: unknown) => e instanceof SwitchyardError && e.code === 'UNKNOWN_OPTION' && e.field === 'Options.parent');
  const driver = new RoutedDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, defaultMtu: 1500, log: () => {} });
  assert.equal(driver.capabilities.scope, 'global');
  assert.equal(driver.planEndpoint({} as NetworkRecord, { id: 'ab'.repeat(32) }).hostLink, 'syrababababab');
  const options = { 'com.switchyard.routed.block_size': '27' };
  const net: NetworkRecord = {
    v: 1, id: 'cd'.repeat(32), name: 'rt', driver: 'routed', created: '2026-01-01T00:00:00.000000000Z', scope: 'global', enableIPv4: true, enableIPv6: false,
    ipamDriver: 'default', ipamOptions: {}, pools: [{ subnet: '10.1.0.0/16', userSubnet: true }], internal: false, attachable: true, ingress: false,
    options, labels: {}, predefined: false,
    state: driver.planNetwork({ id: 'cd'.repeat(32), name: 'rt', options: parseRoutedOptions(options), predefined: false, others: [] }),
  };
  assert.deepEqual(decodeNetworkRecord(JSON.parse(encodeNetworkRecord(net))), net);
  assert.throws(() => driver.planNetwork({ id: 'cd'.repeat(32), name: 'rt', options: parseRoutedOptions({ 'com.docker.network.container_iface_prefix': 'net' }), predefined: false, others: [] }), (e: unknown) => e instanceof SwitchyardError && e.code === 'OPTION_NOT_IMPLEMENTED');
});

test('routed ruleset with offload: the flowtable, and same-network TCP/UDP handed to it before the plain same-network accept; devices added by name, checked', async () => {
  const { renderOffloadDevices } = await import('../../src/services/firewall/ruleset/routed.js');
  const plain = renderRoutedBase();
  assert.doesNotMatch(plain, /flowtable|flow add/, 'no offload unless asked (a kernel without nf_flow_table refuses the whole base)');
  const base = renderRoutedBase({ offload: true });
  assert.match(base, /add flowtable inet switchyard-routed fastpath \{ hook ingress priority filter; \}\n/);
  const from = base.split('\n').filter((l) => l.startsWith('add rule inet switchyard-routed from-sandbox'));
  assert.deepEqual(from.slice(0, 3), [
    'add rule inet switchyard-routed from-sandbox meta l4proto { tcp, udp } ip saddr . ip daddr @same4 flow add @fastpath accept comment "OFFLOAD"',
    'add rule inet switchyard-routed from-sandbox meta l4proto { tcp, udp } ip6 saddr . ip6 daddr @same6 flow add @fastpath accept comment "OFFLOAD"',
    'add rule inet switchyard-routed from-sandbox ip saddr . ip daddr @same4 accept',
  ]);
  assert.ok(!base.split('\n').some((l) => l.includes('to-sandbox') && l.includes('flow add')), 'only what leaves a sandbox of the same network is offloaded');
  assert.match(renderRoutedReload([], [], { offload: true }), /add flowtable/);
  assert.equal(renderOffloadDevices([]), '');
  assert.equal(renderOffloadDevices(['syr0123456789', 'eth0']), 'add flowtable inet switchyard-routed fastpath { hook ingress priority filter; devices = { "syr0123456789", "eth0" }; }\n');
  assert.throws(() => renderOffloadDevices(['a" }; flush ruleset; #']), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_INTERFACE_NAME');
});
