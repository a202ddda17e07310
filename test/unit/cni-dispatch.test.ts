/**
 * The CNI protocol layer (src/frontends/cni/) against the spec's cases, with the in-memory
 * backend: every command, every error code, version negotiation, prevResult handling,
 * DEL idempotence and GC keep lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch } from '../../src/frontends/cni/dispatch.js';
import { FakeBackend } from '../helpers/cni-fake-backend.js';
import { parseCniArgs } from '../../src/frontends/cni/environment.js';
import { compareVersions } from '../../src/frontends/cni/versions.js';
import { DaemonBackend, parseReply, socketOf } from '../../src/frontends/cni/daemon-backend.js';

const NS = '/run/netns/swy-fake';
const env = (command: string, extra: Record<string, string | undefined> = {}) => ({
  CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: NS, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...extra,
});
const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'cninet', type: 'switchyard', network: 'blue', ...extra });

async function call(backend: FakeBackend, e: Record<string, string | undefined>, stdin: unknown, netns: string[] = [NS]) {
  let out = '';
  const code = await dispatch({
    env: e, stdin: typeof stdin === 'string' ? stdin : JSON.stringify(stdin),
    stdout: { write: (s: string) => (out += s) }, backend, netnsExists: (p) => netns.includes(p),
  });
  return { code, out: out ? (JSON.parse(out) as Record<string, any>) : undefined };
}
const fresh = () => new FakeBackend({ blue: { prefix24: '10.77.0' }, red: { prefix24: '10.78.0' } });

test('VERSION answers the supported versions, with or without stdin', async () => {
  for (const stdin of ['{"cniVersion":"1.0.0"}', '', '{"cniVersion":"0.1.0"}']) {
    const r = await call(fresh(), { CNI_COMMAND: 'VERSION' }, stdin);
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  }
});

test('ADD returns a result of the config version: interfaces with sandbox, ips with interface index, routes, dns', async () => {
  for (const v of ['0.4.0', '1.0.0', '1.1.0']) {
    const b = fresh();
    const r = await call(b, env('ADD'), conf({ cniVersion: v }));
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.equal(r.out!['cniVersion'], v);
    assert.deepEqual(r.out!['interfaces'], [{ name: 'eth0', mac: '02:42:0a:00:00:02', sandbox: NS }]);
    const ip = { ...(v === '0.4.0' ? { version: '4' } : {}), address: '10.77.0.2/24', gateway: '10.77.0.1', interface: 0 };
    assert.deepEqual(r.out!['ips'], [ip]);
    assert.deepEqual(r.out!['routes'], [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }]);
    assert.deepEqual(r.out!['dns'], { nameservers: ['127.0.0.11'], search: [] });
  }
});

test('ADD passes capability args and our keys to the backend (ips, mac, aliases, portMappings)', async () => {
  const b = fresh();
  const r = await call(b, env('ADD'), conf({
    aliases: ['web'],
    runtimeConfig: {
      ips: ['10.77.0.40/24'], mac: '02:AA:BB:CC:DD:EE', aliases: ['www', 'web'],
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'UDP', hostIP: '127.0.0.1' }],
      unknownCapability: { ignored: true },
    },
  }));
  assert.equal(r.code, 0, JSON.stringify(r.out));
  assert.equal(r.out!['ips'][0].address, '10.77.0.40/24');
  assert.equal(r.out!['interfaces'][0].mac, '02:aa:bb:cc:dd:ee');
  const held = b.held.get('c1/eth0')!;
  assert.deepEqual(held.aliases, ['web', 'www']);
  assert.deepEqual(held.ports, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
  ]);
});

test('ADD after an earlier plugin appends to its prevResult and shifts interface indexes', async () => {
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'lo', sandbox: NS }, { name: 'host0' }],
    ips: [{ address: '127.0.0.1/8', interface: 0 }],
    dns: { nameservers: ['1.1.1.1'] },
  };
  const r = await call(fresh(), env('ADD'), conf({ prevResult }));
  assert.equal(r.code, 0);
  assert.deepEqual(r.out!['interfaces'].map((i: { name: string }) => i.name), ['lo', 'host0', 'eth0']);
  assert.deepEqual(r.out!['ips'].map((i: { interface: number }) => i.interface), [0, 2]);
  assert.deepEqual(r.out!['dns'], { nameservers: ['127.0.0.11'], search: [] });
});

test('each spec error code for the input that should produce it', async () => {
  const cases: [name: string, e: Record<string, string | undefined>, stdin: unknown, code: number, msgPart: RegExp][] = [
    ['unsupported version', env('ADD'), conf({ cniVersion: '0.3.1' }), 1, /incompatible CNI versions/],
    ['future version', env('ADD'), conf({ cniVersion: '2.0.0' }), 1, /incompatible/],
    ['GC before 1.1.0', env('GC'), conf({ 'cni.dev/valid-attachments': [] }), 1, /does not allow GC/],
    ['STATUS before 1.1.0', env('STATUS'), conf(), 1, /does not allow STATUS/],
    ['ipam is refused', env('ADD'), conf({ ipam: { type: 'host-local' } }), 2, /unsupported field.*ipam/],
    ['missing command', { ...env('ADD'), CNI_COMMAND: undefined }, conf(), 4, /CNI_COMMAND/],
    ['unknown command', env('FROB'), conf(), 4, /unknown CNI_COMMAND/],
    ['ADD without netns', env('ADD', { CNI_NETNS: undefined }), conf(), 4, /CNI_NETNS/],
    ['ADD without ifname', env('ADD', { CNI_IFNAME: '' }), conf(), 4, /CNI_IFNAME/],
    ['DEL without CNI_PATH', env('DEL', { CNI_PATH: undefined }), conf(), 4, /CNI_PATH/],
    ['bad container id', env('ADD', { CNI_CONTAINERID: '-x y' }), conf(), 4, /CNI_CONTAINERID/],
    ['ifname too long', env('ADD', { CNI_IFNAME: 'a234567890123456' }), conf(), 4, /15 bytes/],
    ['ifname with slash', env('ADD', { CNI_IFNAME: 'a/b' }), conf(), 4, /CNI_IFNAME/],
    ['bad CNI_ARGS', env('ADD', { CNI_ARGS: 'novalue' }), conf(), 4, /CNI_ARGS/],
    ['unknown netns on ADD', env('ADD', { CNI_NETNS: '/run/netns/gone' }), conf(), 3, /does not exist/],
    ['unknown netns on CHECK', env('CHECK', { CNI_NETNS: '/run/netns/gone' }), conf({ prevResult: { interfaces: [], ips: [] } }), 3, /does not exist/],
    ['not JSON', env('ADD'), '{"cniVersion":', 6, /decode/],
    ['JSON but not an object', env('ADD'), '[1,2]', 6, /decode/],
    ['missing cniVersion', env('ADD'), { name: 'n', type: 'switchyard', network: 'blue' }, 7, /cniVersion is missing/],
    ['missing name', env('ADD'), conf({ name: undefined }), 7, /name is missing/],
    ['missing network', env('ADD'), conf({ network: undefined }), 7, /network is missing/],
    ['network not a string', env('ADD'), conf({ network: 3 }), 7, /network must be/],
    ['aliases not strings', env('ADD'), conf({ aliases: [1] }), 7, /aliases/],
    ['bad mac', env('ADD'), conf({ runtimeConfig: { mac: 'zz' } }), 7, /runtimeConfig.mac/],
    ['bad port', env('ADD'), conf({ runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } }), 7, /hostPort/],
    ['bad protocol', env('ADD'), conf({ runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 80, protocol: 'icmp' }] } }), 7, /protocol/],
    ['network unknown to the daemon', env('ADD'), conf({ network: 'green' }), 7, /network green not found/],
    ['address outside the subnet', env('ADD'), conf({ runtimeConfig: { ips: ['10.9.9.9'] } }), 7, /outside/],
    ['CHECK without prevResult', env('CHECK'), conf(), 7, /prevResult is required/],
    ['GC without valid-attachments', env('GC'), conf({ cniVersion: '1.1.0' }), 7, /valid-attachments is required/],
    ['bad valid-attachments', env('GC'), conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 1 }] }), 7, /valid-attachments\[0\]/],
    ['CHECK of an unknown container', env('CHECK'), conf({ prevResult: { interfaces: [], ips: [{ address: '10.77.0.2/24' }] } }), 3, /has no eth0/],
  ];
  for (const [name, e, stdin, code, msg] of cases) {
    const r = await call(fresh(), e, stdin);
    assert.equal(r.code, 1, `${name}: exit code`);
    assert.equal(r.out!['code'], code, `${name}: ${JSON.stringify(r.out)}`);
    assert.match(r.out!['msg'] + ' ' + (r.out!['details'] ?? ''), msg, name);
    assert.equal(typeof r.out!['cniVersion'], 'string', `${name}: error has cniVersion`);
  }
});

test('an unreachable daemon is 11 (try again later) for ADD/DEL/CHECK/GC and 50 for STATUS', async () => {
  const prevResult = { interfaces: [], ips: [{ address: '10.77.0.2/24' }] };
  const cases: [string, unknown, number][] = [
    ['ADD', conf(), 11], ['DEL', conf(), 11], ['CHECK', conf({ prevResult }), 11],
    ['GC', conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }), 11], ['STATUS', conf({ cniVersion: '1.1.0' }), 50],
  ];
  for (const [cmd, stdin, code] of cases) {
    const b = fresh();
    b.down = true;
    const r = await call(b, env(cmd), stdin);
    assert.equal(r.out!['code'], code, `${cmd}: ${JSON.stringify(r.out)}`);
  }
});

test('STATUS: 0 when the network can take an ADD, 50 when it does not exist', async () => {
  assert.deepEqual(await call(fresh(), { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, conf({ cniVersion: '1.1.0' })), { code: 0, out: undefined });
  const r = await call(fresh(), { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, conf({ cniVersion: '1.1.0', network: 'green' }));
  assert.equal(r.out!['code'], 50);
});

test('DEL is idempotent: twice, never added, without CNI_NETNS, with a vanished netns', async () => {
  const b = fresh();
  assert.equal((await call(b, env('ADD'), conf())).code, 0);
  assert.equal(b.held.size, 1);
  const first = await call(b, env('DEL'), conf());
  assert.deepEqual(first, { code: 0, out: undefined });
  assert.equal(b.held.size, 0);
  assert.deepEqual(await call(b, env('DEL'), conf()), { code: 0, out: undefined });
  assert.deepEqual(await call(b, env('DEL', { CNI_CONTAINERID: 'never' }), conf()), { code: 0, out: undefined });
  assert.deepEqual(await call(b, env('DEL', { CNI_NETNS: undefined }), conf()), { code: 0, out: undefined });
  assert.deepEqual(await call(b, env('DEL', { CNI_NETNS: '/run/netns/gone' }), conf(), []), { code: 0, out: undefined });
  assert.deepEqual(await call(b, env('DEL'), conf({ network: 'green' })), { code: 0, out: undefined }, 'network gone too');
});

test('CHECK: success right after ADD with its result, failure when the addresses differ', async () => {
  const b = fresh();
  const add = await call(b, env('ADD'), conf());
  assert.deepEqual(await call(b, env('CHECK'), conf({ prevResult: add.out })), { code: 0, out: undefined });
  const tampered = { ...add.out, ips: [{ address: '10.77.0.99/24', interface: 0 }] };
  const r = await call(b, env('CHECK'), conf({ prevResult: tampered }));
  assert.equal(r.code, 1);
  assert.equal(r.out!['code'], 100);
});

test('GC removes the attachments of its network that are not in the keep list, and only those', async () => {
  const b = fresh();
  for (const [id, ifname, net] of [['a', 'eth0', 'blue'], ['b', 'eth0', 'blue'], ['b', 'eth1', 'blue'], ['c', 'eth0', 'red']] as const) {
    assert.equal((await call(b, env('ADD', { CNI_CONTAINERID: id, CNI_IFNAME: ifname }), conf({ network: net }))).code, 0);
  }
  const r = await call(b, { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }, { containerID: 'zz', ifname: 'eth0' }] }));
  assert.deepEqual(r, { code: 0, out: undefined });
  assert.deepEqual([...b.held.keys()].sort(), ['b/eth0', 'c/eth0']);
  // An empty keep list empties the network.
  await call(b, { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }));
  assert.deepEqual([...b.held.keys()], ['c/eth0']);
});

test('a second ADD of the same container and ifname is refused (code 100), the first stays', async () => {
  const b = fresh();
  await call(b, env('ADD'), conf());
  const r = await call(b, env('ADD'), conf());
  assert.equal(r.out!['code'], 100);
  assert.equal(b.held.size, 1);
});

test('a malformed host is invalid network configuration (7), naming the key', async () => {
  let out = '';
  const code = await dispatch({
    env: env('ADD'), stdin: JSON.stringify(conf({ host: 'tcp://10.0.0.1:2375' })), stdout: { write: (s: string) => (out += s) },
    backend: (c) => new DaemonBackend(socketOf(c.host)), netnsExists: () => true,
  });
  assert.equal(code, 1);
  const body = JSON.parse(out);
  assert.equal(body.code, 7);
  assert.match(body.msg, /invalid host/);
  assert.match(body.details, /BAD_HOST \(host\)/);
});

test('CNI_ARGS, versions, socket paths and raw HTTP replies parse as the spec and HTTP say', () => {
  assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web;EMPTY='), { IgnoreUnknown: '1', K8S_POD_NAME: 'web', EMPTY: '' });
  assert.deepEqual(parseCniArgs(''), {});
  assert.equal(compareVersions('0.4.0', '1.0.0'), -1);
  assert.equal(compareVersions('1.1.0', '1.0.0'), 1);
  assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
  assert.equal(socketOf(undefined), '/run/switchyard/switchyard.sock');
  assert.equal(socketOf('unix:///tmp/a.sock'), '/tmp/a.sock');
  assert.throws(() => socketOf('tcp://x:1'), /BAD_HOST|invalid host/);
  const plain = parseReply(Buffer.from('HTTP/1.1 404 Not Found\r\nSwitchyard-Error-Code: NETWORK_NOT_FOUND\r\nContent-Length: 15\r\n\r\n{"message":"x"}'));
  assert.deepEqual(plain, { status: 404, headers: { 'switchyard-error-code': 'NETWORK_NOT_FOUND', 'content-length': '15' }, body: '{"message":"x"}' });
  const chunked = parseReply(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'));
  assert.equal(chunked.body, '{"a":1}');
});
