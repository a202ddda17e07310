/**
 * End-to-end: macvlan networks through the real CLI against a real daemon in a throwaway
 * host namespace whose "LAN" is a veth (the parent, sylan0) to a second namespace acting as
 * the LAN's router/host (192.0.2.1 and 198.51.100.1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNoLeaks, inNs, linksIn, makeNs, removeNs, sh, type TestNs } from '../helpers/netns.js';

interface Inspected {
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; Gateway: string; MacAddress: string }> };
}

describe('macvlan driver (e2e)', () => {
  let d: TestDaemon;
  let lan: TestNs;
  let hostLinksBefore: string[];
  const sb = (name: string): Inspected => JSON.parse(d.cli(['inspect', name]).stdout)[0];
  const ping = (from: string, to: string) =>
    d.inSandbox(sb(from).NetworkSettings.SandboxKey, 'ping', ['-c3', '-i0.2', '-W1', to], { allowFail: true }).status === 0;
  const macOf = (out: string): string => /link\/ether ([0-9a-f:]+)/.exec(out)![1]!;

  before(async () => {
    d = await startDaemon({ tag: 'mvl' });
    lan = makeNs('mvlan');
    d.onHost('ip', ['link', 'add', 'sylan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name]);
    d.onHost('ip', ['link', 'set', 'sylan0', 'up']);
    for (const a of ['192.0.2.1/24', '198.51.100.1/24']) sh('ip', ['-n', lan.name, 'addr', 'add', a, 'dev', 'eth0']);
    sh('ip', ['-n', lan.name, 'link', 'set', 'eth0', 'up']);
    hostLinksBefore = linksIn(d.host.name);
  });
  after(async () => {
    await d?.stop();
    if (lan) removeNs(lan);
    assertNoLeaks([d.host.name, lan.name]);
  });

  test('bridge mode: sandboxes reach each other and the LAN host, with their own MACs; -p is ignored as Docker does; inspect shows them', () => {
    d.cli(['network', 'create', '-d', 'macvlan', '-o', 'parent=sylan0', '--subnet', '192.0.2.0/24', 'mv1']);
    const n = JSON.parse(d.cli(['network', 'inspect', 'mv1']).stdout)[0];
    assert.equal(n.Driver, 'macvlan');
    assert.equal(n.IPAM.Config[0].Gateway, '192.0.2.1', 'the gateway is the LAN\'s: the first address by default');
    assert.equal(n.Options.parent, 'sylan0');
    d.cli(['run', '-d', '--name', 'm1', '--network', 'mv1', '-p', '8080:80', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'm2', '--network', 'mv1', '--', 'sleep', 'infinity']);
    const [a, b] = [sb('m1').NetworkSettings.Networks['mv1']!, sb('m2').NetworkSettings.Networks['mv1']!];
    assert.ok(ping('m1', b.IPAddress), 'm1 → m2');
    assert.ok(ping('m2', a.IPAddress), 'm2 → m1');
    assert.ok(ping('m1', '192.0.2.1'), 'm1 → LAN host');
    assert.ok(ping('m2', '192.0.2.1'), 'm2 → LAN host');
    const parentMac = macOf(d.onHost('ip', ['-o', 'link', 'show', 'sylan0']).stdout);
    const childMac = macOf(d.inSandbox(sb('m1').NetworkSettings.SandboxKey, 'ip', ['-o', 'link', 'show', 'eth0']).stdout);
    assert.equal(childMac, a.MacAddress);
    assert.notEqual(childMac, parentMac, 'its own MAC, not the parent\'s');
    assert.notEqual(a.MacAddress, b.MacAddress);
    assert.match(d.inSandbox(sb('m1').NetworkSettings.SandboxKey, 'ip', ['-d', '-o', 'link', 'show', 'eth0']).stdout, /macvlan mode bridge/);
    assert.match(d.inSandbox(sb('m1').NetworkSettings.SandboxKey, 'ip', ['route', 'show', 'default']).stdout, /via 192\.0\.2\.1 dev eth0/);
    const containers = JSON.parse(d.cli(['network', 'inspect', 'mv1']).stdout)[0].Containers;
    assert.deepEqual(Object.values(containers).map((c) => (c as { Name: string }).Name).sort(), ['m1', 'm2']);
    assert.deepEqual(linksIn(d.host.name), hostLinksBefore, 'no link on the host');
    assert.doesNotMatch(d.onHost('ip', ['-o', 'addr']).stdout, /192\.0\.2\./, 'no gateway address on the host');
  });

  test('private mode (sharing the parent): sandboxes are isolated from each other but reach the LAN host', () => {
    d.cli(['network', 'create', '-d', 'macvlan', '-o', 'parent=sylan0', '-o', 'macvlan_mode=private', '--subnet', '198.51.100.0/24', 'mv2']);
    d.cli(['run', '-d', '--name', 'p1', '--network', 'mv2', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'p2', '--network', 'mv2', '--', 'sleep', 'infinity']);
    assert.ok(ping('p1', '198.51.100.1'), 'p1 → LAN host');
    assert.ok(ping('p2', '198.51.100.1'), 'p2 → LAN host');
    assert.ok(!ping('p1', sb('p2').NetworkSettings.Networks['mv2']!.IPAddress), 'private: p1 ↛ p2 (bridge mode above is the control)');
  });

  test('a daemon killed and started again keeps the macvlan sandboxes as they were (reconcile finds their children present)', async () => {
    const before = sb('m1').NetworkSettings.Networks['mv1']!;
    await d.restart({ kill: true });
    const after = sb('m1').NetworkSettings.Networks['mv1']!;
    assert.deepEqual(after, before);
    assert.ok(ping('m1', sb('m2').NetworkSettings.Networks['mv1']!.IPAddress), 'm1 → m2 after the restart');
    assert.ok(ping('m1', '192.0.2.1'), 'm1 → LAN host after the restart');
    assert.deepEqual(linksIn(d.host.name), hostLinksBefore, 'reconcile made and deleted nothing on the host');
  });

  test('Docker\'s rules: missing parent named, lo refused, passthru exclusive, 802.1q names checked, --internal with a parent on a dummy of its own', () => {
    const fail = (args: string[], re: RegExp) => {
      const r = d.cli(['network', 'create', '-d', 'macvlan', ...args], { allowFail: true });
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    };
    fail(['-o', 'parent=syabsent0', 'bad1'], /parent.*syabsent0 does not exist/);
    fail(['-o', 'parent=lo', 'bad2'], /loopback interface is not a valid parent/);
    fail(['-o', 'parent=sylan0', '-o', 'macvlan_mode=passthru', 'bad3'], /already using parent interface sylan0/);
    fail(['-o', 'parent=syabsent0.10', 'bad4'], /-o parent interface was not found on the host: syabsent0/);
    fail(['-o', 'parent=sylan0.9999', 'bad5'], /vlan id must be between 1-4094, received: 9999/);
    // --internal with a parent: the network's own dummy (dm-<id12>), sylan0 left alone, as
    // libnetwork; made in the VM lane (test/vm/ipvlan.test.ts), no dummy links on this kernel.
    if (!existsSync('/sys/module/dummy')) fail(['-o', 'parent=sylan0', '--internal', 'bad6'], /cannot make the dummy link dm-[0-9a-f]{12} .*kernel module dummy/);
    // No parent: a dummy parent. This machine's kernel has no dummy links (the VM lane runs
    // them: test/vm/ipvlan.test.ts); here the create fails naming the module, and nothing is kept.
    if (!existsSync('/sys/module/dummy')) fail(['bad7'], /cannot make the dummy link dm-[0-9a-f]{12} .*kernel module dummy/);
    const ls = d.cli(['network', 'ls', '--format', '{{.Name}}']).stdout;
    assert.doesNotMatch(ls, /bad\d/, 'no refused network was kept');
  });

  test('ipvlan: --mac-address refused with Docker\'s message before anything is made (the slave carries its parent\'s MAC; the MAC itself is checked in test/vm/ipvlan.test.ts)', () => {
    d.onHost('ip', ['link', 'add', 'syivp0', 'type', 'veth', 'peer', 'name', 'syivp1']);
    try {
      d.cli(['network', 'create', '-d', 'ipvlan', '-o', 'parent=syivp0', '--subnet', '203.0.113.0/24', 'iv1']);
      const r = d.cli(['run', '-d', '--name', 'i1', '--network', 'iv1', '--mac-address', '02:00:00:00:00:01', '--', 'sleep', 'infinity'], { allowFail: true });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /ipvlan interfaces do not support custom mac address assignment/);
      assert.doesNotMatch(d.cli(['ps', '-a', '--format', '{{.Names}}'], { allowFail: true }).stdout, /\bi1\b/, 'no sandbox kept');
      d.cli(['network', 'rm', 'iv1']);
    } finally {
      d.onHost('ip', ['link', 'del', 'syivp0']);
    }
  });

  test('--scope global through the CLI and the API: refused on this daemon (no --cluster-store) and on L2 and macvlan, with the reason; nothing kept (docs/drivers/ipvlan.md "Across hosts")', async () => {
    const create = (args: string[]) => d.cli(['network', 'create', ...args], { allowFail: true });
    const l3 = ['-d', 'ipvlan', '-o', 'parent=sylan0', '-o', 'ipvlan_mode=l3', '--subnet', '10.30.0.0/24'];
    for (const scope of ['global', 'swarm']) {
      const r = create([...l3, '--scope', scope, 'gx1']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`scope ${scope}: a network that spans hosts needs a cluster store \\(start the daemon with --cluster-store`));
    }
    const l2 = create(['-d', 'ipvlan', '-o', 'parent=sylan0', '--subnet', '10.30.0.0/24', '--scope', 'global', 'gx2']);
    assert.match(l2.stderr, /scope global: an ipvlan network spans hosts only in L3 mode/);
    const mv = create(['-d', 'macvlan', '-o', 'parent=sylan0', '--subnet', '10.30.0.0/24', '--scope', 'global', 'gx3']);
    assert.match(mv.stderr, /scope global: the macvlan driver makes networks of one host/);
    await assert.rejects(d.client.createNetwork({ Name: 'gx4', Driver: 'ipvlan', Scope: 'global', Options: { parent: 'sylan0', ipvlan_mode: 'l3s' } }), (e: Error) => /scope global: .*cluster store/.test(e.message));
    assert.doesNotMatch(d.cli(['network', 'ls', '--format', '{{.Name}}']).stdout, /\bgx\d/, 'no refused network was kept');
  });

  test('several subnets, static --ip in the second, aux addresses never handed out, an IPv6-only network, and the host interface through the CLI', () => {
    for (const a of ['203.0.113.1/30', '203.0.113.17/28']) sh('ip', ['-n', lan.name, 'addr', 'add', a, 'dev', 'eth0']);
    sh('ip', ['-n', lan.name, 'addr', 'add', '2001:db8:7::1/64', 'dev', 'eth0', 'nodad']);
    // The first subnet holds one address for sandboxes, and the aux address takes it: the next sandbox gets the second subnet.
    d.cli(['network', 'create', '-d', 'macvlan', '-o', 'parent=sylan0', '-o', 'com.switchyard.host_interface=true',
      '--subnet', '203.0.113.0/30', '--aux-address', 'router2=203.0.113.2', '--subnet', '203.0.113.16/28', '--aux-address', 'host=203.0.113.30', 'mv3']);
    const n = JSON.parse(d.cli(['network', 'inspect', 'mv3']).stdout)[0];
    assert.deepEqual(n.IPAM.Config.map((c: { Subnet: string; Gateway: string }) => [c.Subnet, c.Gateway]), [['203.0.113.0/30', '203.0.113.1'], ['203.0.113.16/28', '203.0.113.17']]);
    d.cli(['run', '-d', '--name', 'q1', '--network', 'mv3', '--ip', '203.0.113.20', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'q2', '--network', 'mv3', '--', 'sleep', 'infinity']);
    const [q1, q2] = [sb('q1').NetworkSettings.Networks['mv3']!, sb('q2').NetworkSettings.Networks['mv3']!];
    assert.deepEqual([q1.IPAddress, q1.Gateway], ['203.0.113.20', '203.0.113.17'], 'static address in the second subnet, with that subnet\'s gateway');
    assert.equal(q2.Gateway, '203.0.113.17');
    assert.match(q2.IPAddress, /^203\.0\.113\.(1[89]|2\d)$/, `the aux address is not handed out: ${q2.IPAddress}`);
    assert.ok(ping('q1', '203.0.113.17'), 'q1 → its router');
    assert.ok(ping('q1', q2.IPAddress), 'q1 → q2');
    // The host interface: the host reaches its sandboxes (the kernel rule otherwise forbids it).
    assert.equal(d.onHost('ping', ['-c3', '-i0.2', '-W1', q1.IPAddress], { allowFail: true }).status, 0, 'the host → q1 through the host interface');
    assert.match(d.onHost('ip', ['-o', '-d', 'link', 'show']).stdout, /syh[0-9a-f]{12}@sylan0: .*macvlan mode bridge/);

    d.cli(['network', 'create', '-d', 'macvlan', '-o', 'parent=sylan0', '--ipv4=false', '--ipv6', '--subnet', '2001:db8:7::/64', 'mv6']);
    d.cli(['run', '-d', '--name', 'v6only', '--network', 'mv6', '--', 'sleep', 'infinity']);
    const v6 = JSON.parse(d.cli(['inspect', 'v6only']).stdout)[0].NetworkSettings.Networks['mv6'];
    assert.equal(v6.IPAddress, '', 'no IPv4 address on an IPv6-only network');
    assert.match(v6.GlobalIPv6Address, /^2001:db8:7::/);
    assert.ok(ping('v6only', '2001:db8:7::1'), 'IPv6-only sandbox → its router');
    d.cli(['rm', '-f', 'q1', 'q2', 'v6only']);
    d.cli(['network', 'rm', 'mv3', 'mv6']);
    assert.deepEqual(linksIn(d.host.name), hostLinksBefore, 'the host interface went with its network');
    assert.doesNotMatch(d.onHost('ip', ['route']).stdout, /203\.0\.113\./, 'and its routes');
  });

  test('network rm leaves nothing: the children go with their sandboxes, the parent stays as it was', () => {
    const keys = ['m1', 'm2', 'p1', 'p2'].map((n) => sb(n).NetworkSettings.SandboxKey);
    d.cli(['rm', '-f', 'm1', 'm2', 'p1', 'p2']);
    d.cli(['network', 'rm', 'mv1', 'mv2']);
    assert.deepEqual(linksIn(d.host.name), hostLinksBefore);
    assert.match(d.onHost('ip', ['-o', 'link', 'show', 'sylan0']).stdout, /state UP/, 'the parent is untouched');
    assert.deepEqual(inNs(lan.name, 'ip', ['-o', '-4', 'addr', 'show', 'eth0']).stdout.match(/inet \S+/g), ['inet 192.0.2.1/24', 'inet 198.51.100.1/24', 'inet 203.0.113.1/30', 'inet 203.0.113.17/28']);
    for (const k of keys) assert.ok(d.onHost('test', ['-e', k], { allowFail: true }).status !== 0, `sandbox namespace ${k} is gone`);
  });
});
