/**
 * The routed driver against the real kernel (docs/drivers/routed.md): three host
 * namespaces on one underlay segment (flannel's host-gw case), a routed network made with
 * the driver on each, sandboxes, and the other hosts' blocks fed by hand
 * (syncRemoteBlocks, as the cluster layer will). Traffic in both families; a capture on the
 * underlay shows the sandboxes' own addresses and no encapsulation; isolation between two
 * routed networks and of an internal one, and anti-spoofing, each with a control run
 * without the protection. Needs root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/routed.js';
import { SwitchyardError } from '../../src/errors.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { assertNoLeaks, inNs, linksIn, makeNs, removeNs, type TestNs } from '../helpers/netns.js';
import { driverConformance } from '../helpers/driver-conformance.js';
import { kernelFixtureParts } from '../helpers/driver-kernel-fixture.js';
import { capture, ping, routedEndpoint, routedNetwork, RoutedLab, type LabHost } from '../helpers/routed-lab.js';

before(async () => {
  await warmThreadpool();
});

const NET_A = 'a1'.repeat(32);
const NET_B = 'b2'.repeat(32);
const NET_C = 'c3'.repeat(32);

interface World {
  lab: RoutedLab;
  h: LabHost[];
  a: NetworkRecord;
  b: NetworkRecord;
  c: NetworkRecord;
  /** Sandboxes of A on hosts 1..3, of B on hosts 1..2, of C (internal) on host 1. */
  sa: { ns: TestNs; ep: EndpointRecord }[];
  sb: { ns: TestNs; ep: EndpointRecord }[];
  sc: { ns: TestNs; ep: EndpointRecord };
}

/** Host n (1-based): underlay 10.99.0.n / fd99::n; block n-1 of each network. */
function block4(base: string, n: number): string {
  return `${base}.${(n - 1) * 64}/26`;
}

let world: World | undefined;

function join(lab: RoutedLab, host: LabHost, net: NetworkRecord, ep: EndpointRecord, gateway = true): { ns: TestNs; ep: EndpointRecord } {
  const ns = lab.ns('rts');
  host.run(() => host.driver.join(net, ep, { id: ep.sandboxId, nsPath: ns.path }, { gateway }));
  return { ns, ep };
}

function build(): World {
  const lab = new RoutedLab();
  const seg = lab.segment('rtu');
  const h = [1, 2, 3].map((n) => {
    const host = lab.host('rth');
    lab.plug(host.ns, seg, 'sywan0', [`10.99.0.${n}/24`, `fd99::${n}/64`]);
    return host;
  });
  const a = routedNetwork(NET_A, ['10.20.0.0/16', 'fd20::/64'], { name: 'rta' });
  const b = routedNetwork(NET_B, ['10.30.0.0/16'], { name: 'rtb' });
  const c = routedNetwork(NET_C, ['10.40.0.0/16'], { name: 'rtc', internal: true });
  for (const host of h) for (const net of [a, b, c]) host.run(() => host.driver.ensureNetwork(net));
  // Host n holds block n-1 of A (v4 and v6: /26 and /122) and of B.
  const v6 = (n: number) => `fd20::${((n - 1) * 64).toString(16)}/122`;
  const sa = [1, 2, 3].map((n) => join(lab, h[n - 1]!, a, routedEndpoint(a, `10.20.0.${(n - 1) * 64 + 2}`, `fd20::${((n - 1) * 64 + 2).toString(16)}`)));
  const sb = [1, 2].map((n) => join(lab, h[n - 1]!, b, routedEndpoint(b, `10.30.0.${(n - 1) * 64 + 2}`)));
  const sc = join(lab, h[0]!, c, routedEndpoint(c, '10.40.0.2'));
  for (let n = 1; n <= 3; n++) {
    const others = [1, 2, 3].filter((m) => m !== n);
    h[n - 1]!.run(() => {
      h[n - 1]!.driver.syncRemoteBlocks(a, others.flatMap((m) => [
        { nodeId: `node${m}`, nodeAddress: `10.99.0.${m}`, cidr: block4('10.20.0', m) },
        { nodeId: `node${m}`, nodeAddress: `fd99::${m}`, cidr: v6(m) },
      ]));
      h[n - 1]!.driver.syncRemoteBlocks(b, others.filter((m) => m <= 2).map((m) => ({ nodeId: `node${m}`, nodeAddress: `10.99.0.${m}`, cidr: block4('10.30.0', m) })));
    });
  }
  return { lab, h, a, b, c, sa, sb, sc };
}

function getWorld(): World {
  world ??= build();
  return world;
}

after(async () => {
  if (!world) return;
  const names = world.lab.names();
  await world.lab.destroy();
  assertNoLeaks(names);
});

/** The firewall rebuilt from the records of everything on host x (as the daemon's reload does). */
function reload(x: LabHost): void {
  const w = getWorld();
  const eps = [...w.sa, ...w.sb, w.sc].filter((s) => x.rtnl.getLink(s.ep.hostLink!)).map((s) => s.ep);
  x.run(() => x.driver.reloadFirewall([w.a, w.b, w.c], eps));
}

const addr = (ep: EndpointRecord, family: 4 | 6 = 4): string => (family === 4 ? ep.ipv4! : ep.ipv6!).split('/')[0]!;

test('routed, one segment: sandboxes on three hosts reach each other in both families through plain routes', () => {
  const { sa, h } = getWorld();
  for (const [i, j] of [[0, 1], [1, 2], [2, 0], [0, 2]] as const) {
    assert.ok(ping(sa[i]!.ns.name, addr(sa[j]!.ep)), `A${i + 1} → A${j + 1} (v4)`);
    assert.ok(ping(sa[i]!.ns.name, addr(sa[j]!.ep, 6)), `A${i + 1} → A${j + 1} (v6)`);
  }
  // The sandbox's view: its address alone, a link-local gateway.
  const s = sa[0]!.ns.name;
  assert.match(inNs(s, 'ip', ['-o', 'addr', 'show', 'eth0']).stdout, /inet 10\.20\.0\.2\/32/);
  assert.match(inNs(s, 'ip', ['-o', 'addr', 'show', 'eth0']).stdout, /inet6 fd20::2\/128/);
  assert.match(inNs(s, 'ip', ['route', 'show', 'default']).stdout, /default via 169\.254\.1\.1 dev eth0/);
  assert.match(inNs(s, 'ip', ['-6', 'route', 'show', 'default']).stdout, /default via fe80::1 dev eth0/);
  // The host's view: a route per remote block (not per endpoint), marked as ours.
  const routes = inNs(h[0]!.ns.name, 'ip', ['route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout;
  assert.match(routes, /10\.20\.0\.64\/26 via 10\.99\.0\.2/);
  assert.match(routes, /10\.20\.0\.128\/26 via 10\.99\.0\.3/);
  assert.match(routes, /10\.20\.0\.2 dev syr/);
  const routes6 = inNs(h[0]!.ns.name, 'ip', ['-6', 'route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout;
  assert.match(routes6, /fd20::40\/122 via fd99::2/);
});

test('routed: packets between hosts carry the sandboxes\' own addresses on the underlay, unencapsulated, at full MTU', async () => {
  const { sa, h } = getWorld();
  const { frames } = await capture(h[1]!.ns.name, 'sywan0', 3);
  assert.ok(ping(sa[0]!.ns.name, addr(sa[1]!.ep), ['-s', '1472', '-M', 'do']), 'A1 → A2 with a 1500-byte packet, DF set (v4)');
  assert.ok(ping(sa[0]!.ns.name, addr(sa[1]!.ep, 6), ['-s', '1452', '-M', 'do']), 'A1 → A2 with a 1500-byte packet (v6)');
  const seen = await frames;
  const v4 = seen.filter((f) => f.src === addr(sa[0]!.ep) && f.dst === addr(sa[1]!.ep));
  const v6 = seen.filter((f) => f.src === addr(sa[0]!.ep, 6) && f.dst === addr(sa[1]!.ep, 6));
  assert.ok(v4.length >= 1 && v4.every((f) => f.ethertype === 0x0800 && f.proto === 1), `ICMP with the sandboxes' IPv4 addresses in the outer header (${v4.length} of ${JSON.stringify(seen.filter((f) => f.ethertype === 0x0800).slice(0, 4))})`);
  assert.ok(v4.some((f) => f.len === 1514), 'a full 1500-byte IPv4 packet crossed the underlay');
  assert.ok(v6.length >= 1 && v6.every((f) => f.ethertype === 0x86dd && f.proto === 58), `ICMPv6 with the sandboxes' IPv6 addresses (${v6.length})`);
  const encapsulated = seen.filter((f) => f.proto === 4 || f.proto === 41 || f.proto === 47 || f.proto === 50 || (f.proto === 17 && [4789, 8472, 6081, 51820].includes(f.dport ?? 0)));
  assert.deepEqual(encapsulated, [], 'no IP-in-IP, GRE, ESP, VXLAN, Geneve or WireGuard frame on the underlay');
});

test('routed isolation: another routed network\'s routes open no path (control: the same probe without the rules gets through)', () => {
  const { sa, sb, h } = getWorld();
  assert.ok(ping(sb[0]!.ns.name, addr(sb[1]!.ep)), 'B1 → B2: own network across hosts');
  assert.ok(!ping(sb[0]!.ns.name, addr(sa[1]!.ep)), 'B1 ↛ A2 (host 1 routes A\'s block of host 2)');
  assert.ok(!ping(sb[0]!.ns.name, addr(sa[0]!.ep)), 'B1 ↛ A1 on the same host');
  assert.ok(!ping(sa[1]!.ns.name, addr(sb[0]!.ep)), 'A2 ↛ B1');
  // Control: without the forward rules on both hosts the very same probes get through.
  for (const x of [h[0]!, h[1]!]) inNs(x.ns.name, 'nft', ['flush', 'chain', 'inet', 'switchyard-routed', 'forward']);
  try {
    assert.ok(ping(sb[0]!.ns.name, addr(sa[1]!.ep)), 'control: B1 → A2 without the rules');
    assert.ok(ping(sb[0]!.ns.name, addr(sa[0]!.ep)), 'control: B1 → A1 without the rules');
  } finally {
    for (const x of h) reload(x);
  }
  assert.ok(!ping(sb[0]!.ns.name, addr(sa[1]!.ep)), 'rules back: B1 ↛ A2 again');
});

test('routed egress: a network reaches the underlay masqueraded; an internal one does not (control: the same probe from a non-internal network)', async () => {
  const { sa, sc, h } = getWorld();
  assert.match(inNs(sc.ns.name, 'ip', ['route']).stdout, /10\.40\.0\.0\/16 via 169\.254\.1\.1/);
  assert.doesNotMatch(inNs(sc.ns.name, 'ip', ['route']).stdout, /default/, 'an internal network\'s sandbox has no default route');
  const { frames } = await capture(h[1]!.ns.name, 'sywan0', 2);
  assert.ok(ping(sa[0]!.ns.name, '10.99.0.2'), 'control: A1 → host 2\'s underlay address');
  const seen = await frames;
  assert.ok(seen.some((f) => f.src === '10.99.0.1' && f.dst === '10.99.0.2' && f.proto === 1), 'masqueraded to host 1\'s address');
  assert.ok(!seen.some((f) => f.src === addr(sa[0]!.ep) && f.dst === '10.99.0.2'), 'not with the sandbox\'s address');
  // The internal sandbox, given a default route by hand (as a sandbox with CAP_NET_ADMIN can), is still stopped at its host.
  inNs(sc.ns.name, 'ip', ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
  assert.ok(!ping(sc.ns.name, '10.99.0.2'), 'internal C1 ↛ the underlay');
});

test('routed anti-spoofing: a sandbox sends only from its own address (control: without the check the spoofed packets arrive)', () => {
  const { sa, h } = getWorld();
  const s1 = sa[0]!.ns.name;
  const s2 = sa[1]!.ns.name;
  // The spoofed sources: an address of host 1's own block that no sandbox holds, and A3's (another host's block).
  inNs(s1, 'ip', ['addr', 'add', '10.20.0.9/32', 'dev', 'eth0']);
  inNs(s1, 'ip', ['addr', 'add', 'fd20::9/128', 'dev', 'eth0', 'nodad']);
  inNs(s2, 'nft', ['-f', '-'], {
    input: [
      'table inet swy-probe {',
      '  chain in { type filter hook input priority 0; policy accept;',
      '    ip saddr { 10.20.0.9, 10.20.0.130 } icmp type echo-request counter',
      '    ip6 saddr fd20::9 icmpv6 type echo-request counter',
      '  }',
      '}',
    ].join('\n'),
  });
  const arrived = (): number[] => [...inNs(s2, 'nft', ['list', 'chain', 'inet', 'swy-probe', 'in']).stdout.matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
  const probe = () => {
    ping(s1, addr(sa[1]!.ep), ['-I', '10.20.0.9', '-c', '2']);
    ping(s1, addr(sa[1]!.ep, 6), ['-I', 'fd20::9', '-c', '2']);
    // A raw packet with A3's source address (ping -I refuses an address the sandbox does not hold).
    inNs(s1, 'ip', ['addr', 'add', '10.20.0.130/32', 'dev', 'eth0']);
    ping(s1, addr(sa[1]!.ep), ['-I', '10.20.0.130', '-c', '2']);
    inNs(s1, 'ip', ['addr', 'del', '10.20.0.130/32', 'dev', 'eth0']);
  };
  probe();
  assert.deepEqual(arrived(), [0, 0], 'no spoofed packet reached A2');
  assert.match(inNs(h[0]!.ns.name, 'nft', ['list', 'chain', 'inet', 'switchyard-routed', 'check-source']).stdout, /packets [1-9]\d* bytes \d+ drop comment "ROUTED SPOOF"/);
  assert.ok(ping(s1, addr(sa[1]!.ep)), 'the own address still works');
  // Control: without the source check on host 1, the same packets arrive.
  inNs(h[0]!.ns.name, 'nft', ['flush', 'chain', 'inet', 'switchyard-routed', 'check-source']);
  try {
    probe();
    const [v4, v6] = arrived();
    assert.ok(v4! > 0 && v6! > 0, `control: spoofed packets arrive without the check (${v4}, ${v6})`);
  } finally {
    reload(h[0]!);
    inNs(s1, 'ip', ['addr', 'del', '10.20.0.9/32', 'dev', 'eth0']);
    inNs(s1, 'ip', ['addr', 'del', 'fd20::9/128', 'dev', 'eth0']);
    inNs(s2, 'nft', ['delete', 'table', 'inet', 'swy-probe']);
  }
  assert.ok(ping(s1, addr(sa[1]!.ep)), 'after the reload the sandbox still reaches A2');
});

test('routed held ports (an attach whose txn is in flight): whole but passing nothing, no host route, not present, until release; a held port left is removed by leave', async () => {
  const { lab, sa, h, a } = getWorld();
  const h2 = h[1]!;
  const ep = routedEndpoint(a, '10.20.0.70', 'fd20::46');
  const ns = lab.ns('rts');
  const sbNs = { id: ep.sandboxId, nsPath: ns.path };
  h2.run(() => h2.driver.join(a, ep, sbNs, { gateway: true, held: true }));
  assert.match(inNs(ns.name, 'ip', ['-o', 'addr', 'show', 'eth0']).stdout, /inet 10\.20\.0\.70\/32/, 'the held port has its address');
  assert.doesNotMatch(inNs(h2.ns.name, 'ip', ['-o', 'link', 'show', ep.hostLink!]).stdout, /[<,]UP[,>]/, 'its host end is down');
  assert.doesNotMatch(inNs(h2.ns.name, 'ip', ['route']).stdout, /10\.20\.0\.70 dev/, 'and has no host route yet');
  assert.ok(!h2.run(() => h2.driver.endpointPresent(a, ep, sbNs)), 'held: not present');
  assert.ok(!ping(sa[1]!.ns.name, '10.20.0.70'), 'nothing reaches it from the same host');
  assert.ok(!ping(sa[0]!.ns.name, '10.20.0.70'), 'nor from another host');
  assert.ok(!ping(ns.name, addr(sa[1]!.ep)), 'nothing leaves it');
  h2.run(() => h2.driver.release!(a, ep, sbNs));
  assert.ok(ping(sa[1]!.ns.name, '10.20.0.70'), 'released: reached from the same host');
  assert.ok(ping(sa[0]!.ns.name, '10.20.0.70'), 'and from another host (v4)');
  assert.ok(ping(sa[0]!.ns.name, 'fd20::46'), 'and from another host (v6)');
  assert.ok(ping(ns.name, addr(sa[0]!.ep)), 'and it reaches another host');
  assert.ok(h2.run(() => h2.driver.endpointPresent(a, ep, sbNs)), 'released: present');
  assert.throws(() => h2.run(() => h2.driver.release!(a, ep, sbNs)), (e: unknown) => e instanceof SwitchyardError && e.code === 'ENDPOINT_NOT_HELD');
  await h2.run(() => h2.driver.leave(a, ep, sbNs));
  // A held port whose commit failed: leave removes it (the engine's undo; reconcile's after a crash).
  h2.run(() => h2.driver.join(a, ep, sbNs, { gateway: true, held: true }));
  await h2.run(() => h2.driver.leave(a, ep, sbNs));
  assert.throws(() => h2.run(() => h2.driver.release!(a, ep, sbNs)), (e: unknown) => e instanceof SwitchyardError && e.code === 'ENDPOINT_LINK_MISSING');
  assert.ok(!linksIn(h2.ns.name).includes(ep.hostLink!), 'no host end left');
  assert.doesNotMatch(inNs(h2.ns.name, 'nft', ['list', 'set', 'inet', 'switchyard-routed', 'ports']).stdout, new RegExp(ep.hostLink!), 'nor its elements');
  assert.doesNotMatch(inNs(ns.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'nor its sandbox end');
});

test('routed: syncRemoteBlocks removes only our routes; leave and deleteNetwork leave nothing of the endpoint or the network', async () => {
  const { sa, h, a } = getWorld();
  const h1 = h[0]!;
  // A route an admin made into the same subnet (another origin) is not ours to remove.
  inNs(h1.ns.name, 'ip', ['route', 'add', '10.20.0.192/26', 'via', '10.99.0.3']);
  h1.run(() => h1.driver.syncRemoteBlocks(a, [{ nodeId: 'node2', nodeAddress: '10.99.0.2', cidr: '10.20.0.64/26' }]));
  const r = inNs(h1.ns.name, 'ip', ['route']).stdout;
  assert.match(r, /10\.20\.0\.64\/26 via 10\.99\.0\.2 dev sywan0 proto 83/);
  assert.doesNotMatch(r, /10\.20\.0\.128\/26/, 'host 3\'s block withdrawn');
  assert.match(r, /10\.20\.0\.192\/26 via 10\.99\.0\.3 dev sywan0 \n/, 'the admin\'s route (proto boot) stays');
  assert.doesNotMatch(inNs(h1.ns.name, 'ip', ['-6', 'route']).stdout, /fd20::(40|80)\/122/, 'IPv6 blocks withdrawn');
  assert.ok(!ping(sa[0]!.ns.name, addr(sa[2]!.ep)), 'A1 ↛ A3 once host 3\'s block is withdrawn');
  assert.throws(() => h1.run(() => h1.driver.syncRemoteBlocks(a, [{ nodeId: 'x', nodeAddress: '10.99.0.2', cidr: '10.50.0.0/26' }])), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_BLOCK');
  // Leave: the veth, its host route and its firewall elements go.
  const ep = sa[0]!.ep;
  await h1.run(() => h1.driver.leave(a, ep, { id: ep.sandboxId, nsPath: sa[0]!.ns.path }));
  await h1.run(() => h1.driver.leave(a, ep, { id: ep.sandboxId, nsPath: sa[0]!.ns.path }));
  assert.ok(!linksIn(h1.ns.name).includes(ep.hostLink!), 'host end gone');
  assert.doesNotMatch(inNs(h1.ns.name, 'nft', ['list', 'set', 'inet', 'switchyard-routed', 'ports']).stdout, new RegExp(ep.hostLink!));
  assert.doesNotMatch(inNs(h1.ns.name, 'ip', ['route']).stdout, /10\.20\.0\.2 dev/);
  await h1.run(() => h1.driver.deleteNetwork(a));
  await h1.run(() => h1.driver.deleteNetwork(a));
  assert.doesNotMatch(inNs(h1.ns.name, 'ip', ['route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout, /10\.20\./, 'no route of ours into A left');
  assert.doesNotMatch(inNs(h1.ns.name, 'nft', ['list', 'set', 'inet', 'switchyard-routed', 'routed4']).stdout, /10\.20\./);
});

test('routed options and blocks: bad block sizes and blocks larger than the subnet are refused, naming the option', async () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof SwitchyardError, String(err));
      return `${err.code}:${err.field ?? ''}`;
    }
    return 'accepted';
  };
  assert.equal(code(() => routedNetwork('d4'.repeat(32), ['10.60.0.0/16'], { options: { 'com.switchyard.routed.block_size': '31' } })), 'INVALID_OPTION:Options.com.switchyard.routed.block_size');
  assert.equal(code(() => routedNetwork('d4'.repeat(32), ['10.60.0.0/16'], { options: { bogus: '1' } })), 'UNKNOWN_OPTION:Options.bogus');
  const host = makeNs('rtr');
  const lab = new RoutedLab();
  try {
    const h = lab.host('rtq', { firewall: false });
    const small = routedNetwork('e5'.repeat(32), ['10.61.0.0/28'], { options: { 'com.switchyard.routed.block_size': '24' } });
    assert.equal(code(() => h.run(() => h.driver.ensureNetwork(small))), 'BLOCK_LARGER_THAN_SUBNET:Options.com.switchyard.routed.block_size');
  } finally {
    await lab.destroy();
    removeNs(host);
  }
  assertNoLeaks([host.name, ...lab.names()]);
});

// The driver conformance suite (test/helpers/driver-conformance.ts).
driverConformance('routed driver', async () => {
  const lab = new RoutedLab();
  const host = lab.host('rtc');
  const sandboxes: TestNs[] = [];
  const id = randomBytes(32).toString('hex');
  const net = routedNetwork(id, ['10.70.0.0/16', 'fd70::/64']);
  return {
    driver: host.driver,
    network: net,
    endpoint: (n) => routedEndpoint(net, `10.70.0.${n + 1}`, `fd70::${n + 1}`),
    ...kernelFixtureParts({ host: host.ns, rtnl: host.rtnl, tag: 'rtcs', sandboxes, join: (ep, sb) => host.driver.join(net, ep, sb, { gateway: false }) }),
    settle: async () => {},
    cleanup: async () => {
      for (const s of sandboxes) removeNs(s);
      const names = lab.names();
      await lab.destroy();
      assertNoLeaks([...names, ...sandboxes.map((s) => s.name)]);
    },
  };
});

