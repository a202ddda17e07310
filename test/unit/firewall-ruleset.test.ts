/**
 * Golden text of Switchyard's nftables table (pure rendering, no kernel). The same text is
 * applied for real in test/integration/firewall.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import {
  ANTISPOOF, antiSpoofIpv6, eui64LinkLocal, ndTargetKey, renderAddEndpoint, renderAntiSpoofBase, renderBase, renderDeleteEndpoint,
  renderDeleteNetwork, renderFlushEndpoints, renderFlushMembership, renderNetwork, splitSubnets, validateBridge,
  type FirewallNetwork,
} from '../../src/services/firewall/ruleset.js';
import { bridgesIn, hasTable } from '../../src/services/firewall/observed.js';

const T = 'inet switchyard';
const normal: FirewallNetwork = { bridge: 'br-a', subnets: ['172.18.0.0/16', 'FD00:1::/64'], icc: true, masquerade: true, internal: false };

test('base: table, sets, maps, user chain and base chains with their priorities', () => {
  assert.equal(renderBase(), [
    `add table ${T}`,
    `add set ${T} bridges { type ifname; }`,
    `add set ${T} same-bridge { type ifname . ifname; }`,
    `add set ${T} icc { type ifname; }`,
    `add set ${T} internal { type ifname; }`,
    `add map ${T} postrouting-out { type ifname : verdict; }`,
    `add set ${T} published4 { type ipv4_addr . inet_proto . inet_service; }`,
    `add set ${T} published6 { type ipv6_addr . inet_proto . inet_service; }`,
    `add map ${T} dnat4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${T} dnat6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }`,
    `add map ${T} dnat4-any { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${T} dnat6-any { type inet_proto . inet_service : ipv6_addr . inet_service; }`,
    `add set ${T} no-direct { type ifname; }`,
    `add chain ${T} user`,
    `add chain ${T} not-a-router`,
    `add chain ${T} from-routed-port`,
    `flush chain ${T} from-routed-port`,
    `add rule ${T} from-routed-port oifname "syr*" ct status dnat ct direction original ip daddr . meta l4proto . th dport @published4 accept comment "ROUTED PUBLISHED PORT (DNAT)"`,
    `add rule ${T} from-routed-port oifname "syr*" ct status dnat ct direction original ip6 daddr . meta l4proto . th dport @published6 accept comment "ROUTED PUBLISHED PORT (DNAT)"`,
    `add rule ${T} from-routed-port ct status dnat ct direction reply ip saddr . meta l4proto . th sport @published4 accept comment "ROUTED PUBLISHED PORT (DNAT) REPLY"`,
    `add rule ${T} from-routed-port ct status dnat ct direction reply ip6 saddr . meta l4proto . th sport @published6 accept comment "ROUTED PUBLISHED PORT (DNAT) REPLY"`,
    `add rule ${T} from-routed-port oifname "syr*" ct status dnat ct direction original drop comment "ROUTED UNPUBLISHED PORT DROP"`,
    `add rule ${T} from-routed-port accept comment "ROUTED PORT"`,
    `add chain ${T} to-routed-port`,
    `flush chain ${T} to-routed-port`,
    `add rule ${T} to-routed-port oifname "syr*" ct status dnat ct direction original ip daddr . meta l4proto . th dport @published4 accept comment "ROUTED PUBLISHED PORT (DNAT)"`,
    `add rule ${T} to-routed-port oifname "syr*" ct status dnat ct direction original ip6 daddr . meta l4proto . th dport @published6 accept comment "ROUTED PUBLISHED PORT (DNAT)"`,
    `add rule ${T} to-routed-port oifname "syr*" ct status dnat ct direction original drop comment "ROUTED UNPUBLISHED PORT DROP"`,
    `add rule ${T} to-routed-port accept comment "ROUTED PORT"`,
    `add chain ${T} forward-other`,
    `flush chain ${T} forward-other`,
    `add rule ${T} forward-other iifname "syr*" goto from-routed-port`,
    `add rule ${T} forward-other oifname "syr*" goto to-routed-port`,
    `add rule ${T} forward-other jump not-a-router comment "NOT A ROUTER"`,
    `add chain ${T} forward { type filter hook forward priority filter; policy accept; }`,
    `flush chain ${T} forward`,
    `add rule ${T} forward jump user comment "USER RULES FIRST"`,
    `add rule ${T} forward iifname != @bridges oifname != @bridges goto forward-other`,
    `add rule ${T} forward iifname . oifname @same-bridge iifname @icc accept comment "ICC"`,
    `add rule ${T} forward iifname @internal drop comment "INTERNAL EGRESS"`,
    `add rule ${T} forward oifname @internal drop comment "INTERNAL INGRESS"`,
    `add rule ${T} forward oifname @bridges ct status dnat ct direction original ip daddr . meta l4proto . th dport @published4 accept comment "PUBLISHED PORT (DNAT)"`,
    `add rule ${T} forward oifname @bridges ct status dnat ct direction original ip6 daddr . meta l4proto . th dport @published6 accept comment "PUBLISHED PORT (DNAT)"`,
    `add rule ${T} forward iifname @bridges ct status dnat ct direction reply ip saddr . meta l4proto . th sport @published4 accept comment "PUBLISHED PORT (DNAT) REPLY"`,
    `add rule ${T} forward iifname @bridges ct status dnat ct direction reply ip6 saddr . meta l4proto . th sport @published6 accept comment "PUBLISHED PORT (DNAT) REPLY"`,
    `add rule ${T} forward iifname . oifname @same-bridge drop comment "ICC DISABLED"`,
    `add rule ${T} forward oifname @no-direct iifname != @bridges ct direction original drop comment "DIRECT ROUTING"`,
    `add rule ${T} forward oifname @no-direct iifname != @bridges ct state invalid,untracked drop comment "DIRECT ROUTING"`,
    `add rule ${T} forward oifname @bridges ct state established,related accept comment "ESTABLISHED"`,
    `add rule ${T} forward iifname @bridges oifname @bridges drop comment "ISOLATION"`,
    `add rule ${T} forward oifname @bridges ip daddr . meta l4proto . th dport @published4 accept comment "PUBLISHED PORT"`,
    `add rule ${T} forward oifname @bridges ip6 daddr . meta l4proto . th dport @published6 accept comment "PUBLISHED PORT"`,
    `add rule ${T} forward oifname @bridges drop comment "UNPUBLISHED PORT DROP"`,
    `add rule ${T} forward iifname @bridges accept comment "OUTBOUND"`,
    `add chain ${T} raw-prerouting { type filter hook prerouting priority raw; policy accept; }`,
    `flush chain ${T} raw-prerouting`,
    `add rule ${T} raw-prerouting iifname != "lo" ip daddr 127.0.0.0/8 drop comment "LOOPBACK FROM OUTSIDE"`,
    `add rule ${T} raw-prerouting iifname != "lo" ip6 daddr ::1 drop comment "LOOPBACK FROM OUTSIDE"`,
    `add set ${T} no-direct-routing { typeof fib daddr oifname; }`,
    `delete set ${T} no-direct-routing`,
    ...['prerouting', 'output'].flatMap((chain) => [
      `add chain ${T} ${chain} { type nat hook ${chain} priority ${chain === 'output' ? '-100' : 'dstnat'}; policy accept; }`,
      `flush chain ${T} ${chain}`,
      `add rule ${T} ${chain} fib daddr type local meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport map @dnat4 comment "DNAT"`,
      `add rule ${T} ${chain} fib daddr type local meta l4proto { tcp, udp, sctp } dnat ip to meta l4proto . th dport map @dnat4-any comment "DNAT"`,
      `add rule ${T} ${chain} fib daddr type local meta l4proto { tcp, udp, sctp } ip6 daddr != ::1 dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6 comment "DNAT"`,
      `add rule ${T} ${chain} fib daddr type local meta l4proto { tcp, udp, sctp } ip6 daddr != ::1 dnat ip6 to meta l4proto . th dport map @dnat6-any comment "DNAT"`,
    ]),
    `add chain ${T} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `flush chain ${T} postrouting`,
    `add rule ${T} postrouting oifname @bridges ct status dnat ip saddr 127.0.0.0/8 masquerade comment "LOCALHOST"`,
    `add rule ${T} postrouting oifname @bridges ct status dnat ip saddr . meta l4proto . th dport @published4 masquerade comment "HAIRPIN"`,
    `add rule ${T} postrouting oifname @bridges ct status dnat ip6 saddr . meta l4proto . th dport @published6 masquerade comment "HAIRPIN"`,
    `add rule ${T} postrouting oifname "syr*" ct status dnat ip saddr 127.0.0.0/8 masquerade comment "LOCALHOST"`,
    `add rule ${T} postrouting oifname "syr*" ct status dnat ip saddr . meta l4proto . th dport @published4 masquerade comment "HAIRPIN"`,
    `add rule ${T} postrouting oifname "syr*" ct status dnat ip6 saddr . meta l4proto . th dport @published6 masquerade comment "HAIRPIN"`,
    `add rule ${T} postrouting iifname vmap @postrouting-out`,
    '',
  ].join('\n'));
});

test('base never flushes the user chain, deletes anything (but its own obsolete set), or names another table', () => {
  const all = renderBase();
  // The one delete: the set that older releases' raw DIRECT ROUTING rule used, right after that chain's flush.
  assert.deepEqual(all.split('\n').filter((l) => /\bdelete\b/.test(l)), [`delete set ${T} no-direct-routing`]);
  const text = all.replace(`delete set ${T} no-direct-routing\n`, '');
  assert.doesNotMatch(text, /flush chain inet switchyard user/);
  assert.doesNotMatch(text, /\b(delete|flush ruleset|flush table)\b/);
  for (const line of text.trim().split('\n')) assert.match(line, /^(add|flush) (table|set|map|chain|rule) inet switchyard\b/);
});

test('a normal network: memberships, ICC on, not internal, a masquerade chain for both families', () => {
  assert.equal(renderNetwork(normal), [
    `add element ${T} bridges { "br-a" }`,
    `add element ${T} same-bridge { "br-a" . "br-a" }`,
    `add element ${T} icc { "br-a" }`,
    `add element ${T} internal { "br-a" }`,
    `delete element ${T} internal { "br-a" }`,
    `add element ${T} no-direct { "br-a" }`,
    `add chain ${T} post-br-a`,
    `flush chain ${T} post-br-a`,
    `add rule ${T} post-br-a oifname != "br-a" ip saddr { 172.18.0.0/16 } masquerade comment "MASQUERADE"`,
    `add rule ${T} post-br-a oifname != "br-a" ip6 saddr { fd00:1::/64 } masquerade comment "MASQUERADE"`,
    `add element ${T} postrouting-out { "br-a" : jump post-br-a }`,
    '',
  ].join('\n'));
});

test('an internal network with ICC off: no masquerade even when asked, removals are add-then-delete', () => {
  assert.equal(renderNetwork({ bridge: 'br-i', subnets: ['172.19.0.0/16'], icc: false, masquerade: true, internal: true }), [
    `add element ${T} bridges { "br-i" }`,
    `add element ${T} same-bridge { "br-i" . "br-i" }`,
    `add element ${T} icc { "br-i" }`,
    `delete element ${T} icc { "br-i" }`,
    `add element ${T} internal { "br-i" }`,
    `add element ${T} no-direct { "br-i" }`,
    `add chain ${T} post-br-i`,
    `add element ${T} postrouting-out { "br-i" : jump post-br-i }`,
    `delete element ${T} postrouting-out { "br-i" }`,
    `delete chain ${T} post-br-i`,
    '',
  ].join('\n'));
});

test('masquerade with several subnets of one family, and with none of the other', () => {
  const text = renderNetwork({ ...normal, subnets: ['10.1.0.0/24', '10.2.0.0/24'] });
  assert.match(text, /ip saddr \{ 10\.1\.0\.0\/24, 10\.2\.0\.0\/24 \} masquerade/);
  assert.doesNotMatch(text, /ip6 saddr/);
  // masquerade=false and a network without subnets both drop the chain.
  assert.match(renderNetwork({ ...normal, masquerade: false }), /delete chain inet switchyard post-br-a\n$/);
  assert.match(renderNetwork({ ...normal, subnets: [] }), /delete chain inet switchyard post-br-a\n$/);
});

test('deleteNetwork: every object is added then deleted, so a missing one is not an error', () => {
  assert.equal(renderDeleteNetwork('br-a'), [
    `add element ${T} bridges { "br-a" }`,
    `delete element ${T} bridges { "br-a" }`,
    `add element ${T} same-bridge { "br-a" . "br-a" }`,
    `delete element ${T} same-bridge { "br-a" . "br-a" }`,
    `add element ${T} icc { "br-a" }`,
    `delete element ${T} icc { "br-a" }`,
    `add element ${T} internal { "br-a" }`,
    `delete element ${T} internal { "br-a" }`,
    `add element ${T} no-direct { "br-a" }`,
    `delete element ${T} no-direct { "br-a" }`,
    `add chain ${T} post-br-a`,
    `add element ${T} postrouting-out { "br-a" : jump post-br-a }`,
    `delete element ${T} postrouting-out { "br-a" }`,
    `delete chain ${T} post-br-a`,
    '',
  ].join('\n'));
});

test('reload empties only the membership sets (published ports and DNAT stay)', () => {
  assert.equal(renderFlushMembership(), [
    `flush set ${T} bridges`, `flush set ${T} same-bridge`, `flush set ${T} icc`, `flush set ${T} internal`,
    `flush set ${T} no-direct`, '',
  ].join('\n'));
});

test('bridge names that could break out of the nft text are refused, naming the field', () => {
  for (const bad of ['', 'br"x', 'br x', 'br{', '-br', 'a234567890123456', 'br;flush', 'br/0']) {
    assert.throws(() => validateBridge(bad), (e: unknown) =>
      e instanceof SwitchyardError && e.kind === 'invalid' && e.code === 'FIREWALL_INVALID_BRIDGE' && e.field === 'bridge', bad);
  }
  for (const good of ['docker0', 'br-3f2a9c1d0e4b', 'sy.br_1', 'a23456789012345']) validateBridge(good);
});

test('subnets: split by family, lowercased IPv6, anything else refused with its index', () => {
  assert.deepEqual(splitSubnets(['10.0.0.0/8', 'FD00::/64', '0.0.0.0/0', '::/0']), { v4: ['10.0.0.0/8', '0.0.0.0/0'], v6: ['fd00::/64', '::/0'] });
  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/1', '10.0.0.0/8 } drop', 'x/8', '10.0.0.0/-1']) {
    assert.throws(() => splitSubnets(['10.1.0.0/16', bad]), (e: unknown) =>
      e instanceof SwitchyardError && e.code === 'FIREWALL_INVALID_SUBNET' && e.field === 'subnets[1]', bad);
  }
});

test('observed: our table is found among others, and bridges come from sets, the vmap and chain names', () => {
  const meta = { metainfo: { version: '1.0.6' } };
  assert.equal(hasTable({ nftables: [meta, { table: { family: 'ip', name: 'switchyard' } }] }), false);
  assert.equal(hasTable({ nftables: [meta, { table: { family: 'inet', name: 'switchyard' } }] }), true);
  const found = bridgesIn([
    { nftables: [meta,
      { chain: { family: 'inet', table: 'switchyard', name: 'post-br-orphan' } },
      { chain: { family: 'inet', table: 'switchyard', name: 'forward' } },
      { chain: { family: 'inet', table: 'other', name: 'post-br-theirs' } }] },
    { nftables: [meta, { set: { family: 'inet', table: 'switchyard', name: 'bridges', elem: ['br-a', 'br-b'] } }] },
    { nftables: [meta, { set: { family: 'inet', table: 'switchyard', name: 'published4', elem: [['10.0.0.2', 'tcp', 80]] } }] },
    { nftables: [meta, { map: { family: 'inet', table: 'switchyard', name: 'postrouting-out', elem: [['br-c', { jump: { target: 'post-br-c' } }]] } }] },
  ]);
  assert.deepEqual([...found].sort(), ['br-a', 'br-b', 'br-c', 'br-orphan']);
});

// --- anti-spoofing: table bridge switchyard ---

const B = 'bridge switchyard';

test('EUI-64 link-local: U/L bit flipped, ff:fe in the middle, canonical text', () => {
  assert.equal(eui64LinkLocal('02:42:ac:11:00:02'), 'fe80::42:acff:fe11:2');
  assert.equal(eui64LinkLocal('02:42:AC:11:00:02'), 'fe80::42:acff:fe11:2');
  // A universal MAC gets the bit set (RFC 4291 appendix A example shape).
  assert.equal(eui64LinkLocal('00:11:22:33:44:55'), 'fe80::211:22ff:fe33:4455');
  assert.equal(eui64LinkLocal('ff:ff:ff:ff:ff:ff'), 'fe80::fdff:ffff:feff:ffff');
  for (const bad of ['', '02:42:ac:11:00', '02-42-ac-11-00-02', '02:42:ac:11:00:02 } drop']) {
    assert.throws(() => eui64LinkLocal(bad), (e: unknown) => e instanceof SwitchyardError && e.code === 'FIREWALL_INVALID_ENDPOINT' && e.field === 'mac', bad);
  }
});

test('ND target key: 128 bits in network byte order as one 0x integer; no zones, no IPv4', () => {
  assert.equal(ndTargetKey('fd00::2'), '0xfd000000000000000000000000000002');
  assert.equal(ndTargetKey('fe80::42:acff:fe11:2'), '0xfe800000000000000042acfffe110002');
  assert.equal(ndTargetKey('FD00:205::A'), '0xfd00020500000000000000000000000a');
  assert.equal(ndTargetKey('::'), `0x${'0'.repeat(32)}`);
  assert.equal(ndTargetKey('::ffff:10.0.0.1'), '0x00000000000000000000ffff0a000001');
  for (const bad of ['10.0.0.1', 'fe80::1%eth0', 'fd00::2 } drop', '']) {
    assert.throws(() => ndTargetKey(bad), (e: unknown) => e instanceof SwitchyardError && e.code === 'FIREWALL_INVALID_ENDPOINT' && e.field === 'ipv6', bad);
  }
});

test('anti-spoofing base: sets (nd6 on a raw payload), the check chain in order, the prerouting hook', () => {
  assert.equal(renderAntiSpoofBase(), [
    `add table ${B}`,
    `add set ${B} ports { type ifname; }`,
    `add set ${B} endpoint-mac { type ifname . ether_addr; }`,
    `add set ${B} endpoint-ip4 { type ifname . ether_addr . ipv4_addr; }`,
    `add set ${B} endpoint-ip6 { type ifname . ether_addr . ipv6_addr; }`,
    `add set ${B} endpoint-nd6 { typeof iifname . ether saddr . @th,64,128; }`,
    `add chain ${B} antispoof`,
    `flush chain ${B} antispoof`,
    `add rule ${B} antispoof iifname . ether saddr != @endpoint-mac drop comment "MAC SPOOF"`,
    `add rule ${B} antispoof ether type != { arp, ip, ip6 } drop comment "NOT UNTAGGED IP"`,
    `add rule ${B} antispoof ether type arp arp saddr ip != 0.0.0.0 iifname . arp saddr ether . arp saddr ip != @endpoint-ip4 drop comment "ARP SPOOF"`,
    `add rule ${B} antispoof ether type arp arp saddr ip 0.0.0.0 arp operation != request drop comment "ARP PROBE"`,
    `add rule ${B} antispoof ether type arp arp saddr ip 0.0.0.0 iifname . arp saddr ether != @endpoint-mac drop comment "ARP PROBE"`,
    `add rule ${B} antispoof ether type ip iifname . ether saddr . ip saddr != @endpoint-ip4 drop comment "IPV4 SPOOF"`,
    `add rule ${B} antispoof ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } drop comment "RA GUARD"`,
    `add rule ${B} antispoof ether type ip6 icmpv6 type nd-neighbor-advert iifname . ether saddr . @th,64,128 != @endpoint-nd6 drop comment "ND SPOOF"`,
    `add rule ${B} antispoof ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit iifname . ether saddr . @th,64,128 != @endpoint-nd6 drop comment "DAD SPOOF"`,
    `add rule ${B} antispoof ether type ip6 ip6 saddr :: icmpv6 type { nd-router-solicit, nd-neighbor-solicit, mld-listener-report, mld2-listener-report } return comment "IPV6 DAD"`,
    `add rule ${B} antispoof ether type ip6 iifname . ether saddr . ip6 saddr != @endpoint-ip6 drop comment "IPV6 SPOOF"`,
    `add chain ${B} prerouting { type filter hook prerouting priority -300; policy accept; }`,
    `flush chain ${B} prerouting`,
    `add rule ${B} prerouting iifname @ports jump antispoof`,
    `add rule ${B} prerouting iifname "syv*" iifname != @ports drop comment "UNKNOWN PORT"`,
    '',
  ].join('\n'));
});

test('anti-spoofing base: re-runnable (create-or-verify sets, flushed chains), no blanket link-local pass', () => {
  const text = renderAntiSpoofBase();
  assert.doesNotMatch(text, /fe80/, 'link-local sources are checked against the endpoint, not waved through');
  assert.doesNotMatch(text, /\b(delete|flush ruleset|flush table|flush set)\b/);
  for (const line of text.trim().split('\n')) assert.match(line, /^(add|flush) (table|set|chain|rule) bridge switchyard\b/);
  // Every rule lands in a chain flushed earlier in the same text.
  const flushed = new Set<string>();
  for (const line of text.trim().split('\n')) {
    const f = /^flush chain bridge switchyard (\S+)$/.exec(line);
    if (f) flushed.add(f[1]!);
    const r = /^add rule bridge switchyard (\S+) /.exec(line);
    if (r) assert.ok(flushed.has(r[1]!), `rule in ${r[1]} before its flush`);
  }
  // The ND check comes before every early return.
  const rules = text.split('\n').filter((l) => l.includes(' antispoof ') && l.startsWith('add rule'));
  const nd = rules.findIndex((r) => r.includes('"ND SPOOF"'));
  assert.ok(nd >= 0 && rules.slice(0, nd).every((r) => !/\breturn\b/.test(r)));
});

test('a dual-stack endpoint: MAC, IPv4, global and EUI-64 link-local IPv6 as sources and as ND targets', () => {
  const ep = { port: 'syv3f2a19c0d1', mac: '02:42:AC:11:00:02', ipv4: '172.17.0.2', ipv6: 'FD00::2' };
  const k = '"syv3f2a19c0d1" . 02:42:ac:11:00:02';
  const elements = [
    `endpoint-mac { ${k} }`,
    `endpoint-ip4 { ${k} . 172.17.0.2 }`,
    `endpoint-ip6 { ${k} . fd00::2 }`,
    `endpoint-ip6 { ${k} . fe80::42:acff:fe11:2 }`,
    `endpoint-nd6 { ${k} . 0xfd000000000000000000000000000002 }`,
    `endpoint-nd6 { ${k} . 0xfe800000000000000042acfffe110002 }`,
    `ports { "syv3f2a19c0d1" }`,
  ];
  assert.equal(renderAddEndpoint(ep), elements.map((e) => `add element ${B} ${e}`).join('\n') + '\n');
  assert.equal(renderDeleteEndpoint(ep), elements.flatMap((e) => [`add element ${B} ${e}`, `delete element ${B} ${e}`]).join('\n') + '\n');
  // Idempotent: the same input renders the same text (nft add element is create-or-keep).
  assert.equal(renderAddEndpoint(ep), renderAddEndpoint({ ...ep }));
});

test('an IPv4-only endpoint still gets its link-local source and ND target; an IPv6-only one has no ip4 element', () => {
  const v4only = renderAddEndpoint({ port: 'syva', mac: '02:42:0a:00:00:05', ipv4: '10.0.0.5' });
  assert.equal(v4only, [
    `add element ${B} endpoint-mac { "syva" . 02:42:0a:00:00:05 }`,
    `add element ${B} endpoint-ip4 { "syva" . 02:42:0a:00:00:05 . 10.0.0.5 }`,
    `add element ${B} endpoint-ip6 { "syva" . 02:42:0a:00:00:05 . fe80::42:aff:fe00:5 }`,
    `add element ${B} endpoint-nd6 { "syva" . 02:42:0a:00:00:05 . 0xfe8000000000000000420afffe000005 }`,
    `add element ${B} ports { "syva" }`,
    '',
  ].join('\n'));
  const v6only = renderAddEndpoint({ port: 'syvb', mac: '02:42:0a:00:00:06', ipv6: 'fd00:1::6' });
  assert.doesNotMatch(v6only, /endpoint-ip4/);
  assert.equal((v6only.match(/endpoint-ip6/g) ?? []).length, 2);
  assert.equal((v6only.match(/endpoint-nd6/g) ?? []).length, 2);
  // A global address that is the link-local itself is listed once.
  const same = renderAddEndpoint({ port: 'syvc', mac: '02:42:0a:00:00:07', ipv6: 'fe80::42:aff:fe00:7' });
  assert.equal((same.match(/endpoint-nd6/g) ?? []).length, 1);
});

test("antiSpoofIpv6: an endpoint's own IPv6 addresses, canonical, global first, link-local always", () => {
  assert.deepEqual(antiSpoofIpv6({ mac: '02:42:AC:11:00:02', ipv6: 'FD00:0::02' }), ['fd00::2', 'fe80::42:acff:fe11:2']);
  assert.deepEqual(antiSpoofIpv6({ mac: '02:42:ac:11:00:02' }), ['fe80::42:acff:fe11:2']);
  assert.deepEqual(antiSpoofIpv6({ mac: '02:42:ac:11:00:02', ipv6: 'fe80::42:acff:fe11:2' }), ['fe80::42:acff:fe11:2']);
  assert.throws(() => antiSpoofIpv6({ mac: '02:42:ac:11:00:02', ipv6: '10.0.0.1' }), { code: 'FIREWALL_INVALID_ENDPOINT' });
});

test('reload empties every anti-spoofing set, the nd6 set included', () => {
  assert.equal(renderFlushEndpoints(), [
    `flush set ${B} ports`, `flush set ${B} endpoint-mac`, `flush set ${B} endpoint-ip4`, `flush set ${B} endpoint-ip6`, `flush set ${B} endpoint-nd6`, '',
  ].join('\n'));
  // Every set the base creates is flushed.
  for (const set of [ANTISPOOF.ports, ANTISPOOF.mac, ANTISPOOF.ip4, ANTISPOOF.ip6, ANTISPOOF.nd6]) {
    assert.match(renderAntiSpoofBase(), new RegExp(`add set ${B} ${set} `));
    assert.match(renderFlushEndpoints(), new RegExp(`flush set ${B} ${set}\n`));
  }
});

test('endpoint fields that could break out of the nft text are refused, naming the field', () => {
  const ok = { port: 'syva', mac: '02:42:0a:00:00:05', ipv4: '10.0.0.5', ipv6: 'fd00::5' };
  const cases: [Partial<typeof ok>, string][] = [
    [{ port: 'syv"a' }, 'port'], [{ port: 'a b' }, 'port'],
    [{ mac: '02:42:0a:00:00:05 } drop' }, 'mac'], [{ mac: '02:42:0a:00:00' }, 'mac'],
    [{ ipv4: '10.0.0.5 } drop' }, 'ipv4'], [{ ipv4: 'fd00::5' }, 'ipv4'],
    [{ ipv6: 'fe80::5%eth0' }, 'ipv6'], [{ ipv6: '10.0.0.5' }, 'ipv6'], [{ ipv6: 'fd00::5 } drop' }, 'ipv6'],
  ];
  for (const [patch, field] of cases) {
    for (const render of [renderAddEndpoint, renderDeleteEndpoint]) {
      assert.throws(() => render({ ...ok, ...patch }), (e: unknown) => e instanceof SwitchyardError && e.field === field, JSON.stringify(patch));
    }
  }
});

test('the forwarding guard chain: kept as it is when unknown, else flushed and holding one drop per guarded family', () => {
  const chain = (text: string) => text.split('\n').filter((l) => l.includes(' not-a-router') && !l.includes('jump not-a-router'));
  assert.deepEqual(chain(renderBase()), [`add chain ${T} not-a-router`]);
  assert.deepEqual(chain(renderBase({ notARouter: [] })), [`add chain ${T} not-a-router`, `flush chain ${T} not-a-router`]);
  assert.deepEqual(chain(renderBase({ notARouter: [6, 4] })), [
    `add chain ${T} not-a-router`,
    `flush chain ${T} not-a-router`,
    `add rule ${T} not-a-router meta nfproto ipv4 drop comment "NOT A ROUTER"`,
    `add rule ${T} not-a-router meta nfproto ipv6 drop comment "NOT A ROUTER"`,
  ]);
  // The forward chain hands what neither enters nor leaves a bridge to forward-other in its
  // second rule; every later rule is about a bridge and the last one, OUTBOUND, gives a verdict
  // to whatever is still there. forward-other's last rule is the guard.
  const rules = (chain: string) => renderBase().split('\n').filter((l) => l.startsWith(`add rule ${T} ${chain} `));
  const forward = rules('forward');
  assert.equal(forward[1], `add rule ${T} forward iifname != @bridges oifname != @bridges goto forward-other`);
  assert.ok(forward.slice(2).every((r) => /[io]ifname @bridges|@same-bridge|@internal|oifname @no-direct iifname != @bridges/.test(r)), 'every later verdict is about a bridge');
  assert.equal(forward.at(-1), `add rule ${T} forward iifname @bridges accept comment "OUTBOUND"`);
  assert.ok(forward.some((r) => r.endsWith('oifname @bridges drop comment "UNPUBLISHED PORT DROP"')), 'what enters a bridge gets a verdict too');
  assert.equal(rules('forward-other').at(-1), `add rule ${T} forward-other jump not-a-router comment "NOT A ROUTER"`);
  // Routed ports (syr*) are accepted only by name, after the published-port checks: table inet
  // switchyard-routed filters them (isolation, anti-spoofing; test/integration/routed-driver.test.ts).
  assert.equal(rules('from-routed-port').at(-1), `add rule ${T} from-routed-port accept comment "ROUTED PORT"`);
  assert.equal(rules('to-routed-port').at(-1), `add rule ${T} to-routed-port accept comment "ROUTED PORT"`);
});

test('direct routing: masquerading and internal networks are in no-direct, a network without masquerade (routed) is not', () => {
  assert.match(renderNetwork(normal), /add element inet switchyard no-direct \{ "br-a" \}\n(?!delete)/);
  assert.match(renderNetwork({ ...normal, masquerade: false, internal: true }), /add element inet switchyard no-direct \{ "br-a" \}\n(?!delete)/);
  assert.match(renderNetwork({ ...normal, masquerade: false }), /add element inet switchyard no-direct \{ "br-a" \}\ndelete element inet switchyard no-direct \{ "br-a" \}\n/);
});
