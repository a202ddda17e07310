/**
 * Golden text of Switchyard's nftables table (pure rendering, no kernel). The same text is
 * applied for real in test/integration/firewall.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import {
  renderBase, renderDeleteNetwork, renderFlushMembership, renderNetwork, splitSubnets, validateBridge,
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
    `add chain ${T} user`,
    `add chain ${T} forward { type filter hook forward priority filter; policy accept; }`,
    `flush chain ${T} forward`,
    `add rule ${T} forward jump user comment "USER RULES FIRST"`,
    `add rule ${T} forward iifname . oifname @same-bridge iifname @icc accept comment "ICC"`,
    `add rule ${T} forward iifname @internal drop comment "INTERNAL EGRESS"`,
    `add rule ${T} forward oifname @internal drop comment "INTERNAL INGRESS"`,
    `add rule ${T} forward oifname @bridges ct status dnat ct direction original ip daddr . meta l4proto . th dport @published4 accept comment "PUBLISHED PORT (DNAT)"`,
    `add rule ${T} forward oifname @bridges ct status dnat ct direction original ip6 daddr . meta l4proto . th dport @published6 accept comment "PUBLISHED PORT (DNAT)"`,
    `add rule ${T} forward iifname @bridges ct status dnat ct direction reply ip saddr . meta l4proto . th sport @published4 accept comment "PUBLISHED PORT (DNAT) REPLY"`,
    `add rule ${T} forward iifname @bridges ct status dnat ct direction reply ip6 saddr . meta l4proto . th sport @published6 accept comment "PUBLISHED PORT (DNAT) REPLY"`,
    `add rule ${T} forward iifname . oifname @same-bridge drop comment "ICC DISABLED"`,
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
    `add rule ${T} postrouting iifname vmap @postrouting-out`,
    '',
  ].join('\n'));
});

test('base never flushes the user chain, deletes anything, or names another table', () => {
  const text = renderBase();
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
    `add chain ${T} post-br-a`,
    `add element ${T} postrouting-out { "br-a" : jump post-br-a }`,
    `delete element ${T} postrouting-out { "br-a" }`,
    `delete chain ${T} post-br-a`,
    '',
  ].join('\n'));
});

test('reload empties only the membership sets (published ports and DNAT stay)', () => {
  assert.equal(renderFlushMembership(), [
    `flush set ${T} bridges`, `flush set ${T} same-bridge`, `flush set ${T} icc`, `flush set ${T} internal`, '',
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
