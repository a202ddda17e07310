import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  networkView,
  sandboxInspectView,
  sandboxStatusText,
  sandboxSummaryView,
  sortedRecord,
} from '../../src/api/docker-views.js';
import { humanDuration } from '../../src/api/human-duration.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../../src/model/records.js';
import { parseBridgeOptions } from '../../src/model/driver-options.js';

const NET_ID = 'a'.repeat(64);
const SBX_ID = 'b'.repeat(64);
const EP_ID = 'c'.repeat(64);

const network: NetworkRecord = {
  v: 1,
  id: NET_ID,
  name: 'netA',
  driver: 'bridge',
  created: '2025-01-01T12:00:00.123456789Z',
  scope: 'local',
  enableIPv4: true,
  enableIPv6: false,
  ipamDriver: 'default',
  ipamOptions: {},
  pools: [
    { subnet: '172.18.0.0/16', gateway: '172.18.0.1', userSubnet: false },
    { subnet: '10.9.0.0/24', ipRange: '10.9.0.128/25', gateway: '10.9.0.1', auxAddresses: { z: '10.9.0.9', a: '10.9.0.8' }, userSubnet: true },
  ],
  internal: false,
  attachable: false,
  ingress: false,
  options: { 'com.docker.network.bridge.name': 'br-aaaaaaaaaaaa', 'com.docker.network.bridge.enable_icc': 'true' },
  labels: { team: 'x' },
  predefined: false,
  state: { driver: 'bridge', bridge: 'br-aaaaaaaaaaaa', options: parseBridgeOptions({ 'com.docker.network.bridge.name': 'br-aaaaaaaaaaaa', 'com.docker.network.bridge.enable_icc': 'true' }) },
};

const endpoint: EndpointRecord = {
  v: 1,
  id: EP_ID,
  networkId: NET_ID,
  sandboxId: SBX_ID,
  ifname: 'eth0',
  hostLink: 'sy1234',
  mac: '02:42:ac:12:00:02',
  ipv4: '172.18.0.2/16',
  gateway: '172.18.0.1',
  aliases: ['web'],
  links: [],
  dnsNames: ['fw', 'web'],
  order: 0,
};

const sandbox: SandboxRecord = {
  v: 1,
  owner: 'switchyard',
  id: SBX_ID,
  name: 'fw',
  hostname: 'bbbbbbbbbbbb',
  created: '2025-01-01T12:00:01.5Z',
  command: ['sleep', '100'],
  env: ['A=1'],
  networkMode: 'netA',
  nsPath: '/run/switchyard/netns/bbbbbbbbbbbb',
  state: { status: 'running', pid: 4242, exitCode: 0, startedAt: '2025-01-01T12:00:02Z', finishedAt: '', error: '' },
  dns: { servers: [], search: [], options: [] },
  links: [],
  publish: [{ containerPort: 80, proto: 'tcp', hostIp: '', hostPort: 8080 }],
  publishAll: false,
  expose: [{ port: 443, proto: 'tcp' }],
  ports: [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '172.18.0.2' }],
  autoRemove: false,
  dir: '/var/lib/switchyard/sandboxes/bbbb',
};

test('networkView: Docker 28 field order, omitempty IPAM keys, sorted maps, Containers filled on inspect', () => {
  const view = networkView({ network, endpoints: [{ endpoint, sandboxName: 'fw' }] }, { withContainers: true });
  const expected =
    '{"Name":"netA","Id":"' + NET_ID + '","Created":"2025-01-01T12:00:00.123456789Z","Scope":"local","Driver":"bridge",' +
    '"EnableIPv4":true,"EnableIPv6":false,' +
    '"IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"},' +
    '{"Subnet":"10.9.0.0/24","IPRange":"10.9.0.128/25","Gateway":"10.9.0.1","AuxiliaryAddresses":{"a":"10.9.0.8","z":"10.9.0.9"}}]},' +
    '"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,' +
    '"Containers":{"' + SBX_ID + '":{"Name":"fw","EndpointID":"' + EP_ID + '","MacAddress":"02:42:ac:12:00:02",' +
    '"IPv4Address":"172.18.0.2/16","IPv6Address":""}},' +
    '"Options":{"com.docker.network.bridge.enable_icc":"true","com.docker.network.bridge.name":"br-aaaaaaaaaaaa"},' +
    '"Labels":{"team":"x"}}';
  assert.equal(JSON.stringify(view), expected);
});

test('networkView: lists keep the Containers key but leave it empty (API >= 1.28)', () => {
  const view = networkView({ network, endpoints: [{ endpoint, sandboxName: 'fw' }] }, { withContainers: false });
  assert.deepEqual(view.Containers, {});
  assert.deepEqual(Object.keys(view), [
    'Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv4', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable',
    'Ingress', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels',
  ]);
});

test('sandboxInspectView: docker inspect shape and key order', () => {
  const view = sandboxInspectView({ sandbox, endpoints: [{ endpoint, network }] });
  assert.deepEqual(Object.keys(view), ['Id', 'Created', 'Path', 'Args', 'State', 'Name', 'Config', 'HostConfig', 'NetworkSettings']);
  assert.deepEqual(Object.keys(view.State), [
    'Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error', 'StartedAt', 'FinishedAt',
  ]);
  assert.equal(view.Name, '/fw');
  assert.equal(view.Path, 'sleep');
  assert.deepEqual(view.Args, ['100']);
  assert.equal(view.State.Pid, 4242);
  assert.equal(view.State.FinishedAt, '0001-01-01T00:00:00Z');
  assert.deepEqual(view.Config.ExposedPorts, { '443/tcp': {}, '80/tcp': {} });
  assert.deepEqual(view.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
  assert.equal(view.NetworkSettings.SandboxKey, '/run/switchyard/netns/bbbbbbbbbbbb');
  assert.equal(
    JSON.stringify(view.NetworkSettings.Ports),
    '{"443/tcp":null,"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}',
  );
  assert.equal(
    JSON.stringify(view.NetworkSettings.Networks),
    '{"netA":{"IPAMConfig":null,"Links":null,"Aliases":["web"],"MacAddress":"02:42:ac:12:00:02","DriverOpts":null,' +
      '"GwPriority":0,"NetworkID":"' + NET_ID + '","EndpointID":"' + EP_ID + '","Gateway":"172.18.0.1",' +
      '"IPAddress":"172.18.0.2","IPPrefixLen":16,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,' +
      '"DNSNames":["fw","web"]}}',
  );
});

test('sandboxInspectView: a stopped sandbox shows Pid 0 and no bound ports; static IPs appear in IPAMConfig', () => {
  const stopped: SandboxRecord = {
    ...sandbox,
    state: { ...sandbox.state, status: 'exited', exitCode: 3, finishedAt: '2025-01-01T12:01:00Z' },
  };
  const view = sandboxInspectView({
    sandbox: stopped,
    endpoints: [{ endpoint: { ...endpoint, staticIPv4: '172.18.0.2', ipv6: 'fd00::2/64' }, network }],
  });
  assert.equal(view.State.Running, false);
  assert.equal(view.State.Pid, 0);
  assert.equal(view.State.ExitCode, 3);
  assert.deepEqual(view.NetworkSettings.Ports, {});
  const net = view.NetworkSettings.Networks['netA']!;
  assert.deepEqual(net.IPAMConfig, { IPv4Address: '172.18.0.2' });
  assert.equal(net.GlobalIPv6Address, 'fd00::2');
  assert.equal(net.GlobalIPv6PrefixLen, 64);
});

test('sandboxSummaryView and status texts follow docker ps', () => {
  const now = new Date('2025-01-01T12:00:07Z');
  const summary = sandboxSummaryView({ sandbox, endpoints: [{ endpoint, network }] }, now);
  assert.equal(summary.Status, 'Up 5 seconds');
  assert.deepEqual(summary.Names, ['/fw']);
  assert.equal(summary.Command, 'sleep 100');
  assert.equal(summary.Created, Date.parse('2025-01-01T12:00:01Z') / 1000);
  assert.deepEqual(summary.Ports, [
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
    { PrivatePort: 443, Type: 'tcp' },
  ]);
  assert.deepEqual(Object.keys(summary.NetworkSettings.Networks), ['netA']);

  const exited = { ...sandbox, state: { ...sandbox.state, status: 'exited' as const, exitCode: 1, finishedAt: '2025-01-01T11:58:00Z' } };
  assert.equal(sandboxStatusText(exited, now), 'Exited (1) 2 minutes ago');
  assert.equal(sandboxStatusText({ ...sandbox, state: { ...sandbox.state, status: 'created' } }, now), 'Created');
});

test('humanDuration matches go-units', () => {
  const table: [number, string][] = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1000, '1 second'],
    [59_000, '59 seconds'],
    [60_000, 'About a minute'],
    [119_000, 'About a minute'],
    [120_000, '2 minutes'],
    [3_600_000, 'About an hour'],
    [2 * 3_600_000, '2 hours'],
    [47 * 3_600_000, '47 hours'],
    [48 * 3_600_000, '2 days'],
    [14 * 24 * 3_600_000, '2 weeks'],
    [60 * 24 * 3_600_000, '2 months'],
    [2 * 365 * 24 * 3_600_000, '2 years'],
  ];
  for (const [ms, text] of table) assert.equal(humanDuration(ms), text, `${ms} ms`);
});

test('sortedRecord orders keys bytewise like Go maps', () => {
  assert.deepEqual(Object.keys(sortedRecord({ b: 1, B: 2, a: 3, '443/tcp': 4, '80/tcp': 5 })), ['443/tcp', '80/tcp', 'B', 'a', 'b']);
});
