/**
 * The firewall service against the real kernel, with real TCP traffic. Needs root.
 *
 * Topology, rebuilt for every test (all namespaces throwaway, the machine's own untouched):
 *
 *   sandbox s1 10.91.1.2 ─┐                       ┌─ uplink syup0 10.92.0.1 ── ext 10.92.0.2
 *   sandbox s2 10.91.1.3 ─┴ sybrA 10.91.1.1 ┐     │  (ip_forward=1 in host only)
 *   sandbox s3 10.91.2.2 ── sybrB 10.91.2.1 ┼ host┘
 *   sandbox s4 10.91.3.2 ── sybrC 10.91.3.1 ┘
 *
 * plus fd91:N::/64 and fd92::/64 for IPv6. Every sandbox and ext run a socat server that
 * answers with the peer address it sees. `ext` has no route back to the sandbox subnets
 * unless a test adds one, so a sandbox reaching ext proves masquerade.
 *
 * There is no ping binary on the test machines; reachability is a TCP connect (socat),
 * which is real traffic through the same forward and NAT hooks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { Firewall, type FirewallNetwork } from '../../src/services/firewall/firewall.js';
import { NoFirewall } from '../../src/services/firewall/no-firewall.js';
import { NETNS_DIR, assertNoLeaks, inNs, removeNs, waitFor, type TestNs } from '../helpers/netns.js';
import { Lab, connect as labConnect, ip } from '../helpers/lab.js';

const PORT = 8000;
const lab = new Lab({ v4: '10.91', v6: 'fd91' });
const { created, live } = lab;

before(async () => {
  // Nft.open enters the host netns briefly: start libuv's threads before the first setns.
  await warmThreadpool();
});

after(() => {
  assertNoLeaks(created);
});

interface Sandbox {
  ns: TestNs;
  v4: string;
  v6: string;
}

interface Topology {
  host: TestNs;
  ext: TestNs;
  s1: Sandbox;
  s2: Sandbox;
  s3: Sandbox;
  s4: Sandbox;
  nets: { a: FirewallNetwork; b: FirewallNetwork; c: FirewallNetwork };
  nft: Nft;
  fw: Firewall;
}





const servers: ChildProcess[] = [];

/** Connects from `from` to addr:port; the peer address the server saw, or null when unreachable. */
const connect = (from: TestNs, addr: string, port = PORT): string | null => labConnect(from, addr, port);

/** A TCP server on [::]:PORT (IPv4 too) that writes the peer address of each connection. */
async function startServer(ns: TestNs): Promise<void> {
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${ns.name}`, '--', 'socat',
    `TCP6-LISTEN:${PORT},ipv6only=0,reuseaddr,fork`, 'SYSTEM:echo $SOCAT_PEERADDR'], { stdio: 'ignore' });
  servers.push(child);
  await waitFor(() => inNs(ns.name, 'ss', ['-Hltn', `sport = :${PORT}`]).stdout.includes(`${PORT}`), `socat listening in ${ns.name}`);
}

function stopServers(): void {
  for (const child of servers.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
  }
}



/** Builds the topology, runs body, then tears everything down (Nft first: its socket pins the netns). */
async function withTopology(body: (t: Topology) => Promise<void> | void, opts: { enabled?: boolean } = {}): Promise<void> {
  let nft: Nft | undefined;
  try {
    const host = lab.ns('fwh');
    const ext = lab.ns('fwx');
    inNs(host.name, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const a = lab.bridge(host, 'sybrA', 1);
    const b = lab.bridge(host, 'sybrB', 2);
    const c = lab.bridge(host, 'sybrC', 3);
    const s1 = lab.sandbox(host, 's1', 'sybrA', 1, 2);
    const s2 = lab.sandbox(host, 's2', 'sybrA', 1, 3);
    const s3 = lab.sandbox(host, 's3', 'sybrB', 2, 2);
    const s4 = lab.sandbox(host, 's4', 'sybrC', 3, 2);
    ip(host, 'link', 'add', 'syup0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext.name);
    ip(host, 'addr', 'add', '10.92.0.1/24', 'dev', 'syup0');
    ip(host, 'addr', 'add', 'fd92::1/64', 'dev', 'syup0', 'nodad');
    ip(host, 'link', 'set', 'syup0', 'up');
    ip(ext, 'addr', 'add', '10.92.0.2/24', 'dev', 'eth0');
    ip(ext, 'addr', 'add', 'fd92::2/64', 'dev', 'eth0', 'nodad');
    ip(ext, 'link', 'set', 'eth0', 'up');
    await Promise.all([ext, s1.ns, s2.ns, s3.ns, s4.ns].map(startServer));
    // Ready when the host reaches every server over both families (this also fills its
    // neighbour cache, so later connects answer in milliseconds or not at all).
    for (const target of ['10.92.0.2', 'fd92::2', s1.v4, s1.v6, s2.v4, s2.v6, s3.v4, s3.v6, s4.v4, s4.v6]) {
      await waitFor(() => connect(host, target) !== null, `host reaches ${target}`);
    }
    nft = Nft.open(host.path);
    const fw = new Firewall(nft);
    await body({ host, ext, s1, s2, s3, s4, nets: { a, b, c }, nft, fw });
  } finally {
    stopServers();
    nft?.close();
    live.splice(0).forEach(removeNs);
  }
}

/** ext learns a route back to the sandbox subnets (so only the firewall stands in the way). */
function routeBack(t: Topology): void {
  ip(t.ext, 'route', 'add', '10.91.0.0/16', 'via', '10.92.0.1');
  ip(t.ext, '-6', 'route', 'add', 'fd91::/16', 'via', 'fd92::1');
}

function ensureAll(t: Topology): void {
  t.fw.ensureBase();
  t.fw.ensureNetwork(t.nets.a);
  t.fw.ensureNetwork(t.nets.b);
  t.fw.ensureNetwork(t.nets.c);
}

test('ICC: same-bridge traffic flows with icc on and is dropped with icc off (IPv4 and IPv6)', async () => {
  await withTopology((t) => {
    ensureAll(t);
    assert.equal(connect(t.s1.ns, t.s2.v4), t.s1.v4);
    assert.equal(connect(t.s1.ns, t.s2.v6), t.s1.v6);
    t.fw.ensureNetwork({ ...t.nets.a, icc: false });
    assert.equal(connect(t.s1.ns, t.s2.v4), null);
    assert.equal(connect(t.s2.ns, t.s1.v6), null);
    // Back on: ensureNetwork is an update, not only a create.
    t.fw.ensureNetwork(t.nets.a);
    assert.equal(connect(t.s2.ns, t.s1.v4), t.s2.v4);
  });
});

test('isolation: no traffic between two Switchyard bridges, either direction', async () => {
  await withTopology((t) => {
    // Without the firewall the host routes between the bridges: the test can fail.
    assert.equal(connect(t.s1.ns, t.s3.v4), t.s1.v4);
    assert.equal(connect(t.s3.ns, t.s1.v6), t.s3.v6);
    ensureAll(t);
    assert.equal(connect(t.s1.ns, t.s3.v4), null);
    assert.equal(connect(t.s3.ns, t.s1.v4), null);
    assert.equal(connect(t.s1.ns, t.s3.v6), null);
    assert.equal(connect(t.s3.ns, t.s1.v6), null);
  });
});

test('masquerade: a normal network reaches ext as the host address; an internal one cannot get out', async () => {
  await withTopology((t) => {
    ensureAll(t);
    assert.equal(connect(t.s1.ns, '10.92.0.2'), '10.92.0.1', 'ext must see the host uplink address');
    assert.equal(connect(t.s1.ns, 'fd92::2'), 'fd92::1');
    assert.equal(connect(t.s4.ns, '10.92.0.2'), '10.92.0.1', 'sybrC is not internal yet');
    t.fw.ensureNetwork({ ...t.nets.c, internal: true });
    assert.equal(connect(t.s4.ns, '10.92.0.2'), null);
    assert.equal(connect(t.s4.ns, 'fd92::2'), null);
    // Even with a route back, ext cannot get in.
    routeBack(t);
    assert.equal(connect(t.ext, t.s4.v4), null);
    // masquerade=false: ext now sees the sandbox's own address (it has a route back).
    t.fw.ensureNetwork({ ...t.nets.a, masquerade: false });
    assert.equal(connect(t.s1.ns, '10.92.0.2'), t.s1.v4);
  });
});

test('unpublished sandboxes are unreachable from outside, IPv6 included; a published4/6 element opens one port', async () => {
  await withTopology((t) => {
    routeBack(t);
    assert.equal(connect(t.ext, t.s1.v4), '10.92.0.2', 'reachable before the firewall: the test can fail');
    assert.equal(connect(t.ext, t.s1.v6), 'fd92::2');
    ensureAll(t);
    assert.equal(connect(t.ext, t.s1.v4), null);
    assert.equal(connect(t.ext, t.s1.v6), null);
    // Issue 3's path, element-only: allow the container port in the forward filter.
    t.nft.run(`add element inet switchyard published4 { ${t.s1.v4} . tcp . ${PORT} }`);
    t.nft.run(`add element inet switchyard published6 { ${t.s1.v6} . tcp . ${PORT} }`);
    // security (direct routing, Docker 28's raw rule): on a masquerading network even the
    // published container port is not reached by routing straight to the sandbox.
    assert.equal(connect(t.ext, t.s1.v4), null, 'routed straight to a published container port');
    assert.equal(connect(t.ext, t.s1.v6), null, 'routed straight to a published container port (IPv6)');
    // security: the DIRECT ROUTING rule is in forward, where a packet without conntrack state
    // has no direction; an admin's notrack (both ways, in a table of its own) must not open the
    // way. Control: without the rule for untracked packets the same connection gets through.
    inNs(t.host.name, 'nft', ['-f', '-'], { input: `table ip swy-notrack { chain raw { type filter hook prerouting priority -350; policy accept; ip saddr 10.92.0.2 ip daddr ${t.s1.v4} notrack; ip saddr ${t.s1.v4} ip daddr 10.92.0.2 notrack; }; }\n` });
    try {
      assert.equal(connect(t.ext, t.s1.v4), null, 'untracked, routed straight to a published container port');
      const handle = /ct state invalid,untracked drop comment "DIRECT ROUTING" # handle (\d+)/.exec(inNs(t.host.name, 'nft', ['-a', 'list', 'chain', 'inet', 'switchyard', 'forward']).stdout)![1]!;
      inNs(t.host.name, 'nft', ['delete', 'rule', 'inet', 'switchyard', 'forward', 'handle', handle]);
      assert.equal(connect(t.ext, t.s1.v4), '10.92.0.2', 'control: without the untracked rule it gets through');
      t.fw.ensureBase();
      assert.equal(connect(t.ext, t.s1.v4), null, 'dropped again once the rule is back');
    } finally {
      inNs(t.host.name, 'nft', ['delete', 'table', 'ip', 'swy-notrack'], { allowFail: true });
    }
    // Control: a routed network (masquerade off) is left to the forward filter, which lets
    // exactly the published element through.
    t.fw.ensureNetwork({ ...t.nets.a, masquerade: false });
    assert.equal(connect(t.ext, t.s1.v4), '10.92.0.2');
    assert.equal(connect(t.ext, t.s1.v6), 'fd92::2');
    assert.equal(connect(t.ext, t.s2.v4), null, 'only the published address and port');
    // Isolation still holds for a published port: another Switchyard bridge is not "outside".
    assert.equal(connect(t.s3.ns, t.s1.v4), null);
    assert.equal(connect(t.s3.ns, t.s1.v6), null);
    // Masquerading again: direct routing is dropped again.
    t.fw.ensureNetwork(t.nets.a);
    assert.equal(connect(t.ext, t.s1.v4), null);
  });
});

test('prepared DNAT maps: one element in dnat4-any/dnat6-any publishes a host port', async () => {
  await withTopology((t) => {
    ensureAll(t);
    t.nft.run([
      `add element inet switchyard dnat4-any { tcp . 8080 : ${t.s1.v4} . ${PORT} }`,
      `add element inet switchyard dnat6-any { tcp . 8080 : ${t.s1.v6} . ${PORT} }`,
      `add element inet switchyard dnat4 { 10.92.0.1 . tcp . 8081 : ${t.s2.v4} . ${PORT} }`,
      `add element inet switchyard published4 { ${t.s1.v4} . tcp . ${PORT}, ${t.s2.v4} . tcp . ${PORT} }`,
      `add element inet switchyard published6 { ${t.s1.v6} . tcp . ${PORT} }`,
    ].join('\n'));
    // ext has no route to the sandboxes: only DNAT on the host address gets it there,
    // and the client address is preserved.
    assert.equal(connect(t.ext, '10.92.0.1', 8080), '10.92.0.2');
    assert.equal(connect(t.ext, 'fd92::1', 8080), 'fd92::2');
    assert.equal(connect(t.ext, '10.92.0.1', 8081), '10.92.0.2');
    t.nft.run(`delete element inet switchyard dnat4-any { tcp . 8080 }`);
    assert.equal(connect(t.ext, '10.92.0.1', 8080), null);
  });
});

test('user chain: an admin rule takes effect first and survives ensureNetwork, deleteNetwork, ensureBase and reload', async () => {
  await withTopology((t) => {
    ensureAll(t);
    t.nft.run(`add rule inet switchyard user ip saddr ${t.s1.v4} drop comment "admin"`);
    assert.equal(connect(t.s1.ns, '10.92.0.2'), null);
    assert.equal(connect(t.s2.ns, '10.92.0.2'), '10.92.0.1');
    t.fw.ensureNetwork({ ...t.nets.a, icc: false });
    t.fw.deleteNetwork(t.nets.b.bridge);
    t.fw.ensureBase();
    t.fw.reload([t.nets.a, t.nets.c]);
    assert.match(t.nft.list('chain inet switchyard user'), /ip saddr 10\.91\.1\.2 drop comment "admin"/);
    assert.equal(connect(t.s1.ns, '10.92.0.2'), null);
    assert.equal(connect(t.s2.ns, '10.92.0.2'), '10.92.0.1');
  });
});

test('reload after the table is deleted from outside restores isolation and masquerade, sandboxes untouched', async () => {
  await withTopology((t) => {
    ensureAll(t);
    const published = `add element inet switchyard published4 { ${t.s3.v4} . tcp . ${PORT} }`;
    t.nft.run(published);
    const sandboxState = (): string => inNs(t.s1.ns.name, 'ip', ['-o', 'addr']).stdout + inNs(t.s1.ns.name, 'ip', ['route']).stdout;
    const before = sandboxState();
    inNs(t.host.name, 'nft', ['delete', 'table', 'inet', 'switchyard']);
    assert.equal(t.fw.present(), false);
    assert.equal(connect(t.s1.ns, t.s3.v4), t.s1.v4, 'isolation is gone with the table');
    assert.equal(connect(t.s1.ns, '10.92.0.2'), null, 'masquerade is gone with the table');
    t.fw.reload([t.nets.a, t.nets.b, t.nets.c]);
    assert.equal(t.fw.present(), true);
    assert.equal(connect(t.s1.ns, t.s3.v4), null);
    assert.equal(connect(t.s1.ns, '10.92.0.2'), '10.92.0.1');
    // Same after `nft flush ruleset`, and a stale network is removed by reload.
    inNs(t.host.name, 'nft', ['flush', 'ruleset']);
    t.fw.reload([t.nets.a, t.nets.b]);
    assert.deepEqual([...t.fw.observedBridges()].sort(), ['sybrA', 'sybrB']);
    t.fw.reload([t.nets.a]);
    assert.deepEqual([...t.fw.observedBridges()].sort(), ['sybrA']);
    assert.equal(connect(t.s1.ns, '10.92.0.2'), '10.92.0.1');
    assert.equal(sandboxState(), before);
  });
});

test('deleteNetwork removes every trace and is idempotent; ensure is idempotent', async () => {
  await withTopology((t) => {
    ensureAll(t);
    const once = t.nft.list('table inet switchyard');
    ensureAll(t);
    assert.equal(t.nft.list('table inet switchyard'), once, 'ensuring twice changes nothing');
    t.fw.deleteNetwork('sybrA');
    t.fw.deleteNetwork('sybrA');
    t.fw.deleteNetwork('sybrNope');
    assert.doesNotMatch(t.nft.list('table inet switchyard'), /sybrA/);
    inNs(t.host.name, 'nft', ['delete', 'table', 'inet', 'switchyard']);
    t.fw.deleteNetwork('sybrB'); // no table: success
    assert.equal(t.fw.present(), false);
    // ensureNetwork after an outside delete recreates the base with that network.
    t.fw.ensureNetwork(t.nets.a);
    assert.deepEqual([...t.fw.observedBridges()], ['sybrA']);
  });
});

test('--firewall=false: nothing is touched, the host ruleset stays empty', async () => {
  await withTopology((t) => {
    // The daemon picks NoFirewall: it has no nftables handle at all.
    const fw = new NoFirewall();
    fw.ensureBase();
    fw.ensureNetwork(t.nets.a);
    fw.reload([t.nets.a, t.nets.b]);
    fw.deleteNetwork('sybrA');
    assert.equal(fw.complete(), true, 'nothing to restore');
    assert.equal(inNs(t.host.name, 'nft', ['list', 'ruleset']).stdout.trim(), '');
    // And traffic is whatever the kernel does without us: cross-bridge is routed.
    assert.equal(connect(t.s1.ns, t.s3.v4), t.s1.v4);
  }, { enabled: false });
});

test('Switchyard never touches another table in the namespace', async () => {
  await withTopology((t) => {
    inNs(t.host.name, 'nft', ['add table ip other; add chain ip other c { type filter hook forward priority 10; }; add rule ip other c counter']);
    const other = inNs(t.host.name, 'nft', ['list', 'table', 'ip', 'other']).stdout;
    ensureAll(t);
    t.fw.reload([t.nets.a]);
    t.fw.deleteNetwork('sybrA');
    inNs(t.host.name, 'nft', ['delete', 'table', 'inet', 'switchyard']);
    t.fw.reload([t.nets.b]);
    assert.equal(inNs(t.host.name, 'nft', ['list', 'table', 'ip', 'other']).stdout.replace(/packets \d+ bytes \d+/, ''), other.replace(/packets \d+ bytes \d+/, ''));
  });
});
