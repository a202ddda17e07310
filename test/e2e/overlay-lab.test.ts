/**
 * The overlay driver through real daemons on the cluster lab (test/helpers/cluster-lab.ts:
 * three host namespaces on an underlay bridge, real etcd): `network create -d overlay
 * --attachable` on one host, `run --network` on the others, sandboxes that talk across hosts
 * over IPv4 and IPv6, by address and by name, with the VXLAN header carrying the network's
 * VNI on the underlay, static FDB entries from the watch, isolation from another overlay,
 * a bridge network and the hosts, MTU, `rm` seen at once on the other hosts, kill -9 and
 * restart of one daemon while the others keep talking, `node rm`, and `-o encrypted` refused
 * with nothing made (this kernel has no ESP/WireGuard; the encryption module is not wired yet).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { captureVxlan } from '../helpers/vxlan-capture.js';
import { waitFor } from '../helpers/netns.js';
import { macFromIpv4 } from '../../src/model/ip.js';
import type { SwitchyardError } from '../../src/errors.js';

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 3 });
});
after(async () => {
  await lab?.close();
});

type Inspect = { NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; GlobalIPv6Address: string }> } }[];
const sbOf = (host: number, name: string, net: string) => {
  const i = (JSON.parse(lab.cli(host, ['inspect', name]).stdout) as Inspect)[0]!.NetworkSettings;
  return { ns: i.SandboxKey, ip: i.Networks[net]!.IPAddress, ip6: i.Networks[net]!.GlobalIPv6Address };
};
const ping = (host: number, ns: string, target: string, extra: string[] = []) =>
  lab.hosts[host]!.daemon.inSandbox(ns, 'ping', ['-c1', '-W1', ...extra, target], { allowFail: true }).status === 0;
/** The embedded DNS's answer inside a sandbox (dig @127.0.0.11). */
const dig = (host: number, ns: string, name: string, type = 'A') =>
  lab.hosts[host]!.daemon.inSandbox(ns, 'dig', ['@127.0.0.11', '+tries=1', '+time=3', '+short', name, type], { allowFail: true }).stdout.trim();
const fdb = (host: number, netId: string) => {
  const nsPath = `${lab.hosts[host]!.daemon.execRoot}/overlay/1-${netId.slice(0, 10)}`;
  return lab.hosts[host]!.daemon.onHost('nsenter', [`--net=${nsPath}`, '--', 'bridge', 'fdb', 'show'], { allowFail: true }).stdout;
};

test('overlay across three hosts: v4/v6 by address and name, VNI on the wire, static FDB, isolation, MTU, rm seen at once', async (t) => {
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '--ipv6', '--subnet', '10.77.0.0/24', '--subnet', 'fd77::/64', 'ov1']);
  const net = JSON.parse(lab.cli(1, ['network', 'inspect', 'ov1']).stdout)[0] as { Id: string; Scope: string; Options: Record<string, string> };
  const vni = Number(net.Options['com.docker.network.driver.overlay.vxlanid_list']);
  assert.ok(vni >= 4096, `VNI ${vni} under Options`);
  assert.equal(net.Scope, 'global');
  const t0 = Date.now();
  lab.cli(0, ['run', '-d', '--name', 'a0', '--network', 'ov1', 'sleep', '600']);
  lab.cli(1, ['run', '-d', '--name', 'a1', '--network', 'ov1', 'sleep', '600']);
  lab.cli(2, ['run', '-d', '--name', 'a2', '--network', 'ov1', 'sleep', '600']);
  const s = [sbOf(0, 'a0', 'ov1'), sbOf(1, 'a1', 'ov1'), sbOf(2, 'a2', 'ov1')];
  await waitFor(() => ping(1, s[1]!.ns, s[0]!.ip), 'a1 → a0 over the overlay', 10_000, 50);
  t.diagnostic(`3 runs + first cross-host ping: ${Date.now() - t0} ms`);

  const cap = await captureVxlan(lab.hosts[0]!.ns.path, 'uplink');
  for (const [from, to] of [[0, 1], [0, 2], [1, 2], [2, 0]] as const) {
    assert.ok(ping(from, s[from]!.ns, s[to]!.ip), `a${from} → a${to} v4`);
    assert.ok(ping(from, s[from]!.ns, s[to]!.ip6), `a${from} → a${to} v6`);
  }
  // By name: the embedded DNS in a0 answers for a2 (on host2), and the answer is reached.
  assert.equal(dig(0, s[0]!.ns, 'a2'), s[2]!.ip, 'a0 resolves a2 (another host)');
  assert.equal(dig(2, s[2]!.ns, 'a1'), s[1]!.ip, 'a2 resolves a1 (another host)');
  assert.equal(dig(1, s[1]!.ns, 'a0', 'AAAA'), s[0]!.ip6, 'a1 resolves a0 AAAA');
  assert.ok(ping(0, s[0]!.ns, dig(0, s[0]!.ns, 'a2')), 'a0 → a2 by name');
  const seen = await cap.stop();
  assert.ok(seen.count > 0, 'VXLAN on the underlay');
  assert.deepEqual(seen.vnis, [vni], `every VXLAN header carries VNI ${vni}`);
  // Static entries from the watch (no learning): a0's MAC on host1 points at host0.
  assert.match(fdb(1, net.Id), new RegExp(`dst ${lab.hosts[0]!.address.replace(/\./g, '\\.')} .*permanent`));

  // MTU: the largest payload crosses in one piece, one more byte fails cleanly.
  const mtuOf = (out: string) => Number(/ mtu (\d+)/.exec(out)![1]);
  const mtu = mtuOf(lab.hosts[0]!.daemon.inSandbox(s[0]!.ns, 'ip', ['-o', 'link', 'show', 'eth0']).stdout);
  const underlayMtu = mtuOf(lab.hosts[0]!.daemon.onHost('ip', ['-o', 'link', 'show', 'uplink']).stdout);
  assert.equal(mtu, underlayMtu - 50, `overlay MTU = underlay ${underlayMtu} - 50 (VXLAN over IPv4)`);
  assert.ok(ping(0, s[0]!.ns, s[1]!.ip, ['-M', 'do', '-s', String(mtu - 28)]), 'largest payload crosses');
  const big = lab.hosts[0]!.daemon.inSandbox(s[0]!.ns, 'ping', ['-c1', '-W1', '-M', 'do', '-s', String(mtu - 27), s[1]!.ip], { allowFail: true });
  assert.notEqual(big.status, 0);
  assert.match(big.stdout + big.stderr, /message too long|mtu/i, 'one byte more fails cleanly (EMSGSIZE)');

  // Isolation: another overlay, a bridge network, the hosts' addresses.
  lab.cli(1, ['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.78.0.0/24', 'ov2']);
  lab.cli(1, ['run', '-d', '--name', 'b1', '--network', 'ov2', 'sleep', '600']);
  lab.cli(1, ['network', 'create', '--subnet', '10.79.0.0/24', 'br1']);
  lab.cli(1, ['run', '-d', '--name', 'c1', '--network', 'br1', 'sleep', '600']);
  const b1 = sbOf(1, 'b1', 'ov2');
  const c1 = sbOf(1, 'c1', 'br1');
  assert.ok(!ping(0, s[0]!.ns, b1.ip), 'ov1 → ov2: no');
  assert.ok(!ping(1, b1.ns, s[0]!.ip), 'ov2 → ov1: no');
  assert.ok(!ping(1, s[1]!.ns, c1.ip), 'ov1 → bridge on the same host: no');
  assert.ok(!ping(1, c1.ns, s[1]!.ip), 'bridge → ov1 on the same host: no');

  // rm on host2: host0 and host1 drop its entries at once.
  const t1 = Date.now();
  lab.cli(2, ['rm', '-f', 'a2']);
  await waitFor(() => !ping(0, s[0]!.ns, s[2]!.ip) && !fdb(0, net.Id).includes(`dst ${lab.hosts[2]!.address} `), 'a2 gone on host0', 10_000, 20);
  t.diagnostic(`rm on host2 → its entries gone on host0 and a ping to it failing (ping -W1 included) after ${Date.now() - t1} ms`);
  // Detach / attach of a1 seen on host0.
  lab.cli(1, ['network', 'disconnect', 'ov1', 'a1']);
  await waitFor(() => !fdb(0, net.Id).includes(`dst ${lab.hosts[1]!.address} `), 'a1 detached on host0', 10_000, 20);
  lab.cli(1, ['network', 'connect', 'ov1', 'a1']);
  const a1 = sbOf(1, 'a1', 'ov1');
  try {
    await waitFor(() => ping(0, s[0]!.ns, a1.ip), 'a1 attached again, reached from host0', 10_000, 20);
  } catch (e) {
    const neigh = (h: number) => lab.hosts[h]!.daemon.onHost('nsenter', [`--net=${lab.hosts[h]!.daemon.execRoot}/overlay/1-${net.Id.slice(0, 10)}`, '--', 'ip', 'neigh', 'show'], { allowFail: true }).stdout;
    t.diagnostic(`a1=${JSON.stringify(a1)} host0 fdb:\n${fdb(0, net.Id)}\nhost0 neigh:\n${neigh(0)}\nhost1 fdb:\n${fdb(1, net.Id)}\nhost1 neigh:\n${neigh(1)}\nhost1 log:\n${lab.hosts[1]!.daemon.log().split('\n').slice(-30).join('\n')}`);
    throw e;
  }
  lab.cli(1, ['rm', '-f', 'b1', 'c1']);
  lab.cli(1, ['network', 'rm', 'ov2', 'br1']);
});

test('gateway bridge: egress with masquerade, ICC off, -p on its own host, gone with the last overlay endpoint; --internal: no way out', async () => {
  const ext = lab.addNamespace('clext'); // "outside": a namespace on the underlay, not a cluster host
  const names = lab.cli(0, ['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']).stdout;
  assert.match(names, /^switchyard_gwbridge bridge local$/m, 'the gateway bridge is listed on host0');
  const gwi = JSON.parse(lab.cli(0, ['network', 'inspect', 'switchyard_gwbridge']).stdout)[0] as { Options: Record<string, string> };
  assert.equal(gwi.Options['com.docker.network.bridge.enable_icc'], 'false');
  assert.equal(gwi.Options['com.docker.network.bridge.enable_ip_masquerade'], 'true');
  const a0 = sbOf(0, 'a0', 'ov1');
  assert.ok(sbOf(0, 'a0', 'switchyard_gwbridge').ip, 'a0 has an address on the gateway bridge');
  const route = lab.hosts[0]!.daemon.inSandbox(a0.ns, 'ip', ['route', 'show', 'default']).stdout;
  assert.match(route, /default via \S+ dev eth1/, 'default route through the gateway bridge (eth1)');
  // The outside namespace has no route to the gateway bridge's subnet: the reply comes back
  // only because the request left masqueraded as host0's underlay address.
  assert.ok(ping(0, a0.ns, ext.address), 'a0 → outside through the gateway bridge');
  // ICC off: a second sandbox on host0's gateway bridge is not reached through it.
  lab.cli(0, ['run', '-d', '--name', 'g0', '--network', 'ov1', 'sleep', '600']);
  const g0 = sbOf(0, 'g0', 'switchyard_gwbridge');
  assert.ok(!ping(0, a0.ns, g0.ip), 'no traffic between sandboxes over the gateway bridge (ICC off)');
  assert.ok(ping(0, a0.ns, sbOf(0, 'g0', 'ov1').ip), 'the same two over the overlay: yes');
  // Its endpoints are anonymous: a sandbox of another overlay on the same host (so on the same
  // gateway bridge) is not resolved, while g0 (same overlay) is (the control).
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.75.0.0/24', 'ovx']);
  lab.cli(0, ['run', '-d', '--name', 'x0', '--network', 'ovx', 'sleep', '600']);
  const x0gw = sbOf(0, 'x0', 'switchyard_gwbridge');
  assert.equal(dig(0, a0.ns, 'x0'), '', 'a0 does not resolve x0 (another overlay, same gateway bridge)');
  assert.equal(dig(0, a0.ns, 'g0'), sbOf(0, 'g0', 'ov1').ip, 'a0 resolves g0 to its overlay address');
  const ptr = lab.hosts[0]!.daemon.inSandbox(a0.ns, 'dig', ['@127.0.0.11', '+tries=1', '+time=3', '+short', '-x', x0gw.ip], { allowFail: true }).stdout.trim();
  assert.ok(!/x0|undefined/.test(ptr), `no name for x0's gateway-bridge address (got ${JSON.stringify(ptr)})`);
  lab.cli(0, ['rm', '-f', 'x0']);
  lab.cli(0, ['network', 'rm', 'ovx']);
  // -p through the gateway bridge, on the sandbox's own host.
  lab.cli(1, ['run', '-d', '--name', 'p1', '--network', 'ov1', '-p', '18080:7000', 'socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:echo hello-gw']);
  const answer = await waitFor(() => {
    const r = lab.hosts[0]!.daemon.onHost('nsenter', [`--net=${ext.ns.path}`, '--', 'socat', '-T', '2', '-', `TCP:${lab.hosts[1]!.address}:18080,connect-timeout=2`], { allowFail: true });
    return r.stdout.trim() === 'hello-gw' ? r.stdout.trim() : undefined;
  }, '-p 18080 on host1 from outside', 10_000, 100);
  assert.equal(answer, 'hello-gw');
  // --internal overlay: no gateway bridge endpoint, no way out.
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '--internal', '--subnet', '10.76.0.0/24', 'ovi']);
  lab.cli(0, ['run', '-d', '--name', 'i0', '--network', 'ovi', 'sleep', '600']);
  const i0 = JSON.parse(lab.cli(0, ['inspect', 'i0']).stdout)[0] as Inspect[number];
  assert.deepEqual(Object.keys(i0.NetworkSettings.Networks), ['ovi']);
  assert.ok(!ping(0, i0.NetworkSettings.SandboxKey, ext.address), 'internal overlay → outside: no');
  for (let h = 0; h < 3; h++) assert.ok(!ping(0, i0.NetworkSettings.SandboxKey, lab.hosts[h]!.address), `internal overlay → host${h}: no`);
  // The last overlay endpoint goes: the gateway bridge endpoint goes with it.
  lab.cli(0, ['network', 'disconnect', 'ov1', 'g0']);
  const g0n = JSON.parse(lab.cli(0, ['inspect', 'g0']).stdout)[0] as Inspect[number];
  assert.deepEqual(Object.keys(g0n.NetworkSettings.Networks), [], 'g0 has no endpoint left (gateway bridge removed with ov1)');
  lab.cli(0, ['rm', '-f', 'g0', 'i0']);
  lab.cli(1, ['rm', '-f', 'p1']);
  lab.cli(0, ['network', 'rm', 'ovi']);
});

test('-o encrypted on a kernel without it: a clear error, and nothing made on any host', () => {
  const r = lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '-o', 'encrypted', 'ovenc'], { allowFail: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /encrypted/);
  assert.match(r.stderr, /kernel support this host lacks/, 'names the missing kernel support');
  for (let h = 0; h < 3; h++) {
    assert.ok(!lab.cli(h, ['network', 'ls', '--format', '{{.Name}}']).stdout.split('\n').includes('ovenc'), `no ovenc on host${h}`);
  }
  // The name is free: the same create without encryption works.
  lab.cli(1, ['network', 'create', '-d', 'overlay', 'ovenc']);
  lab.cli(2, ['network', 'rm', 'ovenc']);
});

test('ports follow capabilities: a default sandbox gets a direct port whose check it cannot remove; --cap-add NET_ADMIN gets a guarded one; a NET_ADMIN sandbox sharing a namespace turns its direct port into a guarded one', async () => {
  const d0 = lab.hosts[0]!.daemon;
  lab.cli(2, ['run', '-d', '--name', 'q2', '--network', 'ov1', 'sleep', '600']);
  try {
    const a0 = sbOf(0, 'a0', 'ov1');
    const a2 = sbOf(2, 'q2', 'ov1');
    /** The kind of the interface holding `ip` in the sandbox: macvlan (direct port) or veth (guarded). */
    const kindOf = (ns: string, ip: string) => {
      const ifname = d0.inSandbox(ns, 'ip', ['-o', 'addr', 'show', 'to', ip]).stdout.split(/\s+/)[1]!;
      return /macvlan/.test(d0.inSandbox(ns, 'ip', ['-d', 'link', 'show', ifname]).stdout) ? 'direct' : 'guarded';
    };
    assert.equal(kindOf(a0.ns, a0.ip), 'direct', 'run\'s default capabilities: a sealed sandbox');
    // security: the check is in a0's namespace, and a0's own processes cannot remove it.
    const tryDelete = lab.cli(0, ['exec', 'a0', 'nft', 'delete', 'table', 'netdev', 'switchyard'], { allowFail: true });
    assert.notEqual(tryDelete.status, 0, 'a default sandbox cannot delete its check');
    assert.match(tryDelete.stderr, /Operation not permitted/i, tryDelete.stderr);
    assert.match(d0.inSandbox(a0.ns, 'nft', ['list', 'tables']).stdout, /netdev switchyard/, 'still there');
    // Control: with full capabilities in that namespace (nsenter as root) the same delete works;
    // the daemon's watchdog then puts the check back.
    assert.equal(d0.inSandbox(a0.ns, 'nft', ['delete', 'table', 'netdev', 'switchyard'], { allowFail: true }).status, 0, 'control: root in the namespace can');
    await waitFor(() => /netdev switchyard/.test(d0.inSandbox(a0.ns, 'nft', ['list', 'tables']).stdout) || undefined, 'the watchdog restored a0\'s check', 8000, 200);
    // --cap-add NET_ADMIN: a guarded port, its check out of its namespace.
    lab.cli(0, ['run', '-d', '--name', 'n0', '--cap-add', 'NET_ADMIN', '--network', 'ov1', 'sleep', '600']);
    const n0 = sbOf(0, 'n0', 'ov1');
    assert.equal(kindOf(n0.ns, n0.ip), 'guarded');
    assert.doesNotMatch(d0.inSandbox(n0.ns, 'nft', ['list', 'tables']).stdout, /switchyard/, 'nothing of the check inside its namespace');
    await waitFor(() => ping(0, n0.ns, a2.ip), 'n0 → a2 across hosts', 10_000, 50);
    assert.ok(ping(0, n0.ns, a0.ip), 'guarded → direct on one host');
    // A NET_ADMIN sandbox started in a0's namespace: a0's port is joined again as a guarded one first.
    lab.cli(0, ['run', '-d', '--name', 's0', '--network', 'container:a0', '--cap-add', 'NET_ADMIN', 'sleep', '600']);
    assert.equal(kindOf(a0.ns, a0.ip), 'guarded', 'a0\'s port went out of reach of s0');
    assert.equal(sbOf(0, 'a0', 'ov1').ip, a0.ip, 'the same address');
    await waitFor(() => ping(0, a0.ns, a2.ip), 'a0 → a2 through its guarded port', 10_000, 50);
    await waitFor(() => ping(2, a2.ns, a0.ip), 'a2 → a0', 10_000, 50);
  } finally {
    lab.cli(0, ['rm', '-f', 's0', 'n0'], { allowFail: true });
    lab.cli(2, ['rm', '-f', 'q2'], { allowFail: true });
  }
});

test('an address freed by rm -f is taken again at once on the same host: every connect succeeds (the removed sandbox\'s port went with it, not with its namespace later)', async () => {
  const c = lab.hosts[0]!.daemon.client;
  await c.createNetwork({ Name: 'ovr', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.92.0.0/24' }] } });
  await c.createNetwork({ Name: 'rlb', IPAM: { Config: [{ Subnet: '10.93.0.0/24' }] } });
  const run = async (name: string) => {
    const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', '600'], NetworkMode: 'rlb' });
    await c.startSandbox(Id);
    return Id;
  };
  const made: string[] = [];
  try {
    made.push(await run('rk0'));
    await c.connectNetwork('ovr', 'rk0', {}); // host 0 keeps taking part
    made.push(await run('ra0'));
    await c.connectNetwork('ovr', 'ra0', { IPAMConfig: { IPv4Address: '10.92.0.50' } });
    const failed: string[] = [];
    // Before the fix 1 to 3 of 20 rounds failed with NETLINK_EADDRINUSE (the port of the
    // removed sandbox, whose MAC follows the address, was still up on the VXLAN device).
    for (let k = 1; k <= 30; k++) {
      made.push(await run(`ra${k}`));
      await c.removeSandbox(`ra${k - 1}`, true);
      await c.connectNetwork('ovr', `ra${k}`, { IPAMConfig: { IPv4Address: '10.92.0.50' } }).catch((err: SwitchyardError) => {
        failed.push(`round ${k}: ${err.code} ${err.message}`);
      });
    }
    assert.deepEqual(failed, []);
    const last = sbOf(0, 'ra30', 'ovr');
    assert.equal(last.ip, '10.92.0.50');
    lab.cli(1, ['run', '-d', '--name', 'rb1', '--network', 'ovr', 'sleep', '600']);
    await waitFor(() => ping(1, sbOf(1, 'rb1', 'ovr').ns, last.ip), 'host 1 reaches the address\'s last holder', 10_000, 50);
  } finally {
    lab.cli(1, ['rm', '-f', 'rb1'], { allowFail: true });
    for (const id of made) await c.removeSandbox(id, true).catch(() => undefined);
    await c.removeNetwork('ovr').catch(() => undefined);
    await c.removeNetwork('rlb').catch(() => undefined);
  }
});

test('kill -9 of host1\'s daemon: host0 and host2 keep talking; after restart host1 repairs its FDB and its anti-spoofing elements', async () => {
  lab.cli(2, ['run', '-d', '--name', 'k2', '--network', 'ov1', 'sleep', '600']);
  const a0 = sbOf(0, 'a0', 'ov1');
  const k2 = sbOf(2, 'k2', 'ov1');
  const a1 = sbOf(1, 'a1', 'ov1');
  await waitFor(() => ping(0, a0.ns, k2.ip), 'a0 → k2', 10_000, 20);
  await lab.kill(1);
  assert.ok(ping(0, a0.ns, k2.ip) && ping(2, k2.ns, a0.ip), 'host0 ↔ host2 while host1 is down');
  assert.ok(ping(0, a0.ns, a1.ip), 'a1 sandbox still answers (its data path is in the kernel)');
  // a1 is a sealed sandbox (run's default capabilities): its port is direct, its check in its
  // own namespace. Lost while host1's daemon is down, a1 carries nothing (fail closed: no
  // element, no source allowed); the restarted daemon's reload puts the elements back.
  const check1 = (args: string[]) => lab.hosts[1]!.daemon.onHost('nsenter', [`--net=${a1.ns}`, '--', 'nft', ...args], { allowFail: true }).stdout;
  assert.match(check1(['list', 'set', 'netdev', 'switchyard', 'ports']), /"eth/, 'a1\'s namespace holds its port\'s check');
  assert.match(check1(['list', 'table', 'netdev', 'switchyard']), /hook egress device "eth/, 'on its own egress');
  for (const set of ['ports', 'endpoint-mac', 'endpoint-ip4', 'endpoint-ip6', 'endpoint-nd6']) check1(['flush', 'set', 'netdev', 'switchyard', set]);
  assert.ok(!ping(0, a0.ns, a1.ip), 'a1 is cut off without its elements (fail closed)');
  // While host1 is down, k3 appears on host2 and k2 goes: host1 must learn both on restart.
  lab.cli(2, ['run', '-d', '--name', 'k3', '--network', 'ov1', 'sleep', '600']);
  lab.cli(2, ['rm', '-f', 'k2']);
  const k3 = sbOf(2, 'k3', 'ov1');
  await lab.restart(1);
  await waitFor(() => ping(1, a1.ns, k3.ip), 'a1 → k3 after restart (FDB repaired)', 10_000, 50);
  assert.match(check1(['list', 'set', 'netdev', 'switchyard', 'ports']), /"eth/, 'the restart restored a1\'s anti-spoofing elements');
  // The check's table deleted by hand: the daemon's watchdog (every 2 s) sees it and reloads.
  check1(['delete', 'table', 'netdev', 'switchyard']);
  assert.doesNotMatch(check1(['list', 'tables']), /netdev switchyard/, 'the table is gone');
  await waitFor(() => /"eth/.test(check1(['list', 'set', 'netdev', 'switchyard', 'ports'])) || undefined, 'the watchdog restored a1\'s table and elements', 8000, 200);
  const net = JSON.parse(lab.cli(1, ['network', 'inspect', 'ov1']).stdout)[0] as { Id: string };
  // k2's MAC follows its address (macFromIpv4): host1's FDB no longer holds it.
  await waitFor(() => !fdb(1, net.Id).includes(macFromIpv4(k2.ip)), 'k2 gone from host1\'s FDB', 10_000, 50);
  assert.ok(!ping(1, a1.ns, k2.ip), 'the removed k2 is not reached');
});

test('node rm of a host gone for good: the others drop its entries', async () => {
  const net = JSON.parse(lab.cli(0, ['network', 'inspect', 'ov1']).stdout)[0] as { Id: string };
  const addr2 = lab.hosts[2]!.address;
  assert.ok(fdb(0, net.Id).includes(`dst ${addr2} `), 'host0 holds k3 on host2');
  await lab.kill(2);
  await waitFor(() => lab.cli(0, ['node', 'ls', '--format', '{{.Name}} {{.Status}}']).stdout.includes('host2 down'), 'host2 down', 15_000, 200);
  lab.cli(0, ['node', 'rm', 'host2']);
  await waitFor(() => !fdb(0, net.Id).includes(`dst ${addr2} `) && !fdb(1, net.Id).includes(`dst ${addr2} `), 'host2 entries dropped', 10_000, 50);
  await lab.restart(2);
  lab.cli(0, ['rm', '-f', 'a0']);
  lab.cli(1, ['rm', '-f', 'a1']);
  lab.cli(2, ['rm', '-f', 'k3'], { allowFail: true });
  lab.cli(0, ['network', 'rm', 'ov1']);
});
