/**
 * kernel/nftables.ts against the real kernel, in a throwaway namespace, and the
 * anti-spoofing table (ruleset.ts) loaded into it and fed real frames. Needs root.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import {
  eui64LinkLocal, renderAddEndpoint, renderAntiSpoofBase, renderDeleteEndpoint, renderFlushEndpoints,
} from '../../src/services/firewall/ruleset.js';
import { ALL_NODES, naArgs, raArgs, udpArgs, type Ipv6Frame } from '../helpers/ipv6-frames.js';
import { assertNoLeaks, inNs, makeNs, removeNs, sh, waitFor } from '../helpers/netns.js';

before(async () => {
  await warmThreadpool();
});

test('a context opened for a namespace changes that namespace only, whatever thread namespace runs it later', () => {
  const ns = makeNs('fwnft');
  const nft = Nft.open(ns.path);
  try {
    nft.run('add table inet swy_nft_probe\nadd chain inet swy_nft_probe c');
    assert.match(inNs(ns.name, 'nft', ['list', 'tables']).stdout, /table inet swy_nft_probe/);
    // Reading the machine's own ruleset is harmless; it must not have our probe table.
    assert.doesNotMatch(sh('nft', ['list', 'tables']).stdout, /swy_nft_probe/);
    assert.match(nft.list('tables'), /table inet swy_nft_probe/);
    const json = nft.listJson('tables');
    assert.ok(json.nftables.some((o) => (o.table as { name?: string } | undefined)?.name === 'swy_nft_probe'));
    // The JSON flag is switched back off after listJson.
    assert.match(nft.list('table inet swy_nft_probe'), /^table inet swy_nft_probe \{/);
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});

test('a failing batch applies nothing and reports nft\'s own error text', () => {
  const ns = makeNs('fwnft');
  const nft = Nft.open(ns.path);
  try {
    assert.throws(
      () => nft.run('add table inet swy_a\nadd chain inet swy_a c\nadd rule inet swy_a c bogus_keyword drop'),
      (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_FAILED' && e.kind === 'internal' && /syntax error/.test(e.message),
    );
    // Semantic (kernel-side) failure in the middle of a batch: also all-or-nothing.
    assert.throws(() => nft.run('add table inet swy_b\ndelete chain inet swy_b nochain'), /No such file or directory/);
    assert.equal(inNs(ns.name, 'nft', ['list', 'ruleset']).stdout.trim(), '');
    // The context is still usable after errors, and its buffers were rewound.
    assert.equal(nft.run('add table inet swy_c'), '');
    assert.equal(nft.list('tables').trim(), 'table inet swy_c');
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});

test('close is idempotent and a closed context refuses work', () => {
  const ns = makeNs('fwnft');
  const nft = Nft.open(ns.path);
  nft.close();
  nft.close();
  assert.throws(() => nft.run('list tables'), { code: 'NFT_CLOSED' });
  removeNs(ns);
  assertNoLeaks([ns.name]);
});

// The anti-spoofing base as released before ND targets were checked: no nd6 set, and
// every link-local source waved through. renderAntiSpoofBase must upgrade it in place.
const OLDER_ANTISPOOF_BASE = `add table bridge switchyard
add set bridge switchyard ports { type ifname; }
add set bridge switchyard endpoint-mac { type ifname . ether_addr; }
add set bridge switchyard endpoint-ip4 { type ifname . ether_addr . ipv4_addr; }
add set bridge switchyard endpoint-ip6 { type ifname . ether_addr . ipv6_addr; }
add chain bridge switchyard antispoof
add rule bridge switchyard antispoof iifname . ether saddr != @endpoint-mac drop comment "MAC SPOOF"
add rule bridge switchyard antispoof ether type ip6 ip6 saddr :: return comment "IPV6 DAD"
add rule bridge switchyard antispoof ether type ip6 ip6 saddr fe80::/10 return comment "IPV6 LINK-LOCAL"
add rule bridge switchyard antispoof ether type ip6 iifname . ether saddr . ip6 saddr != @endpoint-ip6 drop comment "IPV6 SPOOF"
add chain bridge switchyard prerouting { type filter hook prerouting priority -300; policy accept; }
add rule bridge switchyard prerouting iifname @ports jump antispoof
add element bridge switchyard endpoint-mac { "sypa" . 02:42:0a:00:00:02 }
add element bridge switchyard ports { "sypa" }
`;

test('anti-spoofing: the table loads over an older one, re-runs, and checks ND targets and link-local sources on real frames', async () => {
  const ns = makeNs('fwas');
  const nft = Nft.open(ns.path);
  const a = { port: 'sypa', mac: '02:42:0a:00:00:02', ipv4: '10.0.0.2', ipv6: 'fd00::2' };
  // IPv4-only, with a universal MAC (the U/L bit is set, not cleared, in its link-local).
  const b = { port: 'sypb', mac: '00:16:3e:00:00:03', ipv4: '10.0.0.3' };
  const ip = (...args: string[]) => inNs(ns.name, 'ip', args);
  try {
    // Bridge sybr with ports sypa and sypb; their peers (the "sandboxes") stay in the namespace.
    ip('link', 'add', 'sybr', 'type', 'bridge');
    for (const e of [a, b]) {
      const peer = e.port.replace('syp', 'sye');
      ip('link', 'add', peer, 'address', e.mac, 'type', 'veth', 'peer', 'name', e.port);
      ip('link', 'set', e.port, 'master', 'sybr', 'up');
      ip('link', 'set', peer, 'up');
      // The kernel's own link-local for that MAC is what the sets hold.
      const ll = inNs(ns.name, 'ip', ['-6', '-o', 'addr', 'show', 'dev', peer, 'scope', 'link']).stdout;
      assert.equal(/inet6 (\S+)\/64/.exec(ll)?.[1], eui64LinkLocal(e.mac), `link-local of ${e.mac}`);
      // From here on the frames are ours alone (python3 AF_PACKET), not the kernel's.
      inNs(ns.name, 'sysctl', ['-qw', `net.ipv6.conf.${peer}.disable_ipv6=1`, `net.ipv6.conf.${e.port}.disable_ipv6=1`]);
    }
    ip('link', 'set', 'sybr', 'up');

    nft.run(OLDER_ANTISPOOF_BASE);
    nft.run(renderAntiSpoofBase() + renderAddEndpoint(a) + renderAddEndpoint(b));
    // Re-runnable, and adding an endpoint twice is a no-op.
    nft.run(renderAntiSpoofBase());
    nft.run(renderAddEndpoint(a) + renderAddEndpoint(b));
    const table = nft.list('table bridge switchyard');
    assert.doesNotMatch(table, /fe80::\/10|IPV6 LINK-LOCAL/, 'the older blanket link-local pass is gone');
    assert.match(table, /typeof iifname \. ether saddr \. @th,64,128/);
    const nd6 = nft.list('set bridge switchyard endpoint-nd6');
    for (const want of [
      '"sypa" . 02:42:0a:00:00:02 . 0xfd000000000000000000000000000002',
      '"sypa" . 02:42:0a:00:00:02 . 0xfe800000000000000042', // fe80::42:aff:fe00:2
      '"sypb" . 00:16:3e:00:00:03 . 0xfe800000000000000216', // fe80::216:3eff:fe00:3
    ]) assert.ok(nd6.replace(/\s+/g, ' ').includes(want), `${want} in ${nd6}`);
    assert.equal((nd6.match(/"syp[ab]"/g) ?? []).length, 3);

    // A counter after the check (priority -200 > -300) sees what got through from sypa.
    nft.run('add table bridge swy_probe\nadd chain bridge swy_probe c { type filter hook prerouting priority -200; policy accept; }\n'
      + 'add rule bridge swy_probe c iifname "sypa" ether type ip6 counter');
    const passed = () => Number(/counter packets (\d+)/.exec(nft.list('chain bridge swy_probe c'))?.[1]);
    const aLL = eui64LinkLocal(a.mac);
    const bLL = eui64LinkLocal(b.mac);
    const from = (src: string): Ipv6Frame => ({ ifname: 'syea', srcMac: a.mac, dstMac: ALL_NODES.mac, src, dst: ALL_NODES.ip });
    const probes: [string, string[], boolean][] = [
      ['NA for its own global address', naArgs(from(a.ipv6), a.ipv6), true],
      ['NA for its own link-local address, from it', naArgs(from(aLL), aLL), true],
      ['UDP from its own link-local address', udpArgs(from(aLL), 9, 'x'), true],
      ["NA for another endpoint's link-local address", naArgs(from(aLL), bLL), false],
      ['NA for an address nobody holds (the gateway)', naArgs(from(a.ipv6), 'fd00::1'), false],
      ["UDP from another endpoint's link-local address", udpArgs(from(bLL), 9, 'x'), false],
      ['UDP from a link-local address nobody holds', udpArgs(from('fe80::1'), 9, 'x'), false],
      ['a router advertisement, even from its own link-local address', raArgs(from(aLL)), false],
    ];
    const arrives = async (args: string[]) => {
      const before = passed();
      inNs(ns.name, 'python3', args);
      try {
        await waitFor(() => passed() > before || undefined, 'frame counted', 500);
        return true;
      } catch {
        return false;
      }
    };
    for (const [what, args, ok] of probes) assert.equal(await arrives(args), ok, what);
    // Control: with the port taken out of the check, every one of those frames gets through.
    nft.run(renderDeleteEndpoint(a));
    for (const [what, args] of probes) assert.equal(await arrives(args), true, `control: ${what}`);

    // Deleting twice is success; flush + re-add leaves exactly the wanted endpoints.
    nft.run(renderDeleteEndpoint(a));
    nft.run(renderAntiSpoofBase() + renderFlushEndpoints() + renderAddEndpoint(a));
    assert.equal((nft.list('set bridge switchyard endpoint-nd6').match(/"syp[ab]"/g) ?? []).length, 2);
    assert.equal((nft.list('set bridge switchyard endpoint-ip6').match(/"syp[ab]"/g) ?? []).length, 2);
    assert.doesNotMatch(nft.list('set bridge switchyard ports'), /sypb/);
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});
