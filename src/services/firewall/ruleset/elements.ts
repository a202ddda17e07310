/**
 * What every part of the ruleset shares: input validation (everything rendered is pasted
 * into nft text, so it is checked first), element text, and the shape of a base chain.
 * Pure.
 */
import { invalid } from '../../../errors.js';
import type { ElementOp, ElementPart } from '../../../kernel/nft-elements.js';
import { formatCidrAddress, tryParseCidr, tryParseIp, type Cidr } from '../../../model/ip.js';

/**
 * Bridge names become part of chain names and quoted strings in nft text, so only the
 * characters Linux and Docker use in them are allowed (no quotes, spaces or braces).
 */
const BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function validateBridge(bridge: string, field = 'bridge'): void {
  if (!BRIDGE_NAME.test(bridge)) {
    throw invalid('FIREWALL_INVALID_BRIDGE', `bridge name "${bridge}" is not a valid interface name (1-15 of [A-Za-z0-9_.-], starting with a letter or digit)`, field);
  }
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A MAC address in nft's form (lower case), or FIREWALL_INVALID_ENDPOINT naming `mac`. */
export function canonicalMac(mac: string): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw invalid('FIREWALL_INVALID_ENDPOINT', `MAC address "${mac}" is not six colon-separated hex bytes`, 'mac');
  return m;
}

/** A parsed subnet: its text as written (canonical case) and the masked prefix. */
export interface SubnetText {
  text: string;
  cidr: Cidr;
}

/** Splits CIDRs by family (model/ip.ts parses them), rejecting anything that is not a CIDR. */
export function parseSubnets(subnets: string[], field = 'subnets'): { v4: SubnetText[]; v6: SubnetText[] } {
  const v4: SubnetText[] = [];
  const v6: SubnetText[] = [];
  subnets.forEach((text, i) => {
    const cidr = tryParseCidr(text);
    if (!cidr) throw invalid('FIREWALL_INVALID_SUBNET', `"${text}" is not an IPv4 or IPv6 CIDR`, `${field}[${i}]`);
    (cidr.family === 4 ? v4 : v6).push({ text: formatCidrAddress(cidr), cidr });
  });
  return { v4, v6 };
}

/** Splits CIDRs by family as text (IPv6 in canonical lower case). */
export function splitSubnets(subnets: string[], field = 'subnets'): { v4: string[]; v6: string[] } {
  const { v4, v6 } = parseSubnets(subnets, field);
  return { v4: v4.map((s) => s.text), v6: v6.map((s) => s.text) };
}

/** Is `text` an address of that family? (model/ip.ts; no zones, no prefixes) */
export function isFamilyAddr(family: 4 | 6, text: string): boolean {
  return tryParseIp(text)?.family === family && !text.includes('%') && !text.includes('/');
}

/** nft's text for an element key or value: its parts joined by ` . `. */
export function elementText(parts: ElementPart[]): string {
  return parts
    .map((p) => {
      if ('ifname' in p) return `"${p.ifname}"`;
      if ('ether' in p) return p.ether;
      if ('ipv4' in p) return p.ipv4;
      if ('ipv6' in p) return p.ipv6;
      if ('proto' in p) return p.proto;
      if ('port' in p) return String(p.port);
      return `0x${p.raw.toString('hex')}`;
    })
    .join(' . ');
}

export const elementWithData = (o: ElementOp): string => (o.data ? `${elementText(o.key)} : ${elementText(o.data)}` : elementText(o.key));

/** One op per (set, key), in first-seen order; a later one's data wins. */
export function uniqueOps(ops: ElementOp[]): ElementOp[] {
  const seen = new Map<string, ElementOp>();
  for (const o of ops) seen.set(`${o.set} ${elementText(o.key)}`, o);
  return [...seen.values()];
}

/** Ops grouped by set, sets and elements in first-seen order. */
export function bySet(ops: ElementOp[]): Map<string, ElementOp[]> {
  const out = new Map<string, ElementOp[]>();
  for (const o of ops) out.set(o.set, [...(out.get(o.set) ?? []), o]);
  return out;
}

/**
 * `ops` added, then deleted, in one transaction: removal where "already gone" is success,
 * since nft 1.0.6 has no `destroy` command (added in 1.0.8).
 */
export function addThenDelete(ops: ElementOp[]): ElementOp[] {
  return [...ops, ...ops.map((o) => ({ ...o, op: 'delete' as const }))];
}

/**
 * A chain (created if missing; a base chain when `spec` gives its hook) whose own rules are
 * flushed and written again, in both tables.
 */
export function filledChain(table: string, name: string, spec: string | undefined, rules: string[]): string[] {
  const add = spec === undefined ? `add chain ${table} ${name}` : `add chain ${table} ${name} { ${spec} }`;
  return [add, `flush chain ${table} ${name}`, ...rules.map((r) => `add rule ${table} ${name} ${r}`)];
}

/** Commands as one nft transaction text. */
export function lines(...cmds: string[]): string {
  return cmds.join('\n') + '\n';
}
