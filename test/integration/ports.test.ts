/**
 * The port-publishing service against the real kernel, with real TCP and UDP traffic.
 * Needs root.
 *
 * Topology, rebuilt for every test (all namespaces throwaway, the machine's own untouched):
 *
 *   s1 10.93.1.2 fd93:1::2 ─┐                        ┌─ syup0 10.94.0.1 (+ .3) fd94::1 ── ext 10.94.0.2 fd94::2
 *   s2 10.93.1.3 fd93:1::3 ─┴ sybrA 10.93.1.1 ─ host ┘
 *   s3 10.93.2.2 fd93:2::2 ── sybrB 10.93.2.1 ┘   (ip_forward=1 in host only)
 *
 * Each sandbox runs a TCP server on 8000 and a UDP server on 8001 that answer with the peer
 * address they see. ext has no route to the sandbox subnets, so it reaches them only
 * through DNAT on a host address (or through a route a test adds on purpose).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { Firewall, type FirewallNetwork } from '../../src/services/firewall/firewall.js';
import { NoFirewall } from '../../src/services/firewall/no-firewall.js';
import { PortsService } from '../../src/services/ports/service.js';
import type { PublishRequest } from '../../src/engine/context.js';
import type { PortRequest } from '../../src/engine/types.js';
import { parsePortSpec, parseExposeSpec } from '../../src/model/port-spec.js';
import { SwitchyardError } from '../../src/errors.js';
import { NETNS_DIR, assertNoLeaks, inNs, removeNs, waitFor, type TestNs } from '../helpers/netns.js';
import { Lab, canonical, connect, ip } from '../helpers/lab.js';

const TCP = 8000;
const UDP = 8001;
const HOST = '10.94.0.1';
const HOST2 = '10.94.0.3';
const HOST6 = 'fd94::1';
const EXT = '10.94.0.2';
const EXT6 = 'fd94::2';
const lab = new Lab({ v4: '10.93', v6: 'fd93' });
const { created, live } = lab;
const children: ChildProcess[] = [];

function addSandbox(host: TestNs, tag: string, bridge: string, n: number, h: number): Sandbox {
  const s = lab.sandbox(host, tag, bridge, n, h, { hairpin: true });
  return { id: `sandbox-${tag}-${s.ns.name}`, ns: s.ns, v4: s.v4, v6: s.v6, bridge };
}

before(async () => {
  await warmThreadpool();
});

after(() => {
  assertNoLeaks(created);
});

interface Sandbox {
  id: string;
  ns: TestNs;
  v4: string;
  v6: string;
  bridge: string;
}

interface Topology {
  host: TestNs;
  ext: TestNs;
  s1: Sandbox;
  s2: Sandbox;
  s3: Sandbox;
  nets: FirewallNetwork[];
  nft: Nft;
  /** `--firewall=false` gets NoFirewall, as the daemon picks it. */
  fw: Firewall | NoFirewall;
  ports: PortsService;
  log: string[];
}





function spawnIn(ns: TestNs, args: string[]): ChildProcess {
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${ns.name}`, '--', ...args], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/**
 * The UDP server: one process answering every datagram with its sender's address. Not
 * `socat UDP6-RECVFROM:…,fork SYSTEM:echo`: each child socat stays on the shared socket for
 * its close timeout (0.5 s) after `echo` exits and competes with the parent for the next
 * datagram, which it then writes into the dead pipe ("Broken pipe"): a probe shortly after
 * another is lost now and then, more often the busier the machine is.
 */
const UDP_ECHO = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
  's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)',
  's.bind(("::", int(sys.argv[1])))',
  'while True:',
  '  data, peer = s.recvfrom(2048)',
  '  s.sendto((peer[0] + "\\n").encode(), peer)',
].join('\n');

/** TCP on 8000 and UDP on 8001 (IPv4 and IPv6), each answering with the peer address. */
async function startServers(ns: TestNs): Promise<void> {
  spawnIn(ns, ['socat', `TCP6-LISTEN:${TCP},ipv6only=0,reuseaddr,fork`, 'SYSTEM:echo $SOCAT_PEERADDR']);
  spawnIn(ns, ['python3', '-c', UDP_ECHO, String(UDP)]);
  await waitFor(() => inNs(ns.name, 'ss', ['-Hltn', `sport = :${TCP}`]).stdout.includes(`${TCP}`), `tcp server in ${ns.name}`);
  await waitFor(() => inNs(ns.name, 'ss', ['-Hlun', `sport = :${UDP}`]).stdout.includes(`${UDP}`), `udp server in ${ns.name}`);
}

function stopChildren(): void {
  for (const child of children.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
  }
}


/**
 * The UDP client: sends one datagram and prints the first reply, or exits 3 after 2 s without
 * one. It returns as soon as the reply arrives; `socat STDIO UDP4:…` gave up 0.5 s (its close
 * timeout) after stdin's EOF, a margin a loaded machine's scheduler can eat. 2 s is spent only
 * where no answer is the expected outcome.
 */
const UDP_PROBE = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)',
  's.settimeout(2)',
  's.sendto(b"hello\\n", (sys.argv[1], int(sys.argv[2])))',
  'try:',
  '  print(s.recv(2048).decode().strip())',
  'except OSError:',
  '  sys.exit(3)',
].join('\n');

/** One UDP datagram to addr:port and the reply (the peer address the server saw), or null. */
function udp(from: TestNs, addr: string, port: number): string | null {
  const r = inNs(from.name, 'python3', ['-c', UDP_PROBE, addr, String(port)], { allowFail: true, timeoutMs: 10_000 });
  if (r.status !== 0 || !r.stdout.trim()) return null;
  return canonical(r.stdout.trim());
}


/** Can a process in the host namespace bind addr:port (tcp)? The proof that a port is reserved or free. */
function hostCanBind(t: Topology, port: number, addr = '0.0.0.0', proto: 'tcp' | 'udp' = 'tcp'): boolean {
  const script = `import socket,sys\ns=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_STREAM if sys.argv[3]=='tcp' else socket.SOCK_DGRAM)\ntry:\n  s.bind((sys.argv[1], int(sys.argv[2])))\nexcept OSError:\n  sys.exit(3)\n`;
  const r = inNs(t.host.name, 'python3', ['-c', script, addr, String(port), proto], { allowFail: true });
  return r.status === 0;
}

/** Counts TCP packets from `from` to port 8000 arriving in the sandbox (an nft counter in its own throwaway netns). */
function probeArrivals(s: Sandbox, from: string): () => number {
  inNs(s.ns.name, 'nft', [`add table ip probe; add chain ip probe in { type filter hook input priority 0; }; add rule ip probe in ip saddr ${from} tcp dport ${TCP} counter`]);
  return () => Number(/packets (\d+)/.exec(inNs(s.ns.name, 'nft', ['list', 'chain', 'ip', 'probe', 'in']).stdout)?.[1] ?? 0);
}

function request(s: Sandbox, specs: string[], extra: Partial<PublishRequest> = {}): PublishRequest {
  const requests: PortRequest[] = specs.flatMap((spec) => parsePortSpec(spec));
  return {
    sandboxId: s.id,
    requests,
    publishAll: false,
    expose: [],
    target: { bridge: s.bridge, containerIPv4: s.v4, containerIPv6: s.v6, defaultHostIp: '0.0.0.0' },
    ...extra,
  };
}

function table(t: Topology): string {
  return t.nft.list('table inet switchyard');
}

async function withTopology(body: (t: Topology) => Promise<void> | void, opts: { enabled?: boolean } = {}): Promise<void> {
  let nft: Nft | undefined;
  let ports: PortsService | undefined;
  try {
    const host = lab.ns('pth');
    const ext = lab.ns('ptx');
    inNs(host.name, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const a = lab.bridge(host, 'sybrA', 1);
    const b = lab.bridge(host, 'sybrB', 2);
    const s1 = addSandbox(host, 's1', 'sybrA', 1, 2);
    const s2 = addSandbox(host, 's2', 'sybrA', 1, 3);
    const s3 = addSandbox(host, 's3', 'sybrB', 2, 2);
    ip(host, 'link', 'add', 'syup0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext.name);
    ip(host, 'addr', 'add', `${HOST}/24`, 'dev', 'syup0');
    ip(host, 'addr', 'add', `${HOST2}/24`, 'dev', 'syup0');
    ip(host, 'addr', 'add', `${HOST6}/64`, 'dev', 'syup0', 'nodad');
    ip(host, 'link', 'set', 'syup0', 'up');
    ip(ext, 'addr', 'add', `${EXT}/24`, 'dev', 'eth0');
    ip(ext, 'addr', 'add', `${EXT6}/64`, 'dev', 'eth0', 'nodad');
    ip(ext, 'link', 'set', 'eth0', 'up');
    await Promise.all([s1.ns, s2.ns, s3.ns].map(startServers));
    for (const target of [s1.v4, s1.v6, s2.v4, s3.v4, s3.v6]) {
      await waitFor(() => connect(host, target, TCP) !== null, `host reaches ${target}`);
    }
    nft = Nft.open(host.path);
    const enabled = opts.enabled ?? true;
    const fw = enabled ? new Firewall(nft) : new NoFirewall();
    fw.ensureBase();
    fw.ensureNetwork(a);
    fw.ensureNetwork(b);
    const log: string[] = [];
    ports = new PortsService({ firewall: fw, enabled, netnsPath: host.path, log: (m) => log.push(m) });
    await body({ host, ext, s1, s2, s3, nets: [a, b], nft, fw, ports, log });
  } finally {
    stopChildren();
    ports?.close();
    nft?.close();
    live.splice(0).forEach(removeNs);
  }
}

test('-p 8080:8000 answers from outside (client address kept), the host, 127.0.0.1, both networks and in hairpin, IPv4 and IPv6', async () => {
  await withTopology((t) => {
    assert.equal(connect(t.ext, HOST, 8080), null, 'nothing answers before publishing: the test can fail');
    const out = t.ports.publish(request(t.s1, ['8080:8000']));
    assert.deepEqual(out, [
      { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 8000, proto: 'tcp', containerIp: t.s1.v4 },
      { hostIp: '::', hostPort: 8080, containerPort: 8000, proto: 'tcp', containerIp: t.s1.v6 },
    ]);
    // Outside: DNAT on the host's address, the sandbox sees the real client.
    assert.equal(connect(t.ext, HOST, 8080), EXT);
    assert.equal(connect(t.ext, HOST2, 8080), EXT, 'every host address answers for 0.0.0.0');
    assert.equal(connect(t.ext, HOST6, 8080), EXT6);
    // The host itself, including loopback (output chain, route_localnet, 127/8 masquerade).
    assert.equal(connect(t.host, HOST, 8080), HOST);
    assert.equal(connect(t.host, '127.0.0.1', 8080), '10.93.1.1');
    assert.equal(connect(t.host, HOST6, 8080), HOST6);
    // No IPv6 loopback: the kernel never routes ::1 off lo (there is no route_localnet for
    // IPv6), so [::1] is left out of DNAT and reaches the reserved, non-listening socket.
    const r = inNs(t.host.name, 'socat', ['-u', 'TCP6:[::1]:8080,connect-timeout=2', 'STDOUT'], { allowFail: true });
    assert.match(r.stderr, /Connection refused/);
    // Same network through the host address: the sandbox sees its neighbour.
    assert.equal(connect(t.s2.ns, HOST, 8080), t.s2.v4);
    assert.equal(connect(t.s2.ns, HOST6, 8080), t.s2.v6);
    assert.equal(connect(t.s2.ns, '10.93.1.1', 8080), t.s2.v4, 'the gateway address is a host address too');
    // Another network: isolation is about direct access, the published port answers.
    assert.equal(connect(t.s3.ns, HOST, 8080), '10.93.1.1');
    assert.equal(connect(t.s3.ns, HOST6, 8080), 'fd93:1::1');
    // Hairpin: s1 reaches its own published port (masqueraded, or it would answer itself over lo).
    assert.equal(connect(t.s1.ns, HOST, 8080), '10.93.1.1');
    assert.equal(connect(t.s1.ns, HOST6, 8080), 'fd93:1::1');
    // Direct access stays as the firewall had it: another network cannot reach s1 itself.
    assert.equal(connect(t.s3.ns, t.s1.v4, TCP), null);
    assert.equal(connect(t.s3.ns, t.s1.v6, TCP), null);
    // From outside with a route: only the published container port of s1, nothing else.
    ip(t.ext, 'route', 'add', '10.93.0.0/16', 'via', HOST);
    ip(t.ext, '-6', 'route', 'add', 'fd93::/16', 'via', HOST6);
    assert.equal(connect(t.ext, t.s2.v4, TCP), null);
    assert.equal(connect(t.ext, t.s2.v6, TCP), null);
    // security (direct routing): Docker 28 drops it in raw prerouting (moby#45610's fix), so
    // does Switchyard on a masquerading network; a routed one (masquerade off) lets the
    // forward filter admit the published container port.
    assert.equal(connect(t.ext, t.s1.v4, TCP), null, 'a published container port, routed directly, is dropped as with Docker 28');
    t.fw.ensureNetwork({ ...t.nets[0]!, masquerade: false });
    assert.equal(connect(t.ext, t.s1.v4, TCP), EXT, 'control: on a routed network the published container port is reached directly');
    assert.equal(connect(t.ext, t.s2.v4, TCP), null);
    t.fw.ensureNetwork(t.nets[0]!);
    // The host port is really held: no other process on the host can take it.
    assert.equal(hostCanBind(t, 8080), false);
    assert.equal(hostCanBind(t, 8080, '::'), false);
    assert.equal(hostCanBind(t, 8080, '0.0.0.0', 'udp'), true, 'tcp only');
    assert.equal(inNs(t.host.name, 'sysctl', ['-n', 'net.ipv4.conf.sybrA.route_localnet']).stdout.trim(), '1');
  });
});

test('a port bound to one host address answers only there; 127.0.0.1 is not reachable from the local network (moby#45610)', async () => {
  await withTopology((t) => {
    t.ports.publish(request(t.s1, [`${HOST}:8081:8000`, '127.0.0.1:8082:8000', `[${HOST6}]:8083:8000`]));
    assert.equal(connect(t.ext, HOST, 8081), EXT);
    assert.equal(connect(t.ext, HOST2, 8081), null, 'another host address of the same host');
    assert.equal(connect(t.ext, HOST6, 8081), null, 'an IPv4 address publishes no IPv6');
    assert.equal(connect(t.host, '127.0.0.1', 8082), '10.93.1.1');
    assert.equal(connect(t.host, HOST, 8082), null);
    assert.equal(connect(t.ext, HOST, 8082), null);
    assert.equal(connect(t.ext, HOST6, 8083), EXT6);
    assert.equal(connect(t.ext, HOST, 8083), null);
    // A neighbour on the uplink sends to 127.0.0.1:8082 through the host (the attack of
    // moby#45610): its own loopback route removed, 127.0.0.1 routed to the host.
    inNs(t.ext.name, 'sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1', 'net.ipv4.conf.eth0.route_localnet=1']);
    ip(t.ext, 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local');
    ip(t.ext, 'route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local');
    ip(t.ext, 'route', 'add', '127.0.0.1/32', 'via', HOST);
    // The reply (from 127.0.0.1) would be a martian at ext, so what is counted is whether
    // the SYN reaches the sandbox at all.
    const arrived = probeArrivals(t.s1, EXT);
    assert.equal(connect(t.ext, '127.0.0.1', 8082), null);
    assert.equal(arrived(), 0);
    // Without the raw-prerouting guard the same SYN gets in: the test can fail.
    t.nft.run('flush chain inet switchyard raw-prerouting');
    connect(t.ext, '127.0.0.1', 8082);
    assert.ok(arrived() > 0, 'the attack reaches the sandbox without the guard');
  });
});

test('UDP, ephemeral ports, host ranges, -P and a sandbox without IPv6', async () => {
  await withTopology((t) => {
    const [range0, range1] = t.ports.ephemeralRange;
    const out = t.ports.publish(request(t.s1, ['9001:8001/udp', '8000', '127.0.0.1::8000', '9100-9102:8000'], {
      publishAll: true,
      expose: parseExposeSpec('8001/udp').concat(parseExposeSpec('8000')),
    }));
    const udp4 = out.find((b) => b.proto === 'udp' && b.hostPort === 9001 && b.hostIp === '0.0.0.0');
    assert.ok(udp4);
    assert.equal(udp(t.ext, HOST, 9001), EXT);
    assert.equal(udp(t.ext, HOST6, 9001), EXT6);
    assert.equal(udp(t.s3.ns, HOST, 9001), '10.93.1.1');
    // `-p 8000`: one ephemeral port, the same for IPv4 and IPv6, from the range.
    const eph = out.filter((b) => b.proto === 'tcp' && b.containerPort === 8000 && b.hostPort >= range0 && b.hostPort <= range1 && b.hostIp !== '127.0.0.1');
    assert.equal(eph.length, 2);
    assert.equal(eph[0]!.hostPort, eph[1]!.hostPort);
    assert.equal(connect(t.ext, HOST, eph[0]!.hostPort), EXT);
    assert.equal(connect(t.ext, HOST6, eph[0]!.hostPort), EXT6);
    const local = out.find((b) => b.hostIp === '127.0.0.1')!;
    assert.notEqual(local.hostPort, eph[0]!.hostPort);
    assert.equal(connect(t.host, '127.0.0.1', local.hostPort), '10.93.1.1');
    // 9100-9102:8000 picks the first free port of the range.
    assert.ok(out.some((b) => b.hostPort === 9100));
    assert.equal(connect(t.ext, HOST, 9100), EXT);
    // -P: 8001/udp and 8000/tcp are already published by -p, so -P adds nothing.
    assert.equal(out.length, 2 + 2 + 1 + 2);
    // A second sandbox asking for the same range gets the next port.
    const s2 = t.ports.publish(request(t.s2, ['9100-9102:8000'], { publishAll: true, expose: parseExposeSpec('8001/udp') }));
    assert.equal(s2[0]!.hostPort, 9101);
    assert.equal(connect(t.ext, HOST, 9101), EXT);
    const pAll = s2.filter((b) => b.proto === 'udp');
    assert.equal(pAll.length, 2, '-P publishes 8001/udp on an ephemeral port, v4 and v6');
    assert.equal(udp(t.ext, HOST, pAll[0]!.hostPort), EXT);
    // A sandbox with no IPv6 address gets no IPv6 binding.
    const noV6 = t.ports.publish({ ...request(t.s3, ['9200:8000']), target: { bridge: t.s3.bridge, containerIPv4: t.s3.v4, defaultHostIp: '0.0.0.0' } });
    assert.deepEqual(noV6.map((b) => b.hostIp), ['0.0.0.0']);
    assert.equal(connect(t.ext, HOST, 9200), EXT);
    assert.equal(connect(t.ext, HOST6, 9200), null);
  });
});

test('conflicts: a port held by another process or already published is refused, naming it, and nothing changes', async () => {
  await withTopology(async (t) => {
    spawnIn(t.host, ['socat', 'TCP4-LISTEN:9090,reuseaddr,fork', 'SYSTEM:echo other']);
    await waitFor(() => inNs(t.host.name, 'ss', ['-Hltn', 'sport = :9090']).stdout.includes('9090'), 'socat on 9090 in the host');
    t.ports.publish(request(t.s2, ['7070:8000']));
    const before = table(t);
    const reserved = t.ports.reservedCount;
    const refuse = (specs: string[], message: string) => assert.throws(() => t.ports.publish(request(t.s1, specs)), (err: unknown) => {
      assert.ok(err instanceof SwitchyardError);
      assert.equal(err.kind, 'conflict');
      assert.equal(err.code, 'PORT_ALLOCATED');
      assert.equal(err.message, message);
      return true;
    });
    // 7171 and the v4 half of 9090 would be reserved first: they must be undone.
    refuse(['7171:8000', '9090:8000'], 'Bind for 0.0.0.0:9090 failed: port is already allocated');
    refuse(['7171:8000', '7070:8000'], 'Bind for 0.0.0.0:7070 failed: port is already allocated');
    refuse([`${HOST}:7070:8000`], `Bind for ${HOST}:7070 failed: port is already allocated`);
    refuse([`[::]:7070:8000`], 'Bind for [::]:7070 failed: port is already allocated');
    assert.equal(table(t), before, 'no element was added');
    assert.equal(t.ports.reservedCount, reserved, 'no socket was kept');
    assert.equal(hostCanBind(t, 7171), true, 'the first port of a refused call is free again');
    assert.equal(connect(t.ext, HOST, 9090), 'other', 'the other process keeps its port');
    assert.equal(connect(t.ext, HOST, 7070), EXT, 'the published port still goes to s2');
    // An address that is not the host's.
    assert.throws(() => t.ports.publish(request(t.s1, ['192.0.2.1:7272:8000'])), /cannot assign requested address/);
  });
});

test('unpublish closes the port and frees the host port; elements added and removed one by one', async () => {
  await withTopology((t) => {
    const empty = table(t);
    const a = t.ports.publish(request(t.s1, ['8080:8000', '8081:8000', '8082:8001/udp']));
    const b = t.ports.publish(request(t.s2, ['8090:8000']));
    assert.equal(connect(t.ext, HOST, 8080), EXT);
    // Two host ports lead to s1:8000: removing one keeps the other working.
    t.ports.unpublish(t.s1.id, a.filter((x) => x.hostPort === 8080));
    assert.equal(connect(t.ext, HOST, 8080), null);
    assert.equal(connect(t.ext, HOST, 8081), EXT);
    assert.equal(hostCanBind(t, 8080), true);
    t.ports.unpublish(t.s1.id, a);
    t.ports.unpublish(t.s1.id, a); // twice: already gone is success
    assert.equal(connect(t.ext, HOST, 8081), null);
    assert.equal(udp(t.ext, HOST, 8082), null);
    assert.equal(hostCanBind(t, 8081), true);
    assert.equal(hostCanBind(t, 8082, '0.0.0.0', 'udp'), true);
    assert.equal(connect(t.ext, HOST, 8090), EXT, 'the other sandbox is untouched');
    t.ports.unpublish(t.s2.id, b);
    assert.equal(table(t), empty, 'the table is back to what it was');
    assert.equal(t.ports.reservedCount, 0);
  });
});

test('restore: after the table is deleted and reloaded, and after a daemon restart (stale elements)', async () => {
  await withTopology((t) => {
    const req = request(t.s1, ['8080:8000', '127.0.0.1:8081:8000']);
    const bound = t.ports.publish(req);
    inNs(t.host.name, 'nft', ['delete', 'table', 'inet', 'switchyard']);
    assert.equal(connect(t.ext, HOST, 8080), null);
    // The daemon's reload path: firewall.reload(networks), then restore for running sandboxes.
    t.fw.reload(t.nets);
    t.ports.restore(req, bound);
    assert.equal(connect(t.ext, HOST, 8080), EXT);
    assert.equal(connect(t.host, '127.0.0.1', 8081), '10.93.1.1');
    t.ports.restore(req, bound); // idempotent
    // Daemon restart: the sockets die with the process, the elements stay in the kernel.
    t.ports.close();
    assert.equal(hostCanBind(t, 8080), true);
    const next = new PortsService({ firewall: t.fw, enabled: true, netnsPath: t.host.path, log: (m) => t.log.push(m) });
    try {
      next.restore(req, bound);
      assert.equal(hostCanBind(t, 8080), false, 'reserved again');
      assert.equal(connect(t.ext, HOST, 8080), EXT);
      next.unpublish(t.s1.id, bound);
      // A crash left an element for 8080 → s1; publishing 8080 for s2 replaces it.
      t.nft.run(`add element inet switchyard dnat4-any { tcp . 8080 : ${t.s1.v4} . ${TCP} }`);
      next.publish(request(t.s2, ['8080:8000']));
      assert.equal(connect(t.ext, HOST, 8080), EXT);
      assert.match(t.nft.list('map inet switchyard dnat4-any'), new RegExp(`tcp \\. 8080 : ${t.s2.v4.replace(/\./g, '\\.')} \\. 8000`));
      assert.ok(t.log.some((l) => /stale DNAT element for tcp \*:8080/.test(l)));
    } finally {
      next.close();
    }
  });
});

test('user chain: a rule matching the original destination port blocks one client only', async () => {
  await withTopology((t) => {
    t.ports.publish(request(t.s1, ['8080:8000']));
    t.ports.publish(request(t.s2, ['8090:8000']));
    // The documented form: DNAT already happened in forward, so match the port the client
    // used with `ct original proto-dst` (or the container address and port).
    t.nft.run(`add rule inet switchyard user ip saddr ${EXT} meta l4proto tcp ct original proto-dst 8080 drop`);
    assert.equal(connect(t.ext, HOST, 8080), null);
    assert.equal(connect(t.ext, HOST, 8090), EXT, 'other published ports are untouched');
    assert.equal(connect(t.s3.ns, HOST, 8080), '10.93.1.1', 'other clients still reach 8080');
    // The user rule survives publishing and unpublishing more ports.
    t.ports.unpublish(t.s2.id, t.ports.publish(request(t.s2, ['8091:8000'])));
    assert.match(t.nft.list('chain inet switchyard user'), /ct original proto-dst 8080 drop/);
  });
});

test('ICC off: the network still reaches a published port through the host address, not directly', async () => {
  await withTopology((t) => {
    t.fw.ensureNetwork({ ...t.nets[0]!, icc: false });
    t.ports.publish(request(t.s1, ['8080:8000']));
    assert.equal(connect(t.s2.ns, t.s1.v4, TCP), null);
    assert.equal(connect(t.s2.ns, HOST, 8080), t.s2.v4);
    assert.equal(connect(t.s1.ns, HOST, 8080), '10.93.1.1');
  });
});

test('--firewall=false: host ports are reserved, no element and no sysctl, nothing answers', async () => {
  await withTopology((t) => {
    const out = t.ports.publish(request(t.s1, ['8080:8000']));
    assert.equal(out.length, 2);
    assert.equal(hostCanBind(t, 8080), false);
    assert.equal(inNs(t.host.name, 'nft', ['list', 'ruleset']).stdout.trim(), '');
    assert.equal(inNs(t.host.name, 'sysctl', ['-n', 'net.ipv4.conf.sybrA.route_localnet']).stdout.trim(), '0');
    assert.equal(connect(t.ext, HOST, 8080), null);
    t.ports.unpublish(t.s1.id, out);
    assert.equal(hostCanBind(t, 8080), true);
  }, { enabled: false });
});

test('hostSockets=false (CNI attachments, whose runtime binds the host port): DNAT without a socket, conflicts still refused, restore too', async () => {
  await withTopology(async (t) => {
    const out = t.ports.publish(request(t.s1, ['8181:8000'], { hostSockets: false }));
    assert.equal(hostCanBind(t, 8181), true, 'no socket of ours holds the port (the runtime may bind it)');
    assert.equal(connect(t.ext, HOST, 8181), EXT, 'the DNAT answers from outside');
    // Control: the same mapping with sockets holds the port.
    const held = t.ports.publish(request(t.s2, ['8282:8000']));
    assert.equal(hostCanBind(t, 8282), false, 'control: a default publish binds the host port');
    // Switchyard's own books still refuse the port to another sandbox, with or without sockets.
    assert.throws(() => t.ports.publish(request(t.s2, ['8181:8000'])), (e: unknown) => e instanceof SwitchyardError && e.code === 'PORT_ALLOCATED');
    assert.throws(() => t.ports.publish(request(t.s2, ['8181:8000'], { hostSockets: false })), (e: unknown) => e instanceof SwitchyardError && e.code === 'PORT_ALLOCATED');
    // restore (a daemon restart) keeps it socket-less.
    t.ports.restore(request(t.s1, ['8181:8000'], { hostSockets: false }), out);
    assert.equal(hostCanBind(t, 8181), true);
    assert.equal(connect(t.ext, HOST, 8181), EXT);
    t.ports.unpublish(t.s1.id, out);
    t.ports.unpublish(t.s2.id, held);
    assert.equal(connect(t.ext, HOST, 8181), null, 'unpublished: nothing answers');
  });
});
