import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { formatCidr, formatIp } from '../../src/model/ip.js';
import { validateNetworkCreate } from '../../src/model/network-spec.js';

const err = (kind: string, code: string, field: string | undefined, message?: string | RegExp) => (e: unknown) => {
  assert.ok(e instanceof SwitchyardError, String(e));
  assert.deepEqual([e.kind, e.code, e.field], [kind, code, field], e.message);
  if (typeof message === 'string') assert.equal(e.message, message);
  else if (message) assert.match(e.message, message);
  return true;
};

/** What `docker network create` (CLI 28) sends. */
const cli = (extra: Record<string, unknown> = {}) => ({
  Name: 'n1', Driver: 'bridge', IPAM: { Driver: 'default', Options: {}, Config: [] }, Options: {}, Labels: {}, ...extra,
});

test('a plain CLI request normalizes to defaults', () => {
  const s = validateNetworkCreate(cli());
  assert.equal(s.name, 'n1');
  assert.equal(s.driver, 'bridge');
  assert.equal(s.scope, 'local');
  assert.equal(s.enableIPv4, true);
  assert.equal(s.enableIPv6, false);
  assert.deepEqual(s.ipam.config, []);
  assert.equal(s.ipam.driver, 'default');
  assert.equal(s.ipam.serial, false);
  assert.equal(s.internal, false);
  assert.equal(s.driverOptions.driver, 'bridge');
  assert.deepEqual(s.warnings, []);
  // Minimal API body: only a name.
  assert.equal(validateNetworkCreate({ Name: 'x' }).driver, 'bridge');
});

test('IPAM config is parsed', () => {
  const s = validateNetworkCreate(cli({
    EnableIPv6: true,
    IPAM: { Driver: 'default', Options: { 'com.docker.network.ipam.serial': 'true' }, Config: [
      { Subnet: '10.1.0.0/16', IPRange: '10.1.2.0/24', Gateway: '10.1.0.254', AuxiliaryAddresses: { r: '10.1.0.2' } },
      { Subnet: 'fd00:1::/64' },
    ] },
    Internal: true, Attachable: true, Labels: { a: 'b' },
  }));
  assert.equal(s.ipam.config.length, 2);
  const [v4, v6] = s.ipam.config;
  assert.equal(formatCidr(v4!.subnet), '10.1.0.0/16');
  assert.equal(formatCidr(v4!.ipRange!), '10.1.2.0/24');
  assert.equal(formatIp(v4!.gateway!), '10.1.0.254');
  assert.equal(formatIp(v4!.auxAddresses['r']!), '10.1.0.2');
  assert.equal(v6!.family, 6);
  assert.equal(s.ipam.serial, true);
  assert.deepEqual([s.internal, s.attachable, s.labels], [true, true, { a: 'b' }]);
});

test('IPAM errors name the field, in Docker\'s words', () => {
  const cfg = (...Config: unknown[]) => cli({ IPAM: { Config } });
  const cases: [unknown, string, string, string | RegExp][] = [
    [cfg({ Subnet: '10.1.0.0/16', Gateway: '10.0.0.1' }), 'IPAM.Config[0].Gateway', 'INVALID_IPAM',
      "invalid gateway 10.0.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"],
    [cfg({ Subnet: '10.0.0.0/16' }, { Subnet: '10.1.0.0/16', Gateway: '10.0.0.1' }), 'IPAM.Config[1].Gateway', 'INVALID_IPAM', /invalid gateway 10\.0\.0\.1/],
    [cfg({ Subnet: '10.1.0.1/16' }), 'IPAM.Config[0].Subnet', 'INVALID_IPAM', 'invalid subnet 10.1.0.1/16: it should be 10.1.0.0/16'],
    [cfg({ Subnet: 'banana' }), 'IPAM.Config[0].Subnet', 'INVALID_IPAM', 'invalid subnet banana: invalid CIDR block notation'],
    [cfg({ Gateway: '10.0.0.1' }), 'IPAM.Config[0].Subnet', 'INVALID_IPAM', 'invalid subnet : invalid CIDR block notation'],
    [cfg({ Subnet: '10.1.0.0/16', IPRange: '10.2.0.0/24' }), 'IPAM.Config[0].IPRange', 'INVALID_IPAM',
      "invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range"],
    [cfg({ Subnet: '10.1.0.0/16', IPRange: '10.0.0.0/8' }), 'IPAM.Config[0].IPRange', 'INVALID_IPAM',
      'invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.1.0.0/16'],
    [cfg({ Subnet: '10.1.0.0/16', IPRange: '10.1.0.1/24' }), 'IPAM.Config[0].IPRange', 'INVALID_IPAM', 'invalid ip-range 10.1.0.1/24: it should be 10.1.0.0/24'],
    [cfg({ Subnet: '10.1.0.0/16', IPRange: 'fd00::/64' }), 'IPAM.Config[0].IPRange', 'INVALID_IPAM', 'invalid ip-range fd00::/64: parent subnet is an IPv4 block'],
    [cfg({ Subnet: '10.1.0.0/16', AuxiliaryAddresses: { r: '10.9.0.1' } }), 'IPAM.Config[0].AuxiliaryAddresses.r', 'INVALID_IPAM',
      "invalid auxiliary address r: parent subnet 10.1.0.0/16 doesn't contain this address"],
    [cfg({ Subnet: '10.1.0.0/16', AuxiliaryAddresses: { r: 'x' } }), 'IPAM.Config[0].AuxiliaryAddresses.r', 'INVALID_IPAM', 'invalid auxiliary address r: invalid address'],
    [cfg({ Subnet: '10.1.0.0/16', Gateway: 'fd00::1' }), 'IPAM.Config[0].Gateway', 'INVALID_IPAM', 'invalid gateway fd00::1: parent subnet is an IPv4 block'],
    [cfg({ Subnet: '10.0.0.0/8' }, { Subnet: '10.1.0.0/16' }), 'IPAM.Config[1].Subnet', 'SUBNET_OVERLAP', /overlaps with subnet 10\.0\.0\.0\/8/],
    [cli({ IPAM: { Options: { foo: '1' } } }), 'IPAM.Options.foo', 'UNKNOWN_OPTION', /foo/],
    [cli({ IPAM: { Options: { 'com.docker.network.ipam.serial': 'sure' } } }), 'IPAM.Options.com.docker.network.ipam.serial', 'INVALID_OPTION', /sure/],
    [cli({ IPAM: { Config: {} } }), 'IPAM.Config', 'INVALID_TYPE', /array/],
  ];
  for (const [req, field, code, message] of cases) assert.throws(() => validateNetworkCreate(req), err('invalid', code, field, message), field);
  // Several problems are reported together.
  assert.throws(() => validateNetworkCreate(cfg({ Subnet: '10.1.0.1/16', Gateway: '10.2.0.1' })),
    err('invalid', 'INVALID_IPAM', 'IPAM.Config[0].Subnet', /it should be 10\.1\.0\.0\/16; invalid gateway 10\.2\.0\.1/));
});

test('bridge allows one subnet per family; other drivers several', () => {
  const two = { IPAM: { Config: [{ Subnet: '10.1.0.0/16' }, { Subnet: '10.2.0.0/16' }] } };
  assert.throws(() => validateNetworkCreate(cli(two)), err('forbidden', 'MULTIPLE_SUBNETS', 'IPAM.Config[1].Subnet', "bridge driver doesn't support multiple subnets"));
  assert.equal(validateNetworkCreate(cli({ ...two, Driver: 'macvlan' })).ipam.config.length, 2);
  const dual = validateNetworkCreate(cli({ EnableIPv6: true, IPAM: { Config: [{ Subnet: '10.1.0.0/16' }, { Subnet: 'fd00::/64' }] } }));
  assert.equal(dual.ipam.config.length, 2);
});

test('IPv6 entries are skipped when IPv6 is off (Docker), IPv4 entries when IPv4 is off', () => {
  const s = validateNetworkCreate(cli({ IPAM: { Config: [{ Subnet: 'fd00::1/64', Gateway: 'bad' }, { Subnet: '10.1.0.0/16' }] } }));
  assert.deepEqual(s.ipam.config.map((c) => formatCidr(c.subnet)), ['10.1.0.0/16']);
  const v6only = validateNetworkCreate(cli({ EnableIPv4: false, EnableIPv6: true, IPAM: { Config: [{ Subnet: '10.1.0.0/16' }] } }));
  assert.deepEqual(v6only.ipam.config, []);
  assert.equal(v6only.warnings.length, 1);
  assert.throws(() => validateNetworkCreate(cli({ EnableIPv4: false })), err('invalid', 'NO_ADDRESS_FAMILY', 'EnableIPv4'));
});

test('address families: top-level fields win over options, which win over defaults', () => {
  const byOpt = validateNetworkCreate(cli({ Options: { 'com.docker.network.enable_ipv6': 'true' } }));
  assert.equal(byOpt.enableIPv6, true);
  assert.deepEqual(byOpt.options, { 'com.docker.network.enable_ipv6': 'true' });
  const both = validateNetworkCreate(cli({ EnableIPv6: false, Options: { 'com.docker.network.enable_ipv6': 'true' } }));
  assert.equal(both.enableIPv6, false);
  assert.deepEqual(both.options, {}, 'the option is dropped when the field decided (moby#49866)');
  assert.throws(() => validateNetworkCreate(cli({ EnableIPv6: 'yes' })), err('invalid', 'INVALID_TYPE', 'EnableIPv6'));
});

test('names, drivers, scopes', () => {
  assert.throws(() => validateNetworkCreate(cli({ Name: '' })), err('invalid', 'INVALID_NAME', 'Name', 'invalid name: name is empty'));
  assert.throws(() => validateNetworkCreate(cli({ Name: undefined })), err('invalid', 'INVALID_NAME', 'Name'));
  assert.throws(() => validateNetworkCreate(cli({ Name: ' \t' })), err('invalid', 'INVALID_NAME', 'Name'));
  // Docker's rule: any name that is not blank, '../x' and 'my net' included (names are data only).
  assert.equal(validateNetworkCreate(cli({ Name: '../x' })).name, '../x');
  assert.equal(validateNetworkCreate(cli({ Name: 'my net' })).name, 'my net');
  assert.throws(() => validateNetworkCreate(cli({ Name: 7 })), err('invalid', 'INVALID_TYPE', 'Name'));
  for (const name of ['bridge', 'host', 'none', 'default']) {
    assert.throws(() => validateNetworkCreate(cli({ Name: name })), err('forbidden', 'PREDEFINED_NETWORK', undefined, `operation is not permitted on predefined ${name} network`));
  }
  assert.equal(validateNetworkCreate(cli({ Name: 'bridge' }), { allowPredefined: true }).name, 'bridge');
  assert.throws(() => validateNetworkCreate(cli({ Driver: 'weave' })), err('not-found', 'DRIVER_NOT_FOUND', 'Driver', 'plugin "weave" not found'));
  assert.throws(() => validateNetworkCreate(cli({ IPAM: { Driver: 'infoblox' } })), err('not-found', 'IPAM_DRIVER_NOT_FOUND', 'IPAM.Driver'));
  assert.equal(validateNetworkCreate(cli({ Driver: 'overlay' })).scope, 'swarm');
  assert.equal(validateNetworkCreate(cli({ Driver: 'macvlan', Scope: 'swarm' })).scope, 'swarm');
  assert.throws(() => validateNetworkCreate(cli({ Scope: 'planet' })), err('invalid', 'INVALID_SCOPE', 'Scope'));
  assert.throws(() => validateNetworkCreate(cli({ Driver: 'overlay', Scope: 'local' })), err('forbidden', 'SCOPE_DOWNGRADE', undefined));
  const co = validateNetworkCreate(cli({ Driver: 'macvlan', ConfigOnly: true, Options: {} }));
  assert.deepEqual([co.driver, co.scope, co.configOnly], ['null', 'local', true]);
  assert.equal(validateNetworkCreate(cli({ Driver: 'macvlan', ConfigFrom: { Network: 'cfg' } })).configFrom, 'cfg');
  assert.throws(() => validateNetworkCreate(cli({ Ingress: true })), err('invalid', 'INVALID_INGRESS', 'Ingress'));
  assert.throws(() => validateNetworkCreate(null), err('invalid', 'INVALID_TYPE', undefined));
});

test('driver options are validated for the chosen driver', () => {
  assert.throws(() => validateNetworkCreate(cli({ Options: { parent: 'eth0' } })), err('invalid', 'UNKNOWN_OPTION', 'Options.parent'));
  assert.equal(validateNetworkCreate(cli({ Driver: 'macvlan', Options: { parent: 'eth0' } })).driverOptions.driver, 'macvlan');
  assert.throws(() => validateNetworkCreate(cli({ Options: { 'com.docker.network.driver.mtu': 'big' } })), err('invalid', 'INVALID_OPTION', 'Options.com.docker.network.driver.mtu'));
  assert.throws(() => validateNetworkCreate(cli({ Labels: { a: 1 } })), err('invalid', 'INVALID_TYPE', 'Labels.a'));
});
