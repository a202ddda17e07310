/**
 * Routed networks in both families across real daemons (docs/drivers/routed.md "IPv6 across
 * hosts"): the cluster lab's three hosts on one underlay segment, each daemon given its IPv4
 * and its IPv6 underlay address (`--data-path-addr` once per family). A dual-stack routed
 * network: every host records its IPv6 data-path address (node record v2, `node inspect`),
 * routes the other hosts' IPv6 blocks via it (protocol 83), sandboxes ping and talk TCP both
 * ways in both families, and a capture on the underlay sees the sandboxes' own IPv6
 * addresses, a full 1500-byte packet and no encapsulation. The lab's close() is the leak check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { inNs, waitFor } from '../helpers/netns.js';
import { capture } from '../helpers/routed-lab.js';
import { tcpAsk, tcpServer, type TcpServer } from '../helpers/sandbox-tcp.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/routed.js';

let lab: ClusterLab;
const servers: TcpServer[] = [];
const names = ['s6a', 's6b', 's6c'];
before(async () => {
  lab = await startClusterLab({ hosts: 3, dataPath6: true });
});
after(async () => {
  for (const s of servers) await s.stop();
  for (let i = 0; i < 3; i++) lab?.cli(i, ['rm', '-f', names[i]!], { allowFail: true });
  lab?.cli(0, ['network', 'rm', 'r6'], { allowFail: true });
  await lab?.close();
});

type Net = { IPAddress: string; IPPrefixLen: number; Gateway: string; GlobalIPv6Address: string; GlobalIPv6PrefixLen: number; IPv6Gateway: string };
type Inspect = { NetworkSettings: { SandboxKey: string; Networks: Record<string, Net> } }[];
interface Sb { ns: string; v4: string; v6: string; net: Net }
let sb: Sb[] = [];

const ping = (i: number, nsPath: string, to: string, extra: string[] = []) =>
  lab.hosts[i]!.daemon.inSandbox(nsPath, 'ping', ['-c1', '-W1', ...extra, to], { allowFail: true }).status === 0;
const routes6 = (i: number) => inNs(lab.hosts[i]!.ns.name, 'ip', ['-6', 'route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout;
const blocks = (i: number) => (JSON.parse(lab.cli(i, ['network', 'inspect', 'r6']).stdout) as { Blocks?: Record<string, string> }[])[0]!.Blocks ?? {};

test('routed IPv6 across three hosts: each node\'s IPv6 data-path address, IPv6 blocks routed via it, ping both ways in both families', async (t) => {
  const node = JSON.parse(lab.cli(0, ['node', 'inspect', 'host1']).stdout) as { DataPathAddress: string; DataPathAddress6?: string }[];
  assert.equal(node[0]!.DataPathAddress, lab.hosts[1]!.address, 'the IPv4 data-path address as before');
  assert.equal(node[0]!.DataPathAddress6, lab.hosts[1]!.address6, 'and the IPv6 one (the second --data-path-addr)');
  lab.cli(0, ['network', 'create', '-d', 'routed', '--attachable', '--subnet', '10.78.0.0/24', '--subnet', 'fd78::/64', '--ipv6', '-o', 'com.switchyard.routed.block_size=29', 'r6']);
  const t0 = Date.now();
  sb = names.map((name, i) => {
    lab.cli(i, ['run', '-d', '--name', name, '--network', 'r6', 'sleep', '600']);
    const s = (JSON.parse(lab.cli(i, ['inspect', name]).stdout) as Inspect)[0]!.NetworkSettings;
    const net = s.Networks['r6']!;
    return { ns: s.SandboxKey, v4: net.IPAddress, v6: net.GlobalIPv6Address, net };
  });
  for (const s of sb) {
    assert.equal(s.net.GlobalIPv6PrefixLen, 128, 'the endpoint shows the /128 the sandbox has');
    assert.equal(s.net.IPv6Gateway, 'fe80::1', 'and its link-local IPv6 gateway');
    assert.match(s.v6, /^fd78::/);
  }
  // One IPv4 and one IPv6 block per host (/29 → /125), on every host.
  await waitFor(() => Object.keys(blocks(2)).length === 6, 'six blocks in inspect', 10_000, 100);
  const b = Object.entries(blocks(0));
  const v6of = (host: string) => b.find(([c, n]) => n === host && c.includes(':'))![0];
  assert.match(v6of('host1'), /\/125$/);
  // host0 routes host1's and host2's IPv6 blocks via their IPv6 data-path addresses.
  for (const j of [1, 2]) {
    await waitFor(() => routes6(0).includes(`${v6of(`host${j}`)} via ${lab.hosts[j]!.address6}`), `host0 routes host${j}'s IPv6 block via ${lab.hosts[j]!.address6}`, 10_000, 100);
  }
  await waitFor(() => ping(0, sb[0]!.ns, sb[1]!.v6) && ping(1, sb[1]!.ns, sb[2]!.v6) && ping(2, sb[2]!.ns, sb[0]!.v6), 'IPv6 ping across hosts', 15_000, 200);
  t.diagnostic(`three runs on three hosts → IPv6 ping across every pair after ${Date.now() - t0} ms`);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      assert.ok(ping(i, sb[i]!.ns, sb[j]!.v6), `host${i} → host${j} (IPv6)`);
      assert.ok(ping(i, sb[i]!.ns, sb[j]!.v4), `host${i} → host${j} (IPv4)`);
    }
  }
});

test('routed IPv6 across hosts: TCP both ways in both families', async () => {
  sb.forEach((s, i) => servers.push(tcpServer(s.ns, 7070, `from-host${i}`)));
  await waitFor(() => tcpAsk(sb[0]!.ns, sb[1]!.v6, 7070) === 'from-host1', 'the TCP servers listen', 10_000, 200);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      assert.equal(tcpAsk(sb[i]!.ns, sb[j]!.v6, 7070), `from-host${j}`, `TCP host${i} → host${j} over IPv6`);
      assert.equal(tcpAsk(sb[i]!.ns, sb[j]!.v4, 7070), `from-host${j}`, `TCP host${i} → host${j} over IPv4`);
    }
  }
});

test('routed IPv6 on the underlay: the sandboxes\' own IPv6 addresses, no encapsulation, full MTU', async () => {
  const { frames } = await capture(lab.hosts[1]!.ns.name, 'uplink', 3);
  // 1452 bytes of ICMPv6 payload + 8 + 40 = a 1500-byte IPv6 packet (IPv6 never fragments on the way).
  assert.ok(ping(0, sb[0]!.ns, sb[1]!.v6, ['-s', '1452', '-M', 'do']), 's6a → s6b with a 1500-byte IPv6 packet');
  assert.ok(ping(2, sb[2]!.ns, sb[1]!.v6), 's6c → s6b');
  const seen = await frames;
  const icmp6 = seen.filter((f) => f.ethertype === 0x86dd && f.proto === 58);
  const a2b = icmp6.filter((f) => f.src === sb[0]!.v6 && f.dst === sb[1]!.v6);
  const b2a = icmp6.filter((f) => f.src === sb[1]!.v6 && f.dst === sb[0]!.v6);
  assert.ok(a2b.length >= 1 && b2a.length >= 1, `ICMPv6 with the sandboxes' own addresses in the outer header, both ways (${a2b.length}, ${b2a.length})`);
  assert.ok(a2b.some((f) => f.len === 1514), 'a full 1500-byte IPv6 packet crossed the underlay');
  assert.ok(icmp6.some((f) => f.src === sb[2]!.v6 && f.dst === sb[1]!.v6), 'and from the third host');
  const encapsulated = seen.filter((f) => f.proto === 4 || f.proto === 41 || f.proto === 47 || f.proto === 50 || (f.proto === 17 && [4789, 8472, 6081, 51820].includes(f.dport ?? 0)));
  assert.deepEqual(encapsulated, [], 'no IP-in-IP, IPv6-in-IP, GRE, ESP, VXLAN, Geneve or WireGuard frame');
});
