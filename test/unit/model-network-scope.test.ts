/**
 * resolveNetworkScope (model/network-spec.ts): which networks span hosts. An ipvlan L3/L3S
 * network with a parent and `--scope global` (or Docker's `swarm`) on a clustered daemon;
 * the drivers whose networks always span hosts; every other non-local scope refused with
 * the field and the reason. docs/drivers/ipvlan.md "Across hosts".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveNetworkScope, validateNetworkCreate } from '../../src/model/network-spec.js';
import { SwitchyardError } from '../../src/errors.js';

const clustered = { driverScope: 'local' as const, clustered: true };
const spec = (Driver: string, Scope: string, Options: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
  validateNetworkCreate({ Name: 'n', Driver, Scope, Options, IPAM: { Config: [{ Subnet: '10.30.0.0/24' }] }, ...extra });
const refused = (code: string, field: string, msg: RegExp) => (e: unknown) =>
  e instanceof SwitchyardError && e.code === code && e.field === field && e.kind === 'invalid' && msg.test(e.message);

test('ipvlan L3/L3S with a parent and scope global or swarm spans hosts on a clustered daemon', () => {
  for (const mode of ['l3', 'l3s']) {
    for (const scope of ['global', 'swarm']) {
      assert.equal(resolveNetworkScope(spec('ipvlan', scope, { parent: 'eth1', ipvlan_mode: mode }), clustered), 'global', `${mode} ${scope}`);
    }
  }
  assert.equal(resolveNetworkScope(spec('ipvlan', 'global', { parent: 'eth1.40', ipvlan_mode: 'l3', 'com.switchyard.routed.block_size': '28' }), clustered), 'global');
});

test('local stays local; the global drivers are global whatever the scope says', () => {
  for (const d of ['bridge', 'macvlan', 'ipvlan']) assert.equal(resolveNetworkScope(spec(d, ''), clustered), 'local');
  assert.equal(resolveNetworkScope(spec('ipvlan', 'local', { parent: 'eth1', ipvlan_mode: 'l3' }), { driverScope: 'local', clustered: false }), 'local');
  assert.equal(resolveNetworkScope(spec('overlay', ''), { driverScope: 'global', clustered: true }), 'global');
});

test('every other non-local scope is refused, naming the field and the reason', () => {
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'global', { parent: 'eth1' }), clustered), refused('SCOPE_NOT_SUPPORTED', 'Scope', /only in L3 mode/));
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'swarm', { parent: 'eth1', ipvlan_mode: 'l2' }), clustered), refused('SCOPE_NOT_SUPPORTED', 'Scope', /scope swarm: .*L3 mode/));
  assert.throws(() => resolveNetworkScope(spec('macvlan', 'global', { parent: 'eth1' }), clustered), refused('SCOPE_NOT_SUPPORTED', 'Scope', /macvlan driver makes networks of one host/));
  assert.throws(() => resolveNetworkScope(spec('bridge', 'swarm'), clustered), refused('SCOPE_NOT_SUPPORTED', 'Scope', /bridge driver/));
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'global', { ipvlan_mode: 'l3' }), clustered), refused('SCOPE_NOT_SUPPORTED', 'Options.parent', /needs -o parent/));
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'global', { parent: 'eth1', ipvlan_mode: 'l3' }, { Internal: true }), clustered), refused('SCOPE_NOT_SUPPORTED', 'Internal', /dummy parent/));
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'global', { parent: 'eth1', ipvlan_mode: 'l3' }), { driverScope: 'local', clustered: false }), refused('CLUSTER_STORE_REQUIRED', 'Scope', /--cluster-store/));
});

test('the block size option: only on ipvlan networks that span hosts, and it must fit the subnets', () => {
  const o = { parent: 'eth1', ipvlan_mode: 'l3' };
  assert.throws(() => resolveNetworkScope(spec('ipvlan', '', { ...o, 'com.switchyard.routed.block_size': '26' }), clustered), refused('SCOPE_NOT_SUPPORTED', 'Options.com.switchyard.routed.block_size', /span hosts/));
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'global', { ...o, 'com.switchyard.routed.block_size': '12' }), clustered), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_OPTION');
  assert.throws(() => resolveNetworkScope(spec('ipvlan', 'global', { ...o, 'com.switchyard.routed.block_size': '16' }), clustered), (e: unknown) => e instanceof SwitchyardError && e.code === 'BLOCK_LARGER_THAN_SUBNET');
});
