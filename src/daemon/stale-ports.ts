/**
 * Published-port elements that no record explains, found at start. A daemon killed
 * between installing a sandbox's DNAT elements and recording its ports (sandbox start,
 * engine/sandbox-ops.ts bringUp) leaves elements that send a host port to an address
 * whose sandbox does not publish it: the host port is not reserved any more, and the
 * address may be handed to another sandbox next. Found by the chaos runner
 * (test/reliability, docs/RELIABILITY.md).
 */
import type { Nft } from '../kernel/nftables.js';
import type { EngineState } from '../engine/state.js';
import type { PortElement, PublishedElement } from '../services/firewall/firewall.js';

const TABLE = 'inet switchyard';
const wildcard = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

type Proto = PortElement['proto'];

/** The elements the running sandboxes' records call for, as `map key : data` texts. */
function wantedElements(state: EngineState): Set<string> {
  const out = new Set<string>();
  for (const sb of state.sandboxes.values()) {
    if (sb.state.status !== 'running') continue;
    for (const b of sb.ports) {
      const v6 = b.hostIp.includes(':') || b.containerIp.includes(':');
      const map = `dnat${v6 ? 6 : 4}${wildcard(b.hostIp) ? '-any' : ''}`;
      const key = wildcard(b.hostIp) ? `${b.proto} . ${b.hostPort}` : `${b.hostIp} . ${b.proto} . ${b.hostPort}`;
      out.add(`${map} ${key} : ${b.containerIp} . ${b.containerPort}`);
      out.add(`published${v6 ? 6 : 4} ${b.containerIp} . ${b.proto} . ${b.containerPort}`);
    }
  }
  return out;
}

function elementsOf(nft: Nft, kind: 'map' | 'set', name: string): unknown[][] {
  try {
    const listing = nft.listJson(`${kind} ${TABLE} ${name}`);
    const obj = listing.nftables.map((e) => e[kind] as { elem?: unknown[] } | undefined).find(Boolean);
    return (obj?.elem ?? []).map((e) => {
      const parts = (Array.isArray(e) ? e : [e]).map((p) => {
        const v = (p as { elem?: { val?: unknown } }).elem?.val ?? p;
        return ((v as { concat?: unknown[] }).concat ?? [v]) as unknown[];
      });
      return parts.flat();
    });
  } catch {
    return []; // no table or no such map: nothing stale in it
  }
}

/** DNAT and published elements in the table that no running sandbox's record explains. */
export function stalePortElements(nft: Nft, state: EngineState): { ports: PortElement[]; published: PublishedElement[] } {
  const wanted = wantedElements(state);
  const ports: PortElement[] = [];
  const published: PublishedElement[] = [];
  for (const family of [4, 6] as const) {
    for (const any of [false, true]) {
      const map = `dnat${family}${any ? '-any' : ''}`;
      for (const e of elementsOf(nft, 'map', map)) {
        const [hostIp, proto, hostPort, containerIp, containerPort] = any ? ['', ...e] : e;
        const key = any ? `${proto} . ${hostPort}` : `${hostIp} . ${proto} . ${hostPort}`;
        if (wanted.has(`${map} ${key} : ${containerIp} . ${containerPort}`)) continue;
        ports.push({ family, hostIp: String(hostIp), proto: proto as Proto, hostPort: Number(hostPort), containerIp: String(containerIp), containerPort: Number(containerPort) });
      }
      if (any) continue;
      for (const [containerIp, proto, containerPort] of elementsOf(nft, 'set', `published${family}`)) {
        if (wanted.has(`published${family} ${containerIp} . ${proto} . ${containerPort}`)) continue;
        published.push({ family, containerIp: String(containerIp), proto: proto as Proto, containerPort: Number(containerPort) });
      }
    }
  }
  return { ports, published };
}
