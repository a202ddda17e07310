/**
 * End-to-end: networks through the real CLI against a real daemon in a throwaway host
 * namespace, with real traffic between sandboxes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { linksIn, waitFor } from '../helpers/netns.js';
import { spawn } from 'node:child_process';

interface InspectedSandbox {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number; ExitCode: number };
  NetworkSettings: {
    SandboxKey: string;
    Networks: Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string; GlobalIPv6Address: string; MacAddress: string; NetworkID: string; EndpointID: string }>;
  };
}

describe('core networking (e2e)', () => {
  let d: TestDaemon;
  const sb = (name: string): InspectedSandbox => JSON.parse(d.cli(['inspect', name]).stdout)[0];
  const ping = (from: string, to: string) => d.inSandbox(sb(from).NetworkSettings.SandboxKey, 'ping', ['-c1', '-W1', to], { allowFail: true }).status === 0;
  const ipOf = (name: string, net: string) => sb(name).NetworkSettings.Networks[net]!.IPAddress;

  before(async () => {
    d = await startDaemon({ tag: 'core' });
  });
  after(async () => {
    await d?.stop();
  });

  test('predefined networks exist and cannot be removed', () => {
    const ls = d.cli(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).stdout.trim().split('\n').sort();
    assert.deepEqual(ls, ['bridge bridge', 'host host', 'none null']);
    const rm = d.cli(['network', 'rm', 'bridge'], { allowFail: true });
    assert.notEqual(rm.status, 0);
    assert.match(rm.stderr, /pre-defined network and cannot be removed/);
    const br = JSON.parse(d.cli(['network', 'inspect', 'bridge']).stdout)[0];
    assert.equal(br.IPAM.Config[0].Subnet, '172.17.0.0/16');
    assert.equal(br.IPAM.Config[0].Gateway, '172.17.0.1');
    assert.ok(linksIn(d.host.name).includes('sy0'), 'default bridge device sy0 in the host namespace');
  });

  test('create with subnet, range, gateway and aux address; inspect is Docker-shaped', () => {
    const id = d.cli(['network', 'create', '--subnet', '10.91.0.0/16', '--ip-range', '10.91.5.0/24', '--gateway', '10.91.0.254',
      '--aux-address', 'router=10.91.5.0', '--label', 'team=a', '-o', 'com.docker.network.bridge.name=sytestnet1', 'net1']).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const n = JSON.parse(d.cli(['network', 'inspect', 'net1']).stdout)[0];
    assert.deepEqual(Object.keys(n).slice(0, 5), ['Name', 'Id', 'Created', 'Scope', 'Driver']);
    assert.equal(n.Id, id);
    assert.deepEqual(n.IPAM.Config[0], { Subnet: '10.91.0.0/16', IPRange: '10.91.5.0/24', Gateway: '10.91.0.254', AuxiliaryAddresses: { router: '10.91.5.0' } });
    assert.equal(n.Labels.team, 'a');
    const addr = d.onHost('ip', ['-o', 'addr', 'show', 'dev', 'sytestnet1']).stdout;
    assert.match(addr, /10\.91\.0\.254\/16/);
    const dup = d.cli(['network', 'create', 'net1'], { allowFail: true });
    assert.notEqual(dup.status, 0);
    assert.match(dup.stderr, /already exists/);
  });

  test('bad input names the field and leaves nothing behind', () => {
    const before = linksIn(d.host.name).sort();
    const cases: [string[], RegExp][] = [
      [['--subnet', '10.92.0.1/16', 'bad1'], /10\.92\.0\.0\/16/],
      [['--subnet', '10.92.0.0/16', '--gateway', '10.93.0.1', 'bad2'], /gateway|subnet/i],
      [['--subnet', 'banana', 'bad3'], /banana/],
      // Docker refuses only blank network names ('bad;rm -rf' is a name: test/e2e/docker-echo.test.ts).
      [['   '], /name/i],
      [['-o', 'com.docker.network.bridge.name=averyveryverylongbridgename', 'bad4'], /bridge.name|name/i],
      [['-o', 'com.example.unknown=1', 'bad5'], /com\.example\.unknown/],
      [['-d', 'nosuchdriver', 'bad6'], /nosuchdriver/],
    ];
    for (const [args, re] of cases) {
      const r = d.cli(['network', 'create', ...args], { allowFail: true });
      assert.notEqual(r.status, 0, `expected failure for ${args.join(' ')}`);
      assert.match(r.stderr, re);
    }
    const names = d.cli(['network', 'ls', '--format', '{{.Name}}']).stdout;
    assert.doesNotMatch(names, /bad/);
    assert.deepEqual(linksIn(d.host.name).sort(), before);
  });

  test('sandboxes on one network talk; networks are isolated from each other', () => {
    d.cli(['network', 'create', '--subnet', '10.94.0.0/24', 'net2']);
    d.cli(['run', '-d', '--name', 'a1', '--network', 'net1', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'a2', '--network', 'net1', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'b1', '--network', 'net2', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'c1', '--', 'sleep', 'infinity']);
    const a2 = ipOf('a2', 'net1');
    assert.match(a2, /^10\.91\.5\./, 'dynamic addresses come from the ip-range');
    assert.ok(ping('a1', a2), 'same network');
    assert.ok(!ping('a1', ipOf('b1', 'net2')), 'net1 → net2 is dropped');
    assert.ok(!ping('b1', a2), 'net2 → net1 is dropped');
    assert.ok(!ping('c1', a2), 'default bridge → net1 is dropped');
    assert.ok(!ping('a1', ipOf('c1', 'bridge')), 'net1 → default bridge is dropped');
    const i = sb('a1');
    assert.ok(i.State.Running);
    assert.match(i.NetworkSettings.SandboxKey, /\/netns\//);
    assert.equal(i.NetworkSettings.Networks.net1!.Gateway, '10.91.0.254');
    const inside = d.inSandbox(i.NetworkSettings.SandboxKey, 'ip', ['-o', 'addr', 'show', 'eth0']).stdout;
    assert.match(inside, new RegExp(`${ipOf('a1', 'net1').replace(/\./g, '\\.')}/16`));
  });

  test('generated /etc files and exec', () => {
    const hosts = d.cli(['exec', 'a1', '--', 'cat', '/etc/hosts']).stdout;
    assert.match(hosts, /127\.0\.0\.1\tlocalhost/);
    assert.match(hosts, new RegExp(ipOf('a1', 'net1').replace(/\./g, '\\.')));
    const hostname = d.cli(['exec', 'a1', '--', 'hostname']).stdout.trim();
    assert.equal(hostname, sb('a1').Id.slice(0, 12));
    const resolv = d.cli(['exec', 'a1', '--', 'cat', '/etc/resolv.conf']).stdout;
    assert.match(resolv, /nameserver 127\.0\.0\.11/);
    const legacy = d.cli(['exec', 'c1', '--', 'cat', '/etc/resolv.conf']).stdout;
    assert.doesNotMatch(legacy, /127\.0\.0\.11/, 'default bridge has no embedded DNS');
    const code = d.cli(['exec', 'a1', '--', 'sh', '-c', 'exit 7'], { allowFail: true }).status;
    assert.equal(code, 7);
  });

  test('connect and disconnect a running sandbox', () => {
    d.cli(['network', 'connect', '--alias', 'bee', 'net2', 'a1']);
    const i = sb('a1');
    assert.ok(i.NetworkSettings.Networks.net2, 'net2 listed in inspect');
    const eth1 = d.inSandbox(i.NetworkSettings.SandboxKey, 'ip', ['-o', 'addr', 'show', 'eth1']).stdout;
    assert.match(eth1, /10\.94\.0\./);
    assert.ok(ping('a1', ipOf('b1', 'net2')), 'now on net2');
    const n2 = JSON.parse(d.cli(['network', 'inspect', 'net2']).stdout)[0];
    assert.equal(Object.keys(n2.Containers).length, 2);
    d.cli(['network', 'disconnect', 'net2', 'a1']);
    assert.ok(!sb('a1').NetworkSettings.Networks.net2);
    assert.equal(d.inSandbox(i.NetworkSettings.SandboxKey, 'ip', ['link', 'show', 'eth1'], { allowFail: true }).status === 0, false);
    assert.ok(ping('a1', ipOf('a2', 'net1')), 'eth0 untouched');
    const again = d.cli(['network', 'disconnect', 'net2', 'a1'], { allowFail: true });
    assert.notEqual(again.status, 0);
  });

  test('after network disconnect returns, the sandbox no longer shows the old address', () => {
    d.cli(['network', 'connect', 'net2', 'a1']);
    const i = sb('a1');
    const addr = i.NetworkSettings.Networks.net2.IPAddress as string;
    const shown = () => d.inSandbox(i.NetworkSettings.SandboxKey, 'ip', ['-o', 'addr']).stdout;
    const has = new RegExp(` ${addr.replaceAll('.', '\\.')}/`);
    assert.match(shown(), has, 'control: the address is shown while connected');
    d.cli(['network', 'disconnect', 'net2', 'a1']);
    assert.doesNotMatch(shown(), has, 'no interface in the sandbox holds the address after disconnect returned');
  });

  test('network rm refuses active endpoints; prune keeps in-use networks', () => {
    const r = d.cli(['network', 'rm', 'net1'], { allowFail: true });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /active endpoints/);
    d.cli(['network', 'create', 'unused1']);
    const pruned = d.cli(['network', 'prune', '-f']).stdout;
    assert.match(pruned, /unused1/);
    assert.doesNotMatch(pruned, /net1/);
  });

  test('ICC off and internal networks', () => {
    d.cli(['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'noicc']);
    d.cli(['run', '-d', '--name', 'n1', '--network', 'noicc', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'n2', '--network', 'noicc', '--', 'sleep', 'infinity']);
    assert.ok(!ping('n1', ipOf('n2', 'noicc')), 'ICC off drops sandbox-to-sandbox traffic');
    d.cli(['network', 'create', '--internal', 'intnet']);
    d.cli(['run', '-d', '--name', 'i1', '--network', 'intnet', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'i2', '--network', 'intnet', '--', 'sleep', 'infinity']);
    assert.ok(ping('i1', ipOf('i2', 'intnet')), 'internal network members talk');
    const routes = d.inSandbox(sb('i1').NetworkSettings.SandboxKey, 'ip', ['route']).stdout;
    assert.doesNotMatch(routes, /default/, 'no default route on an internal network');
    const gw = JSON.parse(d.cli(['network', 'inspect', 'intnet']).stdout)[0].IPAM.Config[0].Gateway;
    assert.ok(ping('i1', gw), 'gateway address reachable');
  });

  test('egress is masqueraded; internal networks reach nothing outside', async () => {
    // An "external" namespace on a veth from the host namespace.
    d.onHost('ip', ['link', 'add', 'syext0', 'type', 'veth', 'peer', 'name', 'syext1']);
    d.onHost('ip', ['addr', 'add', '198.18.7.1/24', 'dev', 'syext0']);
    d.onHost('ip', ['link', 'set', 'syext0', 'up']);
    const ext = `${d.host.name}x`;
    d.onHost('ip', ['netns', 'add', ext]);
    try {
      d.onHost('ip', ['link', 'set', 'syext1', 'netns', ext]);
      d.onHost('ip', ['-n', ext, 'addr', 'add', '198.18.7.2/24', 'dev', 'syext1']);
      d.onHost('ip', ['-n', ext, 'link', 'set', 'syext1', 'up']);
      d.onHost('ip', ['-n', ext, 'link', 'set', 'lo', 'up']);
      assert.ok(ping('a1', '198.18.7.2'), 'user network reaches outside');
      assert.ok(ping('c1', '198.18.7.2'), 'default bridge reaches outside');
      assert.ok(!ping('i1', '198.18.7.2'), 'internal network does not');
      // The outside sees the host's address, not the sandbox's.
      const server = spawn('ip', ['netns', 'exec', ext, 'socat', '-T3', 'TCP-LISTEN:7070,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR'], { stdio: 'ignore' });
      try {
        await waitFor(() => d.onHost('ip', ['netns', 'exec', ext, 'ss', '-ltn']).stdout.includes(':7070'), 'server listening');
        const seen = d.inSandbox(sb('a1').NetworkSettings.SandboxKey, 'socat', ['-T2', '-', 'TCP:198.18.7.2:7070'], { timeoutMs: 8000 }).stdout.trim();
        assert.equal(seen, '198.18.7.1');
      } finally {
        server.kill();
      }
    } finally {
      d.onHost('ip', ['netns', 'del', ext], { allowFail: true });
    }
  });

  test('static addresses only with a user subnet; never handed out twice', () => {
    d.cli(['run', '-d', '--name', 's1', '--network', 'net1', '--ip', '10.91.9.9', '--', 'sleep', 'infinity']);
    assert.equal(ipOf('s1', 'net1'), '10.91.9.9');
    const taken = d.cli(['run', '-d', '--name', 's2', '--network', 'net1', '--ip', '10.91.9.9', '--', 'sleep', 'infinity'], { allowFail: true });
    assert.notEqual(taken.status, 0);
    assert.match(taken.stderr, /in use/i);
    const dflt = d.cli(['run', '-d', '--name', 's3', '--ip', '172.17.0.50', '--', 'sleep', 'infinity'], { allowFail: true });
    assert.notEqual(dflt.status, 0);
    assert.match(dflt.stderr, /user defined networks/);
    const names = d.cli(['ps', '-a', '--format', '{{.Names}}']).stdout;
    assert.doesNotMatch(names, /\bs2\b|\bs3\b/, 'failed runs leave no sandbox behind');
  });

  test('container: and host and none modes', () => {
    d.cli(['run', '-d', '--name', 'joined', '--network', 'container:a1', '--', 'sleep', 'infinity']);
    const a1 = sb('a1');
    const j = sb('joined');
    assert.equal(j.NetworkSettings.SandboxKey, a1.NetworkSettings.SandboxKey);
    const out = d.cli(['exec', 'joined', '--', 'ip', '-o', 'addr', 'show', 'eth0']).stdout;
    assert.match(out, new RegExp(ipOf('a1', 'net1').replace(/\./g, '\\.')));
    const conn = d.cli(['network', 'connect', 'net2', 'joined'], { allowFail: true });
    assert.notEqual(conn.status, 0);
    d.cli(['run', '-d', '--name', 'h1', '--network', 'host', '--', 'sleep', 'infinity']);
    const links = d.cli(['exec', 'h1', '--', 'ip', '-o', 'link']).stdout;
    assert.match(links, /sy0/, 'host mode sees the host namespace');
    d.cli(['run', '-d', '--name', 'z1', '--network', 'none', '--', 'sleep', 'infinity']);
    const zl = d.cli(['exec', 'z1', '--', 'ip', '-o', 'link']).stdout.trim().split('\n');
    assert.equal(zl.length, 1, 'none: loopback only');
  });

  test('attached run returns the exit status; stop, start, logs, rm', () => {
    const r = d.cli(['run', '--rm', '--network', 'net1', '--', 'sh', '-c', 'echo hello-from-sandbox; exit 3'], { allowFail: true });
    assert.equal(r.status, 3);
    assert.match(r.stdout, /hello-from-sandbox/);
    d.cli(['run', '-d', '--name', 'l1', '--network', 'net1', '--', 'sh', '-c', 'echo started; sleep infinity']);
    const ip = ipOf('l1', 'net1');
    d.cli(['stop', '-t', '1', 'l1']);
    const stopped = sb('l1');
    assert.equal(stopped.State.Running, false);
    d.cli(['start', 'l1']);
    assert.equal(ipOf('l1', 'net1'), ip, 'a restarted sandbox keeps its address');
    assert.ok(ping('a1', ip));
    const logs = d.cli(['logs', 'l1']).stdout;
    assert.match(logs, /started/);
    const rmRunning = d.cli(['rm', 'l1'], { allowFail: true });
    assert.notEqual(rmRunning.status, 0);
    d.cli(['rm', '-f', 'l1']);
    assert.doesNotMatch(d.cli(['ps', '-a', '--format', '{{.Names}}']).stdout, /\bl1\b/);
  });

  test('IPv6 dual stack', () => {
    d.cli(['network', 'create', '--ipv6', '--subnet', '10.95.0.0/24', '--subnet', 'fd5a:1::/64', 'v6net']);
    d.cli(['run', '-d', '--name', 'v1', '--network', 'v6net', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'v2', '--network', 'v6net', '--', 'sleep', 'infinity']);
    const v2 = sb('v2').NetworkSettings.Networks.v6net!;
    assert.match(v2.GlobalIPv6Address, /^fd5a:1::/);
    const r = d.inSandbox(sb('v1').NetworkSettings.SandboxKey, 'ping', ['-6', '-c1', '-W2', v2.GlobalIPv6Address], { allowFail: true });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(ping('v1', v2.IPAddress));
  });
});
