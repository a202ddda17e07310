/**
 * A per-port netdev base chain written straight over nfnetlink: the anti-spoofing check on
 * a sandbox port's own egress hook (services/firewall/ruleset/port-guard.ts; docs/FIREWALL.md
 * "Per-port egress check (netdev family)"). Pure encoders; NftElements (kernel/nft-elements.ts)
 * sends them, with the port's set elements, as one transaction.
 *
 * Why bytes: the join path cannot afford libnftables' text parse and cache refresh. The
 * chain is always the same shape, so it is encoded here as nft 1.0.6 sends
 *
 *   add chain netdev <table> <chain> { type filter hook egress device "<dev>" priority <p>; policy accept; }
 *   flush chain netdev <table> <chain>
 *   add rule netdev <table> <chain> meta protocol ip ether type ip oifname . ether saddr . ip saddr @<ip4 set> accept
 *   add rule netdev <table> <chain> meta protocol ip6 ether type ip6 meta l4proto != ipv6-icmp oifname . ether saddr . ip6 saddr @<ip6 set> accept
 *   add rule netdev <table> <chain> meta protocol arp ether type arp goto <target>
 *   add rule netdev <table> <chain> meta protocol ip ether type ip goto <target>
 *   add rule netdev <table> <chain> meta protocol ip6 ether type ip6 goto <target>
 *   add rule netdev <table> <chain> drop comment "<comment>"
 *
 * i.e. NFT_MSG_NEWCHAIN (NLM_F_CREATE, no NLM_F_EXCL: an existing chain with the same hook
 * is kept), NFT_MSG_DELRULE naming only the chain (every rule of it: a re-join never stacks
 * rules), then NFT_MSG_NEWRULE, appended, per rule. Removal is NFT_MSG_DELCHAIN, which takes
 * the chain's rules with it (net/netfilter/nf_tables_api.c nf_tables_delchain).
 *
 * Why not a bare `jump <target>`: on the egress hook, unlike the bridge family, the check
 * chain's matches can silently fail to apply, and a failed match is a rule that does not
 * drop (measured on Linux 6.18, test/integration/port-guard.test.ts):
 * - a packet socket that names a protocol (sll_protocol) and sets PACKET_QDISC_BYPASS hands
 *   the frame to the hook with no link-layer header offset set (only __dev_queue_xmit, which
 *   the bypass skips, sets it), so every `ether …` match fails: forged frames passed;
 * - the netdev family parses the network and transport headers from skb->protocol, which
 *   such a socket chooses freely, not from the frame's EtherType (nft_do_chain_netdev): a
 *   router advertisement sent with skb->protocol ARP or IPv4 has no `icmpv6 type` and passed
 *   the RA guard.
 * So a frame enters the check only when its link-layer header reads and skb->protocol equals
 * its EtherType (one of the three the check allows); everything else is dropped.
 *
 * The two accept rules first are the check's fast path for the bulk of the traffic: an IPv4
 * frame, or an IPv6 one that is not ICMPv6, whose (port, source MAC, source address) is the
 * port's own in the check's sets. For such a frame the check itself ends without a drop (its
 * MAC rule holds, as each ip4/ip6 element carries the port's MAC, its ARP, ICMPv6 and other
 * family's rules do not apply), so accepting it at once changes no verdict; it saves the
 * dozen rules the check walks through per packet (measured: nft_do_chain's share of the CPU
 * on the overlay bench from 1.8 % to 1.0 %, docs/drivers/overlay.md "Speed"). A frame either
 * rule does not match, for whatever reason, goes on to the same gotos as before. `goto`, not
 * `jump`: when the check ends without a verdict (or `return`s), the frame takes the chain's
 * policy (accept) instead of falling through to the drop. `ether type` carries nft's own
 * dependency `meta iiftype ether` (ARPHRD_ETHER), encoded as nft does, so the listing of the
 * chain written here and of the text above are the same.
 *
 * Attribute and message numbers: the kernel's UAPI header linux/netfilter/nf_tables.h (enum
 * nf_tables_msg_types, nft_chain_attributes, nft_hook_attributes, nft_rule_attributes,
 * nft_list_attributes, nft_expr_attributes, nft_meta_attributes, nft_meta_keys,
 * nft_payload_attributes, nft_payload_bases, nft_lookup_attributes, nft_cmp_attributes, nft_cmp_ops,
 * nft_immediate_attributes, nft_data_attributes, nft_verdict_attributes, nft_registers,
 * nft_verdicts), linux/netfilter.h (NF_NETDEV_EGRESS, NF_ACCEPT, NF_DROP), linux/if_arp.h
 * (ARPHRD_ETHER), linux/if_ether.h (ETH_P_*) and linux/in.h (IPPROTO_ICMPV6). Integers in nf_tables attributes are big
 * endian; a rule comment is libnftnl's user data TLV (type 0 NFTNL_UDATA_RULE_COMMENT, length,
 * NUL-terminated text), which nft lists as `comment`.
 */
import { endianness } from 'node:os';
import { invalid } from '../errors.js';
import { NLA_F_NESTED, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, attr, encodeMessage, nestedAttr, strAttr } from './netlink/message.js';
import type { BatchItem } from './netlink/socket.js';
import { NFPROTO, nfgenmsg, nftType } from './nfnetlink.js';

// enum nf_tables_msg_types
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_DELCHAIN = 5;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_DELRULE = 8;
// enum nft_chain_attributes
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_POLICY = 5;
const NFTA_CHAIN_TYPE = 7;
// enum nft_hook_attributes
const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
const NFTA_HOOK_DEV = 3;
// enum nft_rule_attributes
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_RULE_USERDATA = 7;
// enum nft_list_attributes, nft_expr_attributes
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
// enum nft_meta_attributes, nft_meta_keys
const NFTA_META_DREG = 1;
const NFTA_META_KEY = 2;
const NFT_META_PROTOCOL = 1;
const NFT_META_OIFNAME = 7;
const NFT_META_IIFTYPE = 8;
const NFT_META_L4PROTO = 16;
// enum nft_payload_attributes, nft_payload_bases
const NFTA_PAYLOAD_DREG = 1;
const NFTA_PAYLOAD_BASE = 2;
const NFTA_PAYLOAD_OFFSET = 3;
const NFTA_PAYLOAD_LEN = 4;
const NFT_PAYLOAD_LL_HEADER = 0;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
// enum nft_lookup_attributes
const NFTA_LOOKUP_SET = 1;
const NFTA_LOOKUP_SREG = 2;
const NFTA_LOOKUP_SET_ID = 4;
// enum nft_cmp_attributes, nft_cmp_ops
const NFTA_CMP_SREG = 1;
const NFTA_CMP_OP = 2;
const NFTA_CMP_DATA = 3;
const NFT_CMP_EQ = 0;
const NFT_CMP_NEQ = 1;
// enum nft_immediate_attributes
const NFTA_IMMEDIATE_DREG = 1;
const NFTA_IMMEDIATE_DATA = 2;
// enum nft_data_attributes, nft_verdict_attributes, nft_registers, nft_verdicts
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const NFT_REG_2 = 2;
/** NFT_REG32_06: the 32-bit register after an ifname (4 words) and a MAC (2 words, padded) in a concatenation. */
const NFT_REG32_06 = 14;
const NFT_GOTO = -4;
// linux/netfilter.h: enum nf_dev_hooks, verdicts
export const NF_NETDEV_EGRESS = 1;
const NF_DROP = 0;
const NF_ACCEPT = 1;
// linux/if_arp.h, linux/if_ether.h
const ARPHRD_ETHER = 1;
const IPPROTO_ICMPV6 = 58;
/** The EtherTypes the check handles, in rule order: ARP, IPv4, IPv6. */
export const CHECKED_ETHERTYPES = [0x0806, 0x0800, 0x86dd] as const;
const NFTNL_UDATA_RULE_COMMENT = 0;

/** One port's egress chain: `chain` in `table netdev <table>`, hooked on `device`, handing checkable frames to `target`. */
export interface NetdevPortChain {
  table: string;
  chain: string;
  /** The device whose egress the chain hooks (the port's name in its namespace, e.g. `eth1`). */
  device: string;
  priority: number;
  /** The regular chain that checks a frame (`goto`). */
  target: string;
  /** The comment of the final drop rule (frames the check cannot read). */
  dropComment: string;
  /** The check's sets of (port . MAC . IPv4) and (port . MAC . IPv6) source addresses: the fast path's accept rules look up. */
  fastPath: { ip4Set: string; ip6Set: string };
}

/** Interface names as Linux and the nft text paths accept them: 1-15 of [A-Za-z0-9_.-], no leading punctuation. */
const DEVICE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
/** Table and chain names Switchyard writes (its own constants and `port-<device>`). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Comments: printable ASCII without quotes, at most 128 bytes (nft's own limit). */
const COMMENT = /^[ !#-~]{1,128}$/;

function validate(c: NetdevPortChain): void {
  if (!DEVICE.test(c.device)) throw invalid('NFT_INVALID_CHAIN', `device "${c.device}" is not a valid interface name (1-15 of [A-Za-z0-9_.-], starting with a letter or digit)`, 'device');
  if (!COMMENT.test(c.dropComment)) throw invalid('NFT_INVALID_CHAIN', `comment "${c.dropComment}" is not 1-128 printable characters without quotes`, 'dropComment');
  for (const f of ['table', 'chain', 'target'] as const) {
    if (!NAME.test(c[f])) throw invalid('NFT_INVALID_CHAIN', `${f} name "${c[f]}" is not 1-64 of [A-Za-z0-9_.-]`, f);
  }
  for (const f of ['ip4Set', 'ip6Set'] as const) {
    if (!NAME.test(c.fastPath[f])) throw invalid('NFT_INVALID_CHAIN', `set name "${c.fastPath[f]}" is not 1-64 of [A-Za-z0-9_.-]`, `fastPath.${f}`);
  }
  if (!Number.isInteger(c.priority) || c.priority < -0x80000000 || c.priority > 0x7fffffff) {
    throw invalid('NFT_INVALID_CHAIN', `priority ${c.priority} is not a 32-bit integer`, 'priority');
  }
}

const be32 = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return attr(type, b);
};
const nest = (type: number, children: Buffer[]): Buffer => nestedAttr(type | NLA_F_NESTED, children);
const head = (msg: number, flags: number): { type: number; flags: number } => ({ type: nftType(msg), flags: NLM_F_REQUEST | flags });
const netdev = (): Buffer => nfgenmsg(NFPROTO.netdev);

/** NFT_MSG_NEWCHAIN: the base chain (type filter, hook egress on the device, policy accept); create or keep. */
export function newChainMessage(c: NetdevPortChain): Buffer {
  validate(c);
  return encodeMessage(head(NFT_MSG_NEWCHAIN, NLM_F_CREATE), [
    netdev(),
    strAttr(NFTA_CHAIN_TABLE, c.table),
    strAttr(NFTA_CHAIN_NAME, c.chain),
    nest(NFTA_CHAIN_HOOK, [be32(NFTA_HOOK_HOOKNUM, NF_NETDEV_EGRESS), be32(NFTA_HOOK_PRIORITY, c.priority), strAttr(NFTA_HOOK_DEV, c.device)]),
    be32(NFTA_CHAIN_POLICY, NF_ACCEPT),
    strAttr(NFTA_CHAIN_TYPE, 'filter'),
  ]);
}

/** NFT_MSG_DELRULE naming only the chain: every rule in it (`flush chain`). */
export function flushChainMessage(c: NetdevPortChain): Buffer {
  validate(c);
  return encodeMessage(head(NFT_MSG_DELRULE, 0), [netdev(), strAttr(NFTA_RULE_TABLE, c.table), strAttr(NFTA_RULE_CHAIN, c.chain)]);
}

const expr = (name: string, data: Buffer[]): Buffer => nest(NFTA_LIST_ELEM, [strAttr(NFTA_EXPR_NAME, name), nest(NFTA_EXPR_DATA, data)]);
const cmp = (op: number, value: Buffer): Buffer =>
  expr('cmp', [be32(NFTA_CMP_SREG, NFT_REG_1), be32(NFTA_CMP_OP, op), nest(NFTA_CMP_DATA, [attr(NFTA_DATA_VALUE, value)])]);
const cmpEq = (value: Buffer): Buffer => cmp(NFT_CMP_EQ, value);
const metaLoad = (key: number): Buffer => expr('meta', [be32(NFTA_META_KEY, key), be32(NFTA_META_DREG, NFT_REG_1)]);
const payloadLoad = (base: number, offset: number, len: number, dreg = NFT_REG_1): Buffer =>
  expr('payload', [be32(NFTA_PAYLOAD_DREG, dreg), be32(NFTA_PAYLOAD_BASE, base), be32(NFTA_PAYLOAD_OFFSET, offset), be32(NFTA_PAYLOAD_LEN, len)]);
/** A set look-up of the concatenation that starts in NFT_REG_1 (libnftnl sends the set's id too: 0 for a named set). */
const lookup = (set: string): Buffer => expr('lookup', [be32(NFTA_LOOKUP_SREG, NFT_REG_1), strAttr(NFTA_LOOKUP_SET, set), be32(NFTA_LOOKUP_SET_ID, 0)]);
const u16be = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const u16host = (v: number): Buffer => (endianness() === 'LE' ? Buffer.from([v & 0xff, v >> 8]) : u16be(v));
/** A verdict into the verdict register; `chain` for goto/jump. */
const verdict = (code: number, chain?: string): Buffer =>
  expr('immediate', [
    be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT),
    nest(NFTA_IMMEDIATE_DATA, [nest(NFTA_DATA_VERDICT, [be32(NFTA_VERDICT_CODE, code), ...(chain === undefined ? [] : [strAttr(NFTA_VERDICT_CHAIN, chain)])])]),
  ]);

/** `meta protocol <t> ether type <t>`, expression by expression as nft 1.0.6 emits it. */
function protocolIs(ethertype: number): Buffer[] {
  return [
    metaLoad(NFT_META_PROTOCOL),
    cmpEq(u16be(ethertype)), // skb->protocol, network order
    metaLoad(NFT_META_IIFTYPE), // nft's dependency of `ether …` in the netdev family
    cmpEq(u16host(ARPHRD_ETHER)), // dev->type, stored in the register as a host-order u16
    payloadLoad(NFT_PAYLOAD_LL_HEADER, 12, 2),
    cmpEq(u16be(ethertype)),
  ];
}

/** `meta protocol <t> ether type <t> goto <target>`. */
function gotoIfProtocol(c: NetdevPortChain, ethertype: number): Buffer[] {
  return [...protocolIs(ethertype), verdict(NFT_GOTO, c.target)];
}

/**
 * The fast path: `oifname . ether saddr . <ip|ip6> saddr @<set> accept` after the protocol
 * test (IPv6: and `meta l4proto != ipv6-icmp`), registers as nft lays out the
 * concatenation: the name in NFT_REG_1 (16 bytes), the MAC in NFT_REG_2, the address from
 * NFT_REG32_06 on.
 */
function acceptOwnSource(ethertype: 0x0800 | 0x86dd, set: string): Buffer[] {
  const v6 = ethertype === 0x86dd;
  return [
    ...protocolIs(ethertype),
    ...(v6 ? [metaLoad(NFT_META_L4PROTO), cmp(NFT_CMP_NEQ, Buffer.from([IPPROTO_ICMPV6]))] : []),
    metaLoad(NFT_META_OIFNAME),
    payloadLoad(NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG_2),
    v6 ? payloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 8, 16, NFT_REG32_06) : payloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG32_06),
    lookup(set),
    verdict(NF_ACCEPT),
  ];
}

/** A comment as libnftnl writes a rule's user data: one TLV (type, length, NUL-terminated text). */
function commentUserData(text: string): Buffer {
  const v = Buffer.from(`${text}\0`, 'latin1');
  return Buffer.concat([Buffer.from([NFTNL_UDATA_RULE_COMMENT, v.length]), v]);
}

function ruleMessage(c: NetdevPortChain, exprs: Buffer[], comment?: string): Buffer {
  return encodeMessage(head(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), [
    netdev(),
    strAttr(NFTA_RULE_TABLE, c.table),
    strAttr(NFTA_RULE_CHAIN, c.chain),
    nest(NFTA_RULE_EXPRESSIONS, exprs),
    ...(comment === undefined ? [] : [attr(NFTA_RULE_USERDATA, commentUserData(comment))]),
  ]);
}

/** NFT_MSG_NEWRULE, appended, for each rule of the chain: the two fast-path accepts, a goto per checked EtherType, then the drop. */
export function portRuleMessages(c: NetdevPortChain): Buffer[] {
  validate(c);
  return [
    ruleMessage(c, acceptOwnSource(0x0800, c.fastPath.ip4Set)),
    ruleMessage(c, acceptOwnSource(0x86dd, c.fastPath.ip6Set)),
    ...CHECKED_ETHERTYPES.map((t) => ruleMessage(c, gotoIfProtocol(c, t))),
    ruleMessage(c, [verdict(NF_DROP)], c.dropComment),
  ];
}

/** NFT_MSG_DELCHAIN (recursive: the chain's rules go with it). A missing chain or table is ENOENT. */
export function deleteChainMessage(c: NetdevPortChain): Buffer {
  validate(c);
  return encodeMessage(head(NFT_MSG_DELCHAIN, 0), [netdev(), strAttr(NFTA_CHAIN_TABLE, c.table), strAttr(NFTA_CHAIN_NAME, c.chain)]);
}

const where = (c: NetdevPortChain): string => `netdev ${c.table} ${c.chain}`;

/** The chain made (or kept) holding exactly its six rules: eight batch items, no markers. */
export function portChainItems(c: NetdevPortChain): BatchItem[] {
  return [
    { msg: newChainMessage(c), what: `add chain ${where(c)} (egress on ${c.device})` },
    { msg: flushChainMessage(c), what: `flush chain ${where(c)}` },
    ...portRuleMessages(c).map((msg, i) => ({ msg, what: `add rule ${i + 1} to ${where(c)}` })),
  ];
}

/** The chain deleted, with its rule: one batch item, no markers. */
export function deletePortChainItem(c: NetdevPortChain): BatchItem {
  return { msg: deleteChainMessage(c), what: `delete chain ${where(c)}` };
}
