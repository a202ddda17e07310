/**
 * The per-port egress check (ruleset/port-guard.ts, kernel/nft-port-chain.ts), pure: the
 * text of `table netdev switchyard` (the bridge one's sets and check chain with the port key
 * swapped), the port's elements, and the golden bytes of the port chain's nfnetlink
 * messages. The same text and bytes are loaded into a real kernel, and the chain written as
 * bytes is compared expression by expression with the one nft makes from the text, in
 * test/integration/port-guard.test.ts.
 */
import { endianness } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import {
  deleteChainMessage, flushChainMessage, newChainMessage, portChainItems, portRuleMessages, type NetdevPortChain,
} from '../../src/kernel/nft-port-chain.js';
import { elementBatch } from '../../src/kernel/nft-elements.js';
import { nftBatch } from '../../src/kernel/nfnetlink.js';
import {
  antiSpoofOps, deleteAntiSpoofOps, deletePortGuardOps, portGuardChainSpec, portGuardOps, renderAntiSpoofBase, renderPortGuardBase,
  renderPortGuardChain,
} from '../../src/services/firewall/ruleset.js';

const N = 'netdev switchyard';
const ep = { port: 'eth1', mac: '02:42:0A:00:00:02', ipv4: '10.0.0.2', ipv6: 'fd00::2' };

test('port guard base: sets and check chain are exactly the bridge table\'s with iifname → oifname', () => {
  const part = (text: string, family: string) =>
    text.split('\n').filter((l) => l.startsWith(`add set ${family} `) || l.startsWith(`add rule ${family} switchyard antispoof `) || l.includes(' chain ') && l.endsWith(' antispoof'));
  const bridge = part(renderAntiSpoofBase(), 'bridge').map((l) => l.replace('bridge switchyard', N).replaceAll('iifname', 'oifname'));
  assert.equal(bridge.length, 5 + 2 + 11);
  assert.deepEqual(part(renderPortGuardBase(), 'netdev'), bridge);
  assert.equal(renderPortGuardBase().split('\n')[0], `add table ${N}`);
  assert.equal(renderPortGuardBase().split('\n').filter(Boolean).length, 1 + bridge.length, 'nothing else: no base chain, no fail-closed rule');
  assert.doesNotMatch(renderPortGuardBase(), /iifname|hook|UNKNOWN PORT|delete|flush (set|table|ruleset)/);
});

test('a port\'s chain as text: hook egress on its device, its own IPv4 and non-ICMPv6 IPv6 sources accepted at once, other checkable frames go to the check, the rest is dropped', () => {
  assert.equal(renderPortGuardChain('eth1'), [
    `add chain ${N} port-eth1 { type filter hook egress device "eth1" priority -300; policy accept; }`,
    `flush chain ${N} port-eth1`,
    `add rule ${N} port-eth1 meta protocol ip ether type ip oifname . ether saddr . ip saddr @endpoint-ip4 accept`,
    `add rule ${N} port-eth1 meta protocol ip6 ether type ip6 meta l4proto != ipv6-icmp oifname . ether saddr . ip6 saddr @endpoint-ip6 accept`,
    `add rule ${N} port-eth1 meta protocol arp ether type arp goto antispoof`,
    `add rule ${N} port-eth1 meta protocol ip ether type ip goto antispoof`,
    `add rule ${N} port-eth1 meta protocol ip6 ether type ip6 goto antispoof`,
    `add rule ${N} port-eth1 drop comment "UNCHECKABLE"`,
    '',
  ].join('\n'));
  assert.deepEqual(portGuardChainSpec('eth1'), {
    table: 'switchyard', chain: 'port-eth1', device: 'eth1', priority: -300, target: 'antispoof', dropComment: 'UNCHECKABLE',
    fastPath: { ip4Set: 'endpoint-ip4', ip6Set: 'endpoint-ip6' },
  });
  for (const bad of ['', 'a-name-of-16-chr', 'eth1"; flush', 'eth 1', '-eth', 'eth1\n']) {
    assert.throws(() => renderPortGuardChain(bad), (e: unknown) => e instanceof SwitchyardError && e.code === 'FIREWALL_INVALID_BRIDGE' && e.field === 'ifname', JSON.stringify(bad));
    assert.throws(() => portGuardChainSpec(bad), (e: unknown) => e instanceof SwitchyardError && e.field === 'ifname', JSON.stringify(bad));
  }
});

test('a port\'s elements: antiSpoofOps with family netdev, keyed on the device name in the sandbox', () => {
  const ops = portGuardOps(ep);
  assert.deepEqual(ops, antiSpoofOps(ep).map((o) => ({ ...o, family: 'netdev' })));
  assert.ok(ops.every((o) => o.family === 'netdev' && o.table === 'switchyard' && o.op === 'add'));
  assert.deepEqual(ops.map((o) => o.set), ['endpoint-mac', 'endpoint-ip4', 'endpoint-ip6', 'endpoint-ip6', 'endpoint-nd6', 'endpoint-nd6', 'ports']);
  assert.deepEqual(ops[0]!.key, [{ ifname: 'eth1' }, { ether: '02:42:0a:00:00:02' }]);
  assert.deepEqual(deletePortGuardOps(ep), deleteAntiSpoofOps(ep).map((o) => ({ ...o, family: 'netdev' })));
  assert.deepEqual(antiSpoofOps(ep, 'bridge'), antiSpoofOps(ep), 'the bridge family stays the default');
  // The bytes differ from the bridge table's only in nfgenmsg's family (NFPROTO_NETDEV = 5).
  const [, bridgeMsg] = elementBatch(antiSpoofOps(ep));
  const [, netdevMsg] = elementBatch(ops);
  assert.equal(bridgeMsg!.msg[16], 7);
  assert.equal(netdevMsg!.msg[16], 5);
  assert.deepEqual(netdevMsg!.msg.subarray(17), bridgeMsg!.msg.subarray(17));
  assert.throws(() => portGuardOps({ ...ep, port: 'eth1" }' }), (e: unknown) => e instanceof SwitchyardError && e.field === 'port');
});

const chain: NetdevPortChain = portGuardChainSpec('eth1');
const hex = (b: Buffer) => b.toString('hex');

test('the port chain\'s nfnetlink messages: golden bytes (linux/netfilter/nf_tables.h numbering, big-endian integers)', () => {
  const TABLE = '0f000100' + '7377697463687961726400' + '00'; // NFTA_*_TABLE "switchyard\0", padded
  const NAME = (type: string) => `0e00${type}00` + '706f72742d6574683100' + '0000'; // "port-eth1\0", padded
  const le32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return hex(b); };
  const head = (len: number, type: string, flags: string) => `${le32(len)}${type}0a${flags}` + '0000000000000000' + '05000000'; // nlmsghdr (seq/pid 0), nfgenmsg NFPROTO_NETDEV
  // NEWCHAIN, NLM_F_REQUEST|NLM_F_CREATE: table, name, hook {hooknum 1 (NF_NETDEV_EGRESS), priority -300, dev "eth1"}, policy 1 (NF_ACCEPT), type "filter".
  assert.equal(hex(newChainMessage(chain)),
    head(0x68, '03', '0104') + TABLE + NAME('03') +
    '20000480' + '08000100' + '00000001' + '08000200' + 'fffffed4' + '09000300' + '6574683100000000' +
    '08000500' + '00000001' + '0b000700' + '66696c74657200' + '00');
  // DELRULE naming only table and chain: every rule of the chain (flush).
  assert.equal(hex(flushChainMessage(chain)), head(0x34, '08', '0100') + TABLE + NAME('02'));
  // DELCHAIN: recursive, the rules go with the chain.
  assert.equal(hex(deleteChainMessage(chain)), head(0x34, '05', '0100') + TABLE + NAME('03'));
  const rules = portRuleMessages(chain).map(hex);
  assert.equal(rules.length, 6);
  // NEWRULE, NLM_F_REQUEST|NLM_F_CREATE|NLM_F_APPEND. Expressions as nft 1.0.6 emits
  // `meta protocol arp ether type arp goto antispoof`; each is {name, data}; registers: 1 (NFT_REG_1), 0 (verdict).
  const expr = (len: string, name: string, dataLen: string, data: string) => `${len}000180` + name + `${dataLen}000280` + data;
  const meta = (key: string) => expr('24', '09000100' + '6d65746100000000', '14', '08000200' + key + '08000100' + '00000001');
  const cmp = (value: string) => expr('2c', '08000100' + '636d7000', '20', '08000100' + '00000001' + '08000200' + '00000000' + '0c000380' + '06000100' + value + '0000');
  const payloadAt = (dreg: string, base: string, offset: string, len: string) =>
    expr('34', '0c000100' + '7061796c6f616400', '24', '08000100' + dreg + '08000200' + base + '08000300' + offset + '08000400' + len);
  const payload = payloadAt('00000001', '00000000', '0000000c', '00000002'); // link layer + 12, 2 bytes (EtherType) → NFT_REG_1
  const imm = (len: string, dataLen: string, verdict: string) => expr(len, '0e000100' + '696d6d6564696174650000' + '00', dataLen, '08000100' + '00000000' + verdict);
  const gotoCheck = imm('40', '2c', '20000280' + '1c000280' + '08000100' + 'fffffffc' + '0e000200' + '616e746973706f6f6600' + '0000'); // NFT_GOTO (-4) "antispoof"
  const iiftypeEther = meta('00000008') + cmp(endianness() === 'LE' ? '0100' : '0001'); // NFT_META_IIFTYPE == ARPHRD_ETHER (a host-order u16)
  const gotoRule = (ethertype: string) =>
    head(0x178, '06', '010c') + TABLE + NAME('02') + '44010480' + meta('00000001') + cmp(ethertype) + iiftypeEther + payload + cmp(ethertype) + gotoCheck;
  assert.deepEqual(rules.slice(2, 5), ['0806', '0800', '86dd'].map(gotoRule), 'ARP, IPv4, IPv6: skb->protocol and the EtherType at link layer + 12 both equal');
  // The fast path, first: `meta protocol ip ether type ip oifname . ether saddr . ip saddr @endpoint-ip4 accept`
  // and its IPv6 twin with `meta l4proto != ipv6-icmp` (cmp NFT_CMP_NEQ, a 1-byte 58). The
  // concatenation's registers as nft lays them out: oifname (key 7) → 1, ether saddr (link
  // layer + 6, 6 bytes) → 2 (NFT_REG_2), the address (network header + 12, 4 bytes; + 8, 16
  // bytes) → 14 (NFT_REG32_06); then lookup {sreg 1, set "endpoint-ip4\0", set id 0}, and
  // immediate NF_ACCEPT (1).
  const neqIcmpv6 = expr('2c', '08000100' + '636d7000', '20', '08000100' + '00000001' + '08000200' + '00000001' + '0c000380' + '05000100' + '3a000000');
  const lookup = (set: string) => expr('38', '0b000100' + '6c6f6f6b757000' + '00', '28', '08000200' + '00000001' + '11000100' + Buffer.from(`${set}\0`).toString('hex') + '000000' + '08000400' + '00000000');
  const accept = imm('30', '1c', '10000280' + '0c000280' + '08000100' + '00000001');
  const ownSource = (ethertype: string) => meta('00000001') + cmp(ethertype) + iiftypeEther + payload + cmp(ethertype) + meta('00000007') + payloadAt('00000002', '00000000', '00000006', '00000006');
  assert.equal(rules[0], head(0x22c, '06', '010c') + TABLE + NAME('02') + 'f8010480' + ownSource('0800') + payloadAt('0000000e', '00000001', '0000000c', '00000004') + lookup('endpoint-ip4') + accept);
  assert.equal(rules[1], head(0x27c, '06', '010c') + TABLE + NAME('02') + '48020480' + meta('00000001') + cmp('86dd') + iiftypeEther + payload + cmp('86dd') + meta('00000010') + neqIcmpv6 +
    meta('00000007') + payloadAt('00000002', '00000000', '00000006', '00000006') + payloadAt('0000000e', '00000001', '00000008', '00000010') + lookup('endpoint-ip6') + accept);
  // The drop: immediate NF_DROP (0), and the comment as libnftnl's user data TLV (type 0, length 12, "UNCHECKABLE\0").
  assert.equal(rules[5], head(0x7c, '06', '010c') + TABLE + NAME('02') + '34000480' + imm('30', '1c', '10000280' + '0c000280' + '08000100' + '00000000') + '12000700' + '000c554e434845434b41424c4500' + '0000');
});

test('join is chain, flush, six rules; a batch brackets them; names are validated before anything is encoded', () => {
  const items = portChainItems(chain);
  assert.deepEqual(items.map((i) => i.msg.readUInt16LE(4)), [0x0a03, 0x0a08, 0x0a06, 0x0a06, 0x0a06, 0x0a06, 0x0a06, 0x0a06]);
  const batch = nftBatch(items);
  assert.equal(batch.length, items.length + 2);
  assert.ok(batch[0]!.unacked && batch.at(-1)!.unacked);
  assert.deepEqual([batch[0]!.msg.readUInt16LE(4), batch.at(-1)!.msg.readUInt16LE(4)], [0x10, 0x11]);
  const bad = (c: Partial<NetdevPortChain>, field: string) =>
    assert.throws(() => newChainMessage({ ...chain, ...c }), (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_INVALID_CHAIN' && e.field === field, field);
  bad({ device: 'a-name-of-16-chr' }, 'device');
  bad({ device: 'eth1\0' }, 'device');
  bad({ chain: 'port "x"' }, 'chain');
  bad({ target: '' }, 'target');
  bad({ priority: 2 ** 31 }, 'priority');
  bad({ dropComment: 'say "hi"' }, 'dropComment');
  bad({ fastPath: { ip4Set: 'endpoint-ip4', ip6Set: 'a set' } }, 'fastPath.ip6Set');
});
