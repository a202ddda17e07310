/**
 * Routed networks across real daemons on the cluster lab (test/helpers/cluster-lab.ts: three
 * host namespaces on one underlay segment, etcd in its own namespace; routes from etcd alone,
 * no BGP). One `network create -d routed` on host0, a sandbox on each host: the endpoint
 * shows what the sandbox has (/32, gateway 169.254.1.1), `network inspect` shows each host's
 * blocks, ping both ways across hosts, names resolve across hosts, a capture on the underlay
 * sees the sandboxes' own addresses and no encapsulation, a host's block exhausted → a
 * second block claimed, blocks released when empty, etcd down → routes stay and traffic
 * flows, `node rm` of a host withdraws its routes everywhere. The lab's close() is the leak check.
 */
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { inNs, waitFor } from '../helpers/netns.js';
import { capture } from '../helpers/routed-lab.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/routed.js';
import { renderRoutedBase } from '../../src/services/firewall/ruleset/routed.js';
import { renderBase } from '../../src/services/firewall/ruleset/network.js';

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 3 });
});
after(async () => {
  for (let i = 0; i < 3; i++) lab?.cli(i, ['rm', '-f', ...names[i]!], { allowFail: true });
  lab?.cli(0, ['network', 'rm', 'rnet'], { allowFail: true });
  await lab?.close();
});

/** Sandboxes made per host (removed in after()). */
const names: string[][] = [[], [], []];
type Inspect = { NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string; EndpointID: string }> } }[];
const info = (i: number, name: string) => (JSON.parse(lab.cli(i, ['inspect', name]).stdout) as Inspect)[0]!.NetworkSettings;
const run = (i: number, name: string) => {
  lab.cli(i, ['run', '-d', '--name', name, '--network', 'rnet', 'sleep', '600']);
  names[i]!.push(name);
  const s = info(i, name);
  return { ns: s.SandboxKey, ip: s.Networks['rnet']!.IPAddress, ep: s.Networks['rnet']! };
};
const ping = (i: number, nsPath: string, to: string, extra: string[] = []) =>
  lab.hosts[i]!.daemon.inSandbox(nsPath, 'ping', ['-c1', '-W1', ...extra, to], { allowFail: true }).status === 0;
const routes = (i: number) => inNs(lab.hosts[i]!.ns.name, 'ip', ['route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout;
const blocks = (i: number) => (JSON.parse(lab.cli(i, ['network', 'inspect', 'rnet']).stdout) as { Blocks?: Record<string, string> }[])[0]!.Blocks ?? {};

let sb: { ns: string; ip: string; ep: { IPPrefixLen: number; Gateway: string } }[] = [];

test('routed across three hosts: /32 endpoints through 169.254.1.1, blocks per host in inspect, ping both ways, names across hosts', async (t) => {
  // /29 blocks: 8 addresses (the first block loses the subnet's network address).
  lab.cli(0, ['network', 'create', '-d', 'routed', '--attachable', '--subnet', '10.77.0.0/24', '-o', 'com.switchyard.routed.block_size=29', 'rnet']);
  const overlapping = lab.cli(1, ['network', 'create', '--subnet', '10.77.0.128/25', 'clash'], { allowFail: true });
  assert.equal(overlapping.status, 1, 'a subnet overlapping the routed network is refused');
  assert.match(overlapping.stderr, /overlaps/);
  const t0 = Date.now();
  sb = [run(0, 'ra'), run(1, 'rb'), run(2, 'rc')];
  for (const s of sb) {
    assert.equal(s.ep.IPPrefixLen, 32, 'the endpoint shows the /32 the sandbox has');
    assert.equal(s.ep.Gateway, '169.254.1.1', 'and its link-local gateway');
  }
  assert.equal(sb[0]!.ip, '10.77.0.1');
  assert.equal(sb[1]!.ip.replace(/\.\d+$/, ''), '10.77.0');
  // Every host sees every host's block.
  await waitFor(() => Object.keys(blocks(2)).length === 3, 'three blocks in inspect', 10_000, 100);
  const b = blocks(1);
  assert.deepEqual(Object.values(b).sort(), ['host0', 'host1', 'host2']);
  assert.equal(Object.entries(b).find(([, n]) => n === 'host0')![0], '10.77.0.0/29');
  await waitFor(() => ping(0, sb[0]!.ns, sb[1]!.ip) && ping(1, sb[1]!.ns, sb[2]!.ip) && ping(2, sb[2]!.ns, sb[0]!.ip), 'ping across hosts', 15_000, 200);
  t.diagnostic(`three runs on three hosts → ping across every pair after ${Date.now() - t0} ms`);
  assert.ok(ping(1, sb[1]!.ns, sb[0]!.ip), 'host1 → host0');
  assert.ok(ping(0, sb[0]!.ns, sb[2]!.ip), 'host0 → host2');
  // Routes: one per remote block, via the node's address, protocol 83.
  const r0 = routes(0);
  assert.match(r0, new RegExp(`${Object.entries(b).find(([, n]) => n === 'host1')![0].replace(/\./g, '\\.')} via ${lab.hosts[1]!.address.replace(/\./g, '\\.')}`));
  assert.match(r0, new RegExp(`${sb[0]!.ip.replace(/\./g, '\\.')} dev syr`));
  // DNS across hosts (the embedded DNS in each sandbox).
  // The sandbox's embedded DNS (127.0.0.11), asked with dig from inside its namespace.
  const dig = (i: number, ns: string, name: string) =>
    lab.hosts[i]!.daemon.inSandbox(ns, 'dig', ['@127.0.0.11', '+tries=1', '+time=2', '+short', name], { allowFail: true }).stdout.trim();
  await waitFor(() => dig(0, sb[0]!.ns, 'rb') === sb[1]!.ip && dig(2, sb[2]!.ns, 'ra') === sb[0]!.ip && dig(1, sb[1]!.ns, 'rc.rnet') === sb[2]!.ip, 'names across hosts', 10_000, 200);
});

test('routed on the underlay: the sandboxes\' own addresses, no encapsulation, full MTU', async () => {
  const { frames } = await capture(lab.hosts[1]!.ns.name, 'uplink', 3);
  assert.ok(ping(0, sb[0]!.ns, sb[1]!.ip, ['-s', '1472', '-M', 'do']), 'ra → rb with a 1500-byte packet, DF set');
  const seen = await frames;
  const icmp = seen.filter((f) => f.src === sb[0]!.ip && f.dst === sb[1]!.ip);
  assert.ok(icmp.length >= 1 && icmp.every((f) => f.ethertype === 0x0800 && f.proto === 1), `ICMP with the sandboxes' addresses in the outer header (${icmp.length})`);
  assert.ok(icmp.some((f) => f.len === 1514), 'a full 1500-byte packet crossed the underlay');
  const encapsulated = seen.filter((f) => f.proto === 4 || f.proto === 41 || f.proto === 47 || f.proto === 50 || (f.proto === 17 && [4789, 8472, 6081, 51820].includes(f.dport ?? 0)));
  assert.deepEqual(encapsulated, [], 'no IP-in-IP, GRE, ESP, VXLAN, Geneve or WireGuard frame');
});

test('-p on a routed network: the port answers on its host (its address, 127.0.0.1), from another host and from a sandbox on a third; gone with the sandbox', async () => {
  const h0 = lab.hosts[0]!;
  lab.cli(0, ['run', '-d', '--name', 'rp', '--network', 'rnet', '-p', '18081:7000', 'sh', '-c',
    'socat TCP-LISTEN:7001,fork,reuseaddr SYSTEM:"echo unpublished" & exec socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:"echo hello-routed"']);
  names[0]!.push('rp');
  const rpIp = info(0, 'rp').Networks['rnet']!.IPAddress;
  const get = (i: number, addr: string, port = 18081) => lab.hosts[i]!.daemon.onHost('socat', ['-T', '2', '-', `TCP:${addr}:${port},connect-timeout=2`], { allowFail: true }).stdout.trim();
  await waitFor(() => get(0, h0.address) === 'hello-routed', 'host0 → its own address:18081', 10_000, 100);
  assert.equal(get(0, '127.0.0.1'), 'hello-routed', 'host0 → 127.0.0.1:18081');
  assert.equal(get(1, h0.address), 'hello-routed', 'host1 → host0\'s underlay address:18081');
  const fromSandbox = lab.hosts[2]!.daemon.inSandbox(sb[2]!.ns, 'socat', ['-T', '2', '-', `TCP:${h0.address}:18081,connect-timeout=2`], { allowFail: true }).stdout.trim();
  assert.equal(fromSandbox, 'hello-routed', 'rc (host2) → host0:18081');
  // The sandbox's own address is not a way in from outside the network (only the published port is).
  const direct = lab.hosts[1]!.daemon.onHost('socat', ['-T', '2', '-', `TCP:${rpIp}:7000,connect-timeout=2`], { allowFail: true }).stdout.trim();
  assert.equal(direct, '', 'host1\'s own namespace → the sandbox address:7000 directly: dropped (not of the network)');
  // security: a DNAT to a container port the sandbox did not publish (7001, by an admin's rule
  // in a table of its own) is dropped by table inet switchyard (ROUTED UNPUBLISHED PORT DROP), though
  // the routed table lets DNATed flows through. Control: without that rule it gets through.
  inNs(h0.ns.name, 'nft', ['-f', '-'], { input: `table ip swy-admin { chain pre { type nat hook prerouting priority dstnat; policy accept; tcp dport 18082 dnat to ${rpIp}:7001; }; }\n` });
  try {
    assert.equal(get(1, h0.address, 18082), '', 'host1 → host0:18082 (DNAT to rp\'s unpublished port 7001): dropped');
    const handle = /ROUTED UNPUBLISHED PORT DROP" # handle (\d+)/.exec(inNs(h0.ns.name, 'nft', ['-a', 'list', 'chain', 'inet', 'switchyard', 'to-routed-port']).stdout)![1]!;
    inNs(h0.ns.name, 'nft', ['delete', 'rule', 'inet', 'switchyard', 'to-routed-port', 'handle', handle]);
    try {
      assert.equal(get(1, h0.address, 18082), 'unpublished', 'control: without ROUTED UNPUBLISHED PORT DROP the same connection gets through');
    } finally {
      inNs(h0.ns.name, 'nft', ['-f', '-'], { input: renderBase() });
    }
    assert.equal(get(1, h0.address, 18082), '', 'dropped again once the rule is back');
  } finally {
    inNs(h0.ns.name, 'nft', ['delete', 'table', 'ip', 'swy-admin'], { allowFail: true });
  }
  const table = () => h0.daemon.onHost('nft', ['list', 'table', 'inet', 'switchyard']).stdout;
  assert.match(table(), new RegExp(`${rpIp.replace(/\./g, '\\.')} \\. 7000`), 'the DNAT elements point at the /32');
  lab.cli(0, ['rm', '-f', 'rp']);
  names[0] = names[0]!.filter((n) => n !== 'rp');
  assert.ok(!table().includes(rpIp) && !table().includes('18081'), 'nothing of rp left in nft');
  assert.equal(get(0, h0.address), '', 'the port is gone with the sandbox');
});

test('a static --ip in another host\'s block is refused (field and holder named); a sandbox sending from another host\'s block address is dropped (control: without the check it arrives)', async () => {
  const b = blocks(0);
  const host1Block = Object.entries(b).find(([, n]) => n === 'host1')![0];
  const base = host1Block.split('/')[0]!.split('.').map(Number);
  const inHost1 = `10.77.0.${base[3]! + 5}`;
  const r = lab.cli(0, ['run', '-d', '--name', 'rx', '--network', 'rnet', '--ip', inHost1, 'sleep', '600'], { allowFail: true });
  lab.cli(0, ['rm', '-f', 'rx'], { allowFail: true });
  assert.notEqual(r.status, 0, 'refused');
  assert.match(r.stderr, new RegExp(`${inHost1.replace(/\./g, '\\.')} \\(IPAMConfig\\.IPv4Address\\) is in block ${host1Block.replace(/[./]/g, '\\$&')} .*host host1`), r.stderr);
  // A static address in the host's own block is fine.
  lab.cli(0, ['run', '-d', '--name', 'rs', '--network', 'rnet', '--ip', '10.77.0.6', 'sleep', '600']);
  assert.equal(info(0, 'rs').Networks['rnet']!.IPAddress, '10.77.0.6');
  lab.cli(0, ['rm', '-f', 'rs']);
  // ra (host0) sends from inHost1 (host1's block) to rc (host2): host0's source check drops it.
  const h0 = lab.hosts[0]!;
  const rc = lab.hosts[2]!.daemon;
  rc.inSandbox(sb[2]!.ns, 'nft', ['add', 'table', 'inet', 'swy-probe']);
  rc.inSandbox(sb[2]!.ns, 'nft', ['add', 'chain', 'inet', 'swy-probe', 'in', '{ type filter hook input priority 0; policy accept; }']);
  rc.inSandbox(sb[2]!.ns, 'nft', ['add', 'rule', 'inet', 'swy-probe', 'in', 'ip', 'saddr', inHost1, 'icmp', 'type', 'echo-request', 'counter']);
  const arrived = () => Number(/packets (\d+)/.exec(rc.inSandbox(sb[2]!.ns, 'nft', ['list', 'chain', 'inet', 'swy-probe', 'in']).stdout)![1]);
  const probe = () => {
    h0.daemon.inSandbox(sb[0]!.ns, 'ip', ['addr', 'add', `${inHost1}/32`, 'dev', 'eth0']);
    try {
      ping(0, sb[0]!.ns, sb[2]!.ip, ['-I', inHost1, '-c', '2']);
    } finally {
      h0.daemon.inSandbox(sb[0]!.ns, 'ip', ['addr', 'del', `${inHost1}/32`, 'dev', 'eth0']);
    }
  };
  try {
    probe();
    assert.equal(arrived(), 0, 'no packet from host1\'s block address sent by host0\'s sandbox reached rc');
    h0.daemon.onHost('nft', ['flush', 'chain', 'inet', 'switchyard-routed', 'check-source']);
    try {
      probe();
      assert.ok(arrived() > 0, 'control: without host0\'s source check the spoofed packets reach rc on host2');
    } finally {
      inNs(h0.ns.name, 'nft', ['-f', '-'], { input: renderRoutedBase() });
    }
    assert.ok(ping(0, sb[0]!.ns, sb[2]!.ip), 'ra → rc from its own address after the check is back');
  } finally {
    rc.inSandbox(sb[2]!.ns, 'nft', ['delete', 'table', 'inet', 'swy-probe'], { allowFail: true });
  }
});

test('a block exhausted → a second block claimed (routed to from the other hosts); blocks released when empty', async () => {
  // host1's first block 10.77.0.8/29 holds 8 addresses; rb has one.
  const more: { ns: string; ip: string }[] = [];
  for (let k = 0; k < 8; k++) more.push(run(1, `rb${k}`));
  const own = () => Object.entries(blocks(1)).filter(([, n]) => n === 'host1').map(([c]) => c).sort();
  assert.equal(own().length, 2, `host1 holds two blocks (${JSON.stringify(blocks(1))})`);
  const last = more.at(-1)!;
  const first = `10.77.0.${Number(sb[1]!.ip.split('.')[3]) & ~7}/29`;
  const second = own().find((c) => c !== first)!;
  assert.ok(own().includes(first), `the first block ${first} is still host1's`);
  await waitFor(() => routes(0).includes(`${second} via ${lab.hosts[1]!.address}`), `host0 routes ${second}`, 10_000, 100);
  await waitFor(() => ping(0, sb[0]!.ns, last.ip), 'ra → the sandbox in the second block', 10_000, 200);
  lab.cli(1, ['rm', '-f', ...names[1]!.filter((n) => n !== 'rb')]);
  names[1] = ['rb'];
  await waitFor(() => own().length === 1, 'the empty block released', 10_000, 100);
  await waitFor(() => !routes(0).includes(`${second} via`), 'host0 no longer routes it', 10_000, 100);
});

test('connect of a running sandbox to the routed network (held while its txn is in flight): reached across hosts when it returns; with etcd down it fails 503 and leaves no host end', async () => {
  const hostEnds = () => inNs(lab.hosts[1]!.ns.name, 'ip', ['-o', 'link', 'show']).stdout.split('\n').filter((l) => / syr[0-9a-f]+@/.test(l));
  lab.cli(1, ['network', 'create', '--subnet', '10.88.1.0/24', 'rloc']);
  try {
    for (const name of ['rd', 're']) {
      lab.cli(1, ['run', '-d', '--name', name, '--network', 'rloc', 'sleep', '600']);
      names[1]!.push(name);
    }
    const before = hostEnds().length;
    // Its second network: not the gateway's, so the engine joins it held and releases it once etcd has committed.
    lab.cli(1, ['network', 'connect', 'rnet', 'rd']);
    const rd = info(1, 'rd');
    const ip = rd.Networks['rnet']!.IPAddress;
    assert.equal(rd.Networks['rnet']!.IPPrefixLen, 32);
    assert.equal(hostEnds().length, before + 1, 'one host end more on host1');
    // The host end is syr<first 10 of the endpoint id> (drivers/routed.ts).
    const rdEnd = hostEnds().find((l) => l.includes(` syr${rd.Networks['rnet']!.EndpointID.slice(0, 10)}@`));
    assert.match(rdEnd ?? '', /[<,]UP[,>]/, 'its host end is up once connect returned');
    assert.match(inNs(lab.hosts[1]!.ns.name, 'ip', ['route']).stdout, new RegExp(`${ip.replace(/\./g, '\\.')} dev syr`), 'with its host route');
    await waitFor(() => ping(0, sb[0]!.ns, ip), 'ra (host0) → rd (host1)', 5_000, 100);
    assert.ok(ping(1, rd.SandboxKey, sb[2]!.ip), 'rd → rc (host2)');
    await lab.stopEtcd();
    try {
      const res = await lab.hosts[1]!.daemon.client.connectNetwork('rnet', 're').then(() => undefined, (e: { code?: string; kind?: string }) => e);
      assert.equal(res?.code, 'STORE_UNREACHABLE', 'connect with etcd down: 503');
      assert.equal(info(1, 're').Networks['rnet'], undefined, 're is not half-attached');
      assert.equal(hostEnds().length, before + 1, 'and no host end of it is left');
      assert.doesNotMatch(lab.hosts[1]!.daemon.inSandbox(info(1, 're').SandboxKey, 'ip', ['-o', 'link']).stdout, /eth1/, 'nor its sandbox end');
    } finally {
      await lab.startEtcd();
    }
    await waitFor(() => lab.cli(1, ['node', 'ls'], { allowFail: true }).status === 0, 'etcd back', 15_000, 100);
    lab.cli(1, ['rm', '-f', 'rd', 're']);
    names[1] = names[1]!.filter((n) => n !== 'rd' && n !== 're');
  } finally {
    lab.cli(1, ['network', 'rm', 'rloc'], { allowFail: true });
  }
});

test('etcd down: routes stay and traffic flows', async () => {
  await lab.stopEtcd();
  try {
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(ping(0, sb[0]!.ns, sb[1]!.ip), 'ra → rb with etcd down');
    assert.ok(ping(2, sb[2]!.ns, sb[0]!.ip), 'rc → ra with etcd down');
    assert.match(routes(0), new RegExp(`via ${lab.hosts[2]!.address.replace(/\./g, '\\.')}`));
  } finally {
    await lab.startEtcd();
  }
  await waitFor(() => lab.cli(0, ['node', 'ls'], { allowFail: true }).status === 0, 'etcd back', 15_000, 100);
});

test('daemon --bgp-asn/--bgp-peer: BIRD runs in the daemon\'s namespace and announces the host\'s blocks to a real BGP router; stops with the daemon', async (t) => {
  const { ns: router, address: routerAddr } = lab.addNamespace('clbgp');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-bgpr-'));
  const conf = path.join(dir, 'router.conf');
  const h1 = lab.hosts[1]!;
  // The router: one eBGP session to host1, everything learned into its kernel, nothing sent back.
  fs.writeFileSync(conf, [
    `router id ${routerAddr};`,
    'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { export all; import none; }; }',
    'protocol bgp host1 {',
    '  local as 65000;',
    `  neighbor ${h1.address} as 65001;`,
    '  direct;',
    '  hold time 6; keepalive time 2;',
    '  ipv4 { import all; export none; };',
    '}',
    '',
  ].join('\n'));
  const bird = spawn('nsenter', [`--net=${router.path}`, '--', 'bird', '-f', '-c', conf, '-s', path.join(dir, 'router.ctl'), '-P', path.join(dir, 'router.pid')], { stdio: 'ignore' });
  try {
    await h1.daemon.restart({ extraArgs: ['--bgp-asn', '65001', '--bgp-peer', `${routerAddr}:65000`] });
    const own = Object.entries(blocks(1)).filter(([, n]) => n === 'host1').map(([c]) => c);
    assert.equal(own.length, 1);
    const birdConf = fs.readFileSync(path.join(h1.daemon.execRoot, 'bird', 'bird.conf'), 'utf8');
    assert.match(birdConf, new RegExp(`route ${own[0]!.replace(/\./g, '\\.')} blackhole;`), 'the daemon wrote its block into BIRD\'s configuration');
    const t0 = Date.now();
    await waitFor(() => inNs(router.name, 'ip', ['route', 'show', own[0]!]).stdout.includes(`via ${h1.address}`), 'the router learned host1\'s block', 20_000, 200);
    t.diagnostic(`daemon restart with --bgp-asn → the router routes ${own[0]} via host1 after ${Date.now() - t0} ms`);
    const pid = Number(fs.readFileSync(path.join(h1.daemon.execRoot, 'bird', 'bird.pid'), 'utf8').trim());
    assert.ok(pid > 0 && fs.existsSync(`/proc/${pid}`), 'BIRD runs');
    assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /bird/);
    // Back without the flags: BIRD stopped with the daemon, none started (routes from etcd alone).
    await h1.daemon.restart();
    await waitFor(() => !fs.existsSync(`/proc/${pid}`), 'BIRD stopped with the daemon', 10_000, 100);
    // (A daemon stopping revokes its lease: the others withdraw its routes until it is back.)
    await waitFor(() => ping(0, sb[0]!.ns, sb[1]!.ip), 'host0 → host1 flows again (routes from etcd)', 15_000, 200);
  } finally {
    const gone = new Promise((r) => bird.once('exit', r));
    if (bird.exitCode === null) bird.kill('SIGTERM');
    await gone;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a host down: its routes withdrawn within the lease TTL; node rm: its blocks gone everywhere', async (t) => {
  const host2Blocks = Object.entries(blocks(0)).filter(([, n]) => n === 'host2').map(([c]) => c);
  assert.equal(host2Blocks.length, 1);
  const t0 = Date.now();
  await lab.kill(2);
  await waitFor(() => lab.cli(0, ['node', 'ls', '--format', '{{.Name}} {{.Status}}']).stdout.includes('host2 down'), 'host2 down', 15_000, 200);
  // Down (its lease expired): its routes are withdrawn within the lease TTL, its blocks stay claimed.
  for (const i of [0, 1]) await waitFor(() => !routes(i).includes(`via ${lab.hosts[2]!.address}`), `host${i} withdrew down host2's routes`, 10_000, 100);
  t.diagnostic(`kill -9 of host2 → its routes withdrawn on host0 and host1 after ${Date.now() - t0} ms (lease TTL 6 s)`);
  assert.ok(Object.values(blocks(0)).includes('host2'), 'a down node keeps its block claimed');
  assert.equal(lab.cli(0, ['node', 'rm', 'host2']).stdout.trim(), 'host2');
  for (const i of [0, 1]) {
    await waitFor(() => !routes(i).includes(`via ${lab.hosts[2]!.address}`), `host${i} withdrew host2's routes`, 10_000, 100);
    assert.ok(!Object.values(blocks(i)).includes('host2'), `host${i}'s inspect no longer lists host2's block`);
  }
  assert.ok(ping(0, sb[0]!.ns, sb[1]!.ip), 'host0 ↔ host1 still flow');
  names[2] = [];
});
