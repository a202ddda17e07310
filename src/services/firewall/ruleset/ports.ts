/**
 * Published ports in `table inet switchyard`: elements only, never rules. Pure.
 *
 * Per-port elements are first built as structured operations (addPortOps, deletePortOps:
 * ElementOp of kernel/nft-elements.ts); their text is rendered from those, and the
 * firewall's fast path encodes the very same operations as nfnetlink bytes, so the two
 * paths cannot name different elements.
 */
import { invalid } from '../../../errors.js';
import type { ElementOp, ElementPart } from '../../../kernel/nft-elements.js';
import { addThenDelete, bySet, elementText, elementWithData, isFamilyAddr, lines, uniqueOps } from './elements.js';
import { FAMILY, NAMES, TABLE } from './names.js';

const T = `${FAMILY} ${TABLE}`;

export type PortProto = 'tcp' | 'udp' | 'sctp';

/** One published host port as the table sees it. */
export interface PortElement {
  family: 4 | 6;
  /** The host address that answers, or '' for every local address of the family (the -any map). */
  hostIp: string;
  proto: PortProto;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** The forward filter's view of a published port: the container end only. */
export type PublishedElement = Pick<PortElement, 'family' | 'containerIp' | 'proto' | 'containerPort'>;

/**
 * Adds the DNAT and published elements of `ports` (one `add element` statement per map,
 * whatever the number of ports). `add` of an element already there with the same data is
 * a no-op, so restoring is idempotent; the same key with other data fails the whole
 * transaction (EBUSY), which is how a stale element is noticed.
 */
export function renderAddPorts(ports: PortElement[]): string {
  return lines(...[...bySet(addPortOps(ports))].map(([set, ops]) => `add element ${T} ${set} { ${ops.map(elementWithData).join(', ')} }`));
}

/**
 * Removes the DNAT elements of `ports` and the given published elements. Idempotent, like
 * the network removals: each element is added (with its data) then deleted in the same
 * transaction, since nft 1.0.6 has no `destroy`.
 */
export function renderDeletePorts(ports: PortElement[], published: PublishedElement[]): string {
  const out: string[] = [];
  for (const [set, ops] of bySet(uniqueOps([...ports.map(dnatOp), ...published.map(publishedOp)]))) {
    out.push(`add element ${T} ${set} { ${ops.map(elementWithData).join(', ')} }`);
    out.push(`delete element ${T} ${set} { ${ops.map((o) => elementText(o.key)).join(', ')} }`);
  }
  return out.length ? lines(...out) : '';
}

/** Deletes one DNAT key whatever its data (used to clear an element left by a crash). */
export function renderDeleteDnatKey(port: PortElement): string {
  const o = dnatOp(port);
  return lines(`delete element ${T} ${o.set} { ${elementText(o.key)} }`);
}

/** The DNAT map element of a binding as text (`map key : data`); equal strings mean the same element. */
export function dnatKey(p: PortElement): string {
  const o = dnatOp(p);
  return `${o.set} ${elementWithData(o)}`;
}

/** The published set key of a port; equal strings mean the same element. */
export function publishedKey(p: PublishedElement): string {
  return `${p.family === 4 ? NAMES.published4 : NAMES.published6} ${p.containerIp} . ${p.proto} . ${p.containerPort}`;
}

/**
 * The elements of renderAddPorts as structured operations (the fast path encodes these):
 * each DNAT key once (the last binding given for a key wins) and each published element once.
 */
export function addPortOps(ports: PortElement[]): ElementOp[] {
  return [...uniqueOps(ports.map(dnatOp)), ...uniqueOps(ports.map(publishedOp))];
}

/** renderDeletePorts' elements: all added (with their data), then all deleted. */
export function deletePortOps(ports: PortElement[], published: PublishedElement[]): ElementOp[] {
  return addThenDelete(uniqueOps([...ports.map(dnatOp), ...published.map(publishedOp)]));
}

const addrPart = (family: 4 | 6, ip: string): ElementPart => (family === 4 ? { ipv4: ip } : { ipv6: ip });

/** The DNAT map element of a binding: (host address .) proto . host port : container address . port. */
function dnatOp(p: PortElement): ElementOp {
  validatePort(p);
  const data: ElementPart[] = [addrPart(p.family, p.containerIp), { port: p.containerPort }];
  const any = p.hostIp === '';
  const set = any ? (p.family === 4 ? NAMES.dnat4Any : NAMES.dnat6Any) : p.family === 4 ? NAMES.dnat4 : NAMES.dnat6;
  const key: ElementPart[] = [...(any ? [] : [addrPart(p.family, p.hostIp)]), { proto: p.proto }, { port: p.hostPort }];
  return { op: 'add', family: FAMILY, table: TABLE, set, key, data };
}

function publishedOp(p: PublishedElement): ElementOp {
  validatePublished(p);
  const set = p.family === 4 ? NAMES.published4 : NAMES.published6;
  return { op: 'add', family: FAMILY, table: TABLE, set, key: [addrPart(p.family, p.containerIp), { proto: p.proto }, { port: p.containerPort }] };
}



const PROTOS: readonly string[] = ['tcp', 'udp', 'sctp'];
const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;

/** Everything below is pasted into nft text, so it is checked first. */
function validatePublished(p: PublishedElement): void {
  if (!PROTOS.includes(p.proto)) throw invalid('FIREWALL_INVALID_PORT', `protocol "${p.proto}" is not tcp, udp or sctp`, 'proto');
  if (!isPort(p.containerPort)) throw invalid('FIREWALL_INVALID_PORT', `container port ${p.containerPort} is not 1-65535`, 'containerPort');
  if (!isFamilyAddr(p.family, p.containerIp)) throw invalid('FIREWALL_INVALID_PORT', `container address "${p.containerIp}" is not an IPv${p.family} address`, 'containerIp');
}

function validatePort(p: PortElement): void {
  validatePublished(p);
  if (!isPort(p.hostPort)) throw invalid('FIREWALL_INVALID_PORT', `host port ${p.hostPort} is not 1-65535`, 'hostPort');
  if (p.hostIp !== '' && !isFamilyAddr(p.family, p.hostIp)) throw invalid('FIREWALL_INVALID_PORT', `host address "${p.hostIp}" is not an IPv${p.family} address`, 'hostIp');
}
