/**
 * The firewall's set and map elements as structured operations (kernel/nft-elements.ts),
 * for the fast path that writes them over nfnetlink instead of through libnftables text.
 * Pure. Each function mirrors a renderer of ruleset.ts element for element (the
 * integration test firewall-elements.test.ts loads both ways and compares the listings);
 * the firewall renders the text first anyway, which validates the input, and falls back to
 * it whenever the fast path refuses.
 */
import type { ElementOp, ElementPart } from '../../kernel/nft-elements.js';
import { ipToBytes } from '../../kernel/netlink/address-codec.js';
import {
  ANTISPOOF, BRIDGE_FAMILY, FAMILY, NAMES, TABLE, antiSpoofIpv6, type AntiSpoofEndpoint, type PortElement, type PublishedElement,
} from './ruleset.js';

const inet = (op: 'add' | 'delete', set: string, key: ElementPart[], data?: ElementPart[]): ElementOp =>
  ({ op, family: FAMILY, table: TABLE, set, key, ...(data ? { data } : {}) });
const bridge = (op: 'add' | 'delete', set: string, key: ElementPart[]): ElementOp =>
  ({ op, family: BRIDGE_FAMILY, table: TABLE, set, key });

const addr = (family: 4 | 6, ip: string): ElementPart => (family === 4 ? { ipv4: ip } : { ipv6: ip });

function dnatOp(op: 'add' | 'delete', p: PortElement): ElementOp {
  const data: ElementPart[] = [addr(p.family, p.containerIp), { port: p.containerPort }];
  if (p.hostIp === '') return inet(op, p.family === 4 ? NAMES.dnat4Any : NAMES.dnat6Any, [{ proto: p.proto }, { port: p.hostPort }], data);
  return inet(op, p.family === 4 ? NAMES.dnat4 : NAMES.dnat6, [addr(p.family, p.hostIp), { proto: p.proto }, { port: p.hostPort }], data);
}

function publishedOp(op: 'add' | 'delete', p: PublishedElement): ElementOp {
  return inet(op, p.family === 4 ? NAMES.published4 : NAMES.published6, [addr(p.family, p.containerIp), { proto: p.proto }, { port: p.containerPort }]);
}

/** The elements of renderAddPorts: each DNAT key (the last one given wins, as there) and each published element. */
export function addPortOps(ports: PortElement[]): ElementOp[] {
  const dnat = new Map<string, ElementOp>();
  const published = new Map<string, ElementOp>();
  for (const p of ports) {
    dnat.set(`${p.family}|${p.hostIp}|${p.proto}|${p.hostPort}`, dnatOp('add', p));
    published.set(`${p.family}|${p.containerIp}|${p.proto}|${p.containerPort}`, publishedOp('add', p));
  }
  return [...dnat.values(), ...published.values()];
}

/** renderDeletePorts: every element added (with its data) then deleted, so "already gone" is success. */
export function deletePortOps(ports: PortElement[], published: PublishedElement[]): ElementOp[] {
  // All adds, then all deletes: the same outcome as pairwise, in fewer messages.
  const adds = [...ports.map((p) => dnatOp('add', p)), ...published.map((p) => publishedOp('add', p))];
  return [...adds, ...adds.map((o) => ({ ...o, op: 'delete' as const }))];
}

/** renderAddEndpoint's elements. */
export function antiSpoofOps(e: AntiSpoofEndpoint): ElementOp[] {
  const key: ElementPart[] = [{ ifname: e.port }, { ether: e.mac.toLowerCase() }];
  const own = antiSpoofIpv6(e); // the global address and the EUI-64 link-local, as the text has them
  return [
    bridge('add', ANTISPOOF.mac, key),
    ...(e.ipv4 !== undefined ? [bridge('add', ANTISPOOF.ip4, [...key, { ipv4: e.ipv4 }])] : []),
    ...own.map((a) => bridge('add', ANTISPOOF.ip6, [...key, { ipv6: a }])),
    // The nd6 key's last part is a raw 128-bit payload: the address's bytes.
    ...own.map((a) => bridge('add', ANTISPOOF.nd6, [...key, { raw: ipToBytes(a) }])),
    bridge('add', ANTISPOOF.ports, [{ ifname: e.port }]),
  ];
}

/** renderDeleteEndpoint's elements: added then deleted. */
export function deleteAntiSpoofOps(e: AntiSpoofEndpoint): ElementOp[] {
  const adds = antiSpoofOps(e);
  return [...adds, ...adds.map((o) => ({ ...o, op: 'delete' as const }))];
}
