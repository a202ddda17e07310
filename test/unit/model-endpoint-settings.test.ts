/**
 * M4: EndpointConfig / EndpointsConfig.* are shape-checked at the API edge with an error
 * naming the field; null is kept apart from empty, because Docker echoes these fields back.
 * And the views echo them (null stays null, [] stays [], {} stays {}), like IPAM.Options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { requestedEcho, validateEndpointSettings, validateEndpointsConfig } from '../../src/model/endpoint-settings.js';
import { networkView, sandboxInspectView } from '../../src/api/docker-views.js';
import { parseBridgeOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../../src/engine/types.js';

const refused = (value: unknown, field: string) =>
  assert.throws(() => validateEndpointSettings(value, 'EndpointConfig'), (e: unknown) => e instanceof SwitchyardError && e.kind === 'invalid' && e.code === 'BAD_FIELD' && e.field === field && e.message.startsWith(field), JSON.stringify(value));

test('every field has its type, else 400 naming the field (the audit cases included)', () => {
  refused('x', 'EndpointConfig');
  refused([], 'EndpointConfig');
  refused({ Aliases: 'x' }, 'EndpointConfig.Aliases'); // was a TypeError → 500
  refused({ Aliases: [1] }, 'EndpointConfig.Aliases[0]');
  refused({ Links: { length: 1 } }, 'EndpointConfig.Links'); // was stored, then broke every list
  refused({ Links: [''] }, 'EndpointConfig.Links[0]');
  refused({ Links: ['a:b:c'] }, 'EndpointConfig.Links[0]');
  refused({ IPAMConfig: 'x' }, 'EndpointConfig.IPAMConfig');
  refused({ IPAMConfig: [] }, 'EndpointConfig.IPAMConfig');
  refused({ IPAMConfig: { IPv4Address: 4 } }, 'EndpointConfig.IPAMConfig.IPv4Address');
  refused({ IPAMConfig: { IPv6Address: {} } }, 'EndpointConfig.IPAMConfig.IPv6Address');
  refused({ IPAMConfig: { LinkLocalIPs: 'fe80::1' } }, 'EndpointConfig.IPAMConfig.LinkLocalIPs');
  refused({ MacAddress: 1 }, 'EndpointConfig.MacAddress');
  assert.throws(() => validateEndpointSettings({ MacAddress: '00:00:00:00:00:00' }, 'EndpointConfig'), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_MAC' && e.field === 'EndpointConfig.MacAddress');
  assert.throws(() => validateEndpointSettings({ MacAddress: '01:00:5e:00:00:01' }, 'EndpointConfig'), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_MAC');
  refused({ DriverOpts: [] }, 'EndpointConfig.DriverOpts');
  refused({ DriverOpts: { a: 1 } }, 'EndpointConfig.DriverOpts.a');
  refused({ GwPriority: '1' }, 'EndpointConfig.GwPriority');
  refused({ GwPriority: 0.5 }, 'EndpointConfig.GwPriority');
  refused({ NetworkID: 5 }, 'EndpointConfig.NetworkID');
  refused({ IPPrefixLen: 'x' }, 'EndpointConfig.IPPrefixLen');
  refused({ DNSNames: [false] }, 'EndpointConfig.DNSNames[0]');
  assert.throws(() => validateEndpointsConfig({ net: { Aliases: 'x' } }), (e: unknown) => e instanceof SwitchyardError && e.field === 'EndpointsConfig.net.Aliases');
  assert.throws(() => validateEndpointsConfig([]), (e: unknown) => e instanceof SwitchyardError && e.field === 'EndpointsConfig');
});

test('valid settings pass; null is kept apart from empty; output-only and unknown fields are dropped', () => {
  assert.deepEqual(validateEndpointSettings(null, 'EndpointConfig'), {});
  assert.deepEqual(validateEndpointSettings({}, 'EndpointConfig'), {});
  assert.deepEqual(validateEndpointSettings({ Aliases: null, Links: null, IPAMConfig: null, DriverOpts: null }, 'E'), { Aliases: null, Links: null, IPAMConfig: null, DriverOpts: null });
  assert.deepEqual(validateEndpointSettings({ Aliases: [], Links: [], IPAMConfig: {}, DriverOpts: {} }, 'E'), { Aliases: [], Links: [], IPAMConfig: {}, DriverOpts: {} });
  assert.deepEqual(
    validateEndpointSettings({ Aliases: ['db'], Links: ['web:w'], IPAMConfig: { IPv4Address: '10.0.0.5', LinkLocalIPs: null }, MacAddress: '02:42:00:00:00:01', GwPriority: 5, NetworkID: 'x', IPPrefixLen: 24, Bogus: 1 }, 'E'),
    { Aliases: ['db'], Links: ['web:w'], IPAMConfig: { IPv4Address: '10.0.0.5' }, MacAddress: '02:42:00:00:00:01', GwPriority: 5 },
  );
  assert.deepEqual(validateEndpointsConfig({ a: null, b: { Aliases: [] } }), { a: {}, b: { Aliases: [] } });
  assert.deepEqual(requestedEcho({}), { ipamConfig: null, aliases: null, links: null, driverOpts: null, gwPriority: 0 });
});

const NET: NetworkRecord = {
  v: 1, id: 'a'.repeat(64), name: 'n', driver: 'bridge', created: '2025-01-01T00:00:00Z', scope: 'local', enableIPv4: true, enableIPv6: false,
  ipamDriver: 'default', ipamOptions: {}, pools: [{ subnet: '10.1.0.0/24', gateway: '10.1.0.1', userSubnet: true }],
  internal: false, attachable: false, ingress: false, options: {}, labels: {}, predefined: false, state: { driver: 'bridge', bridge: 'sy-aaaaaaaaaaaa', options: parseBridgeOptions({}) },
};

test('IPAM.Options: null when the request had none (and for predefined networks), {} when {} was sent; Config null without pools', () => {
  const view = (n: NetworkRecord) => networkView({ network: n, endpoints: [] }, { withContainers: true }).IPAM;
  assert.deepEqual(view(NET).Options, {});
  assert.equal(view({ ...NET, ipamOptionsNull: true }).Options, null);
  assert.equal(view({ ...NET, predefined: true }).Options, null);
  assert.equal(view({ ...NET, pools: [] }).Config, null);
  assert.deepEqual(view(NET).Config, [{ Subnet: '10.1.0.0/24', Gateway: '10.1.0.1' }]);
});

test('endpoint settings are echoed as sent: null stays null, [] and {} stay', () => {
  const sb: SandboxRecord = {
    id: 'b'.repeat(64), name: 's', hostname: 'bbbbbbbbbbbb', created: '2025-01-01T00:00:00Z', command: ['true'], env: [], networkMode: 'n',
    state: { status: 'created', pid: 0, exitCode: 0, startedAt: '', finishedAt: '', error: '' },
    dns: { servers: [], search: [], options: [] }, links: [], publish: [], publishAll: false, expose: [], ports: [], autoRemove: false, dir: '/tmp/x',
  } as unknown as SandboxRecord;
  const ep = (requested: EndpointRecord['requested']): EndpointRecord => ({
    v: 1, id: 'c'.repeat(64), networkId: NET.id, sandboxId: sb.id, ifname: 'eth0', mac: '02:42:0a:01:00:02', aliases: requested?.aliases ?? [],
    links: requested?.links ?? [], dnsNames: ['s'], order: 0, ...(requested ? { requested } : {}),
  });
  const settings = (e: EndpointRecord) => {
    const v = sandboxInspectView({ sandbox: sb, endpoints: [{ endpoint: e, network: NET }] }) as unknown as { NetworkSettings: { Networks: Record<string, Record<string, unknown>> } };
    return v.NetworkSettings.Networks['n']!;
  };
  const nulls = settings(ep(requestedEcho({})));
  assert.deepEqual([nulls['IPAMConfig'], nulls['Aliases'], nulls['Links'], nulls['DriverOpts'], nulls['GwPriority']], [null, null, null, null, 0]);
  const empties = settings(ep(requestedEcho({ IPAMConfig: {}, Aliases: [], Links: [], DriverOpts: {} })));
  assert.deepEqual([empties['IPAMConfig'], empties['Aliases'], empties['Links'], empties['DriverOpts']], [{}, [], [], {}]);
  const full = settings(ep(requestedEcho({ IPAMConfig: { IPv4Address: '10.1.0.9', IPv6Address: '' }, Aliases: ['db'], DriverOpts: { b: '2', a: '1' }, GwPriority: 3 })));
  assert.deepEqual([full['IPAMConfig'], full['Aliases'], full['DriverOpts'], full['GwPriority']], [{ IPv4Address: '10.1.0.9' }, ['db'], { a: '1', b: '2' }, 3]);
  // A record from before the request was kept: null when empty, as before.
  const old = settings(ep(undefined));
  assert.deepEqual([old['IPAMConfig'], old['Aliases'], old['DriverOpts']], [null, null, null]);
});
