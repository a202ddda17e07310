import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { formatIp } from '../../src/model/ip.js';
import { parseGoBool, parseGoDuration } from '../../src/model/go-syntax.js';
import { isValidIfname, parseBridgeOptions, validateDriverOptions, type BridgeOptions } from '../../src/model/driver-options.js';

const rejects = (fn: () => unknown, code: string, field: string) =>
  assert.throws(fn, (e: unknown) => e instanceof SwitchyardError && e.kind === 'invalid' && e.code === code && e.field === field);

test('Go ParseBool and ParseDuration', () => {
  for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(t), true);
  for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(f), false);
  for (const x of ['yes', 'tRUE', '', ' true']) assert.equal(parseGoBool(x), undefined);
  const d: [string, number | undefined][] = [['24h', 86_400_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['300ms', 300], ['-2m', -120_000],
    ['0', 0], ['10', undefined], ['h', undefined], ['1d', undefined], ['', undefined], ['.s', undefined]];
  for (const [text, want] of d) assert.equal(parseGoDuration(text), want, text);
});

test('bridge defaults', () => {
  const o = parseBridgeOptions({});
  assert.deepEqual(
    { ...o, hostBindingIpv4: o.hostBindingIpv4 },
    {
      driver: 'bridge', mtu: 0, containerIfacePrefix: undefined, enableIpv4: undefined, enableIpv6: undefined, hostIpv4: undefined,
      hostIpv6: undefined, bridgeName: undefined, enableIcc: true, enableIpMasquerade: true, hostBindingIpv4: undefined,
      inhibitIpv4: false, gatewayModeIpv4: 'nat', gatewayModeIpv6: 'nat', trustedHostInterfaces: [], defaultBridge: false,
    } satisfies BridgeOptions,
  );
});

test('bridge options are parsed and typed', () => {
  const o = parseBridgeOptions({
    'com.docker.network.bridge.name': 'sybr0',
    'com.docker.network.bridge.enable_icc': 'false',
    'com.docker.network.bridge.enable_ip_masquerade': 'F',
    'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1',
    'com.docker.network.driver.mtu': '9000',
    'com.docker.network.bridge.inhibit_ipv4': '1',
    'com.docker.network.container_iface_prefix': 'en',
    'com.docker.network.enable_ipv6': 'true',
    'com.docker.network.bridge.trusted_host_interfaces': 'eth0:eth1',
    'com.docker.network.bridge.gateway_mode_ipv4': 'routed',
  });
  assert.equal(o.bridgeName, 'sybr0');
  assert.equal(o.enableIcc, false);
  assert.equal(o.enableIpMasquerade, false);
  assert.equal(formatIp(o.hostBindingIpv4!), '127.0.0.1');
  assert.equal(o.mtu, 9000);
  assert.equal(o.inhibitIpv4, true);
  assert.equal(o.containerIfacePrefix, 'en');
  assert.equal(o.enableIpv6, true);
  assert.deepEqual(o.trustedHostInterfaces, ['eth0', 'eth1']);
  assert.equal(o.gatewayModeIpv4, 'routed');
  assert.equal(formatIp(parseBridgeOptions({ 'com.docker.network.bridge.host_binding_ipv4': '::1' }).hostBindingIpv4!), '::1');
});

test('bad bridge options name the key', () => {
  const table: [Record<string, string>, string, string][] = [
    [{ 'com.docker.network.bridge.name': 'x'.repeat(16) }, 'INVALID_OPTION', 'Options.com.docker.network.bridge.name'],
    [{ 'com.docker.network.bridge.name': 'a/b' }, 'INVALID_OPTION', 'Options.com.docker.network.bridge.name'],
    [{ 'com.docker.network.bridge.name': '..' }, 'INVALID_OPTION', 'Options.com.docker.network.bridge.name'],
    [{ 'com.docker.network.bridge.enable_icc': 'yes' }, 'INVALID_OPTION', 'Options.com.docker.network.bridge.enable_icc'],
    [{ 'com.docker.network.driver.mtu': '67' }, 'INVALID_OPTION', 'Options.com.docker.network.driver.mtu'],
    [{ 'com.docker.network.driver.mtu': '65536' }, 'INVALID_OPTION', 'Options.com.docker.network.driver.mtu'],
    [{ 'com.docker.network.driver.mtu': '-1' }, 'INVALID_OPTION', 'Options.com.docker.network.driver.mtu'],
    [{ 'com.docker.network.bridge.host_binding_ipv4': 'localhost' }, 'INVALID_ADDRESS', 'Options.com.docker.network.bridge.host_binding_ipv4'],
    [{ 'com.docker.network.bridge.gateway_mode_ipv4': 'magic' }, 'INVALID_OPTION', 'Options.com.docker.network.bridge.gateway_mode_ipv4'],
    [{ 'com.docker.network.host_ipv4': '::1' }, 'INVALID_OPTION', 'Options.com.docker.network.host_ipv4'],
    [{ 'com.docker.network.bridge.nmae': 'x' }, 'UNKNOWN_OPTION', 'Options.com.docker.network.bridge.nmae'],
    [{ parent: 'eth0' }, 'UNKNOWN_OPTION', 'Options.parent'],
  ];
  for (const [opts, code, field] of table) rejects(() => parseBridgeOptions(opts), code, field);
  assert.equal(parseBridgeOptions({ 'com.docker.network.driver.mtu': '0' }).mtu, 0);
  assert.equal(parseBridgeOptions({ 'com.docker.network.driver.mtu': '68' }).mtu, 68);
});

test('Linux interface names (dev_valid_name)', () => {
  for (const ok of ['eth0', 'br-0123456789ab', 'a', 'x'.repeat(15), 'eth0.10']) assert.ok(isValidIfname(ok), ok);
  for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'a\tb', 'x'.repeat(16)]) assert.ok(!isValidIfname(bad), bad);
});

test('validateDriverOptions dispatches per driver', () => {
  const mv = validateDriverOptions('macvlan', { parent: 'eth0.10', macvlan_mode: 'passthru' });
  assert.deepEqual([mv.driver, (mv as { parent?: string }).parent, (mv as { mode?: string }).mode], ['macvlan', 'eth0.10', 'passthru']);
  assert.equal((validateDriverOptions('macvlan', {}) as { mode: string }).mode, 'bridge');
  const iv = validateDriverOptions('ipvlan', { parent: 'eth1', ipvlan_mode: 'l3s', ipvlan_flag: 'private' });
  assert.deepEqual([(iv as { mode: string }).mode, (iv as { flag: string }).flag], ['l3s', 'private']);
  assert.equal((validateDriverOptions('ipvlan', {}) as { mode: string }).mode, 'l2');
  assert.equal((validateDriverOptions('overlay', { encrypted: '' }) as { encrypted: boolean }).encrypted, true);
  assert.equal((validateDriverOptions('overlay', { encrypted: 'false' }) as { encrypted: boolean }).encrypted, false);
  assert.equal((validateDriverOptions('overlay', {}) as { encrypted: boolean }).encrypted, false);
  assert.deepEqual((validateDriverOptions('overlay', { 'com.docker.network.driver.overlay.vxlanid_list': '256,257' }) as { vxlanIds: readonly number[] }).vxlanIds, [256, 257]);
  rejects(() => validateDriverOptions('macvlan', { macvlan_mode: 'l2' }), 'INVALID_OPTION', 'Options.macvlan_mode');
  rejects(() => validateDriverOptions('macvlan', { parent: 'lo' }), 'INVALID_OPTION', 'Options.parent');
  rejects(() => validateDriverOptions('macvlan', { ipvlan_mode: 'l2' }), 'UNKNOWN_OPTION', 'Options.ipvlan_mode');
  rejects(() => validateDriverOptions('ipvlan', { ipvlan_mode: 'l4' }), 'INVALID_OPTION', 'Options.ipvlan_mode');
  rejects(() => validateDriverOptions('ipvlan', { ipvlan_flag: 'passthru' }), 'INVALID_OPTION', 'Options.ipvlan_flag');
  rejects(() => validateDriverOptions('overlay', { parent: 'eth0' }), 'UNKNOWN_OPTION', 'Options.parent');
  rejects(() => validateDriverOptions('overlay', { encrypted: 'maybe' }), 'INVALID_OPTION', 'Options.encrypted');
  rejects(() => validateDriverOptions('overlay', { 'com.docker.network.driver.overlay.vxlanid_list': '0' }), 'INVALID_OPTION', 'Options.com.docker.network.driver.overlay.vxlanid_list');
  rejects(() => validateDriverOptions('host', { 'com.docker.network.driver.mtu': '1500' }), 'UNKNOWN_OPTION', 'Options.com.docker.network.driver.mtu');
  assert.equal(validateDriverOptions('null', { 'com.docker.network.enable_ipv6': 'false' }).enableIpv6, false);
});
