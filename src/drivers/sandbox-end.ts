/**
 * The sandbox end of an endpoint, shared by the drivers whose interface appears inside the
 * sandbox under its final name (bridge: the veth peer; macvlan: the child): per-interface
 * sysctls, addresses, up, and the default routes through the network's gateway.
 */
import type { EndpointRecord, NetworkRecord } from '../model/records.js';
import { Rtnl } from '../kernel/netlink/index.js';
import { ifNameToIndex } from '../kernel/libc.js';
import { withNetnsFd } from '../kernel/netns.js';
import { writeSysctl } from '../kernel/sysctl.js';
import { conflict, invalid } from '../errors.js';
import type { JoinOptions, SandboxNs } from './contract.js';

/**
 * The sandbox end: per-interface sysctls, addresses, up, default route. One setns window
 * (its index, the sysctls and a netlink socket made there), then one sendmsg for the rest.
 */
/**
 * How often, and how many times, the sandbox's kernel asks for an address it has no
 * neighbour entry for (net.ipv4/ipv6.neigh.<if>.retrans_time_ms and mcast_solicit).
 * Absent: the kernel's defaults (1000 ms, 3 times).
 */
export interface NeighbourRetry {
  retransMs: number;
  solicit: number;
}

export function configureSandboxEnd(nsFd: number, net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions, retry?: NeighbourRetry): HeldSandboxEnd | undefined {
  // Held (JoinOptions.held): left down, and so without routes through it; the driver's
  // release brings it up, and returns the index and the socket made here, left open.
  if (opts.held && opts.gateway && !net.internal && (ep.gateway || ep.ipv6Gateway)) throw invalid('INVALID_JOIN', 'an endpoint that carries the default route cannot be joined held', 'gateway');
  const { index, rt } = withNetnsFd(nsFd, () => {
    const index = ifNameToIndex(ep.ifname);
    if (!index) throw conflict('ENDPOINT_LINK_MISSING', `interface ${ep.ifname} did not appear in sandbox ${sb.id}`);
    // Announce the address when the interface comes up (a gratuitous ARP, RFC 5227 §3;
    // kernel ip-sysctl.rst arp_notify/ndisc_notify): an address held by a removed sandbox
    // a moment ago is otherwise still cached with the old MAC by the host and the peers
    // (REACHABLE for up to ~45 s), and traffic to the new holder is black-holed meanwhile.
    // The thread is inside the sandbox's namespace here, so /proc/sys/net is its.
    if (ep.ipv4) writeSysctl(['net', 'ipv4', 'conf', ep.ifname, 'arp_notify'], '1');
    if (ep.ipv6) writeSysctl(['net', 'ipv6', 'conf', ep.ifname, 'disable_ipv6'], '0');
    if (ep.ipv6) writeSysctl(['net', 'ipv6', 'conf', ep.ifname, 'ndisc_notify'], '1');
    if (retry) {
      for (const fam of [ep.ipv4 && 'ipv4', ep.ipv6 && 'ipv6'].filter(Boolean) as string[]) {
        writeSysctl(['net', fam, 'neigh', ep.ifname, 'retrans_time_ms'], String(retry.retransMs));
        writeSysctl(['net', fam, 'neigh', ep.ifname, 'mcast_solicit'], String(retry.solicit));
      }
    }
    return { index, rt: Rtnl.open() };
  });
  try {
    rt.batch((b) => {
      if (ep.ipv4) b.addAddress(index, ep.ipv4);
      if (ep.ipv6) b.addAddress(index, ep.ipv6, { noDad: true });
      if (opts.held) return;
      b.setUp(index);
      // The route's gateway must be reachable through an up link: it comes after both.
      if (opts.gateway && !net.internal) for (const r of defaultRoutes(index, ep)) b.addRoute(r);
    });
  } catch (err) {
    rt.close();
    throw err;
  }
  if (opts.held) return { index, rt };
  rt.close();
  return undefined;
}

/**
 * A sandbox end configured held: its index and the netlink socket made in the sandbox's
 * namespace, kept open (the caller closes it) so that the release is one request, no setns.
 */
export interface HeldSandboxEnd {
  index: number;
  rt: Rtnl;
}

/** The endpoint's default routes (one per family with a gateway) through interface `oif`. */
export function defaultRoutes(oif: number, ep: EndpointRecord): { dst: 'default'; gateway: string; oif: number; family: 4 | 6 }[] {
  const wanted: { dst: 'default'; gateway: string; oif: number; family: 4 | 6 }[] = [];
  if (ep.ipv4 && ep.gateway) wanted.push({ dst: 'default', gateway: ep.gateway, oif, family: 4 });
  if (ep.ipv6 && ep.ipv6Gateway) wanted.push({ dst: 'default', gateway: ep.ipv6Gateway, oif, family: 6 });
  return wanted;
}

/**
 * The endpoint's interface in the sandbox is there, up, of `kind` (when given) and holds every
 * address in `cidrs` (undefined entries are skipped). A namespace that cannot be opened: not present.
 */
export function sandboxEndPresent(openRtnl: (nsPath: string) => Rtnl, sb: SandboxNs, ifname: string, kind: string | undefined, cidrs: readonly (string | undefined)[]): boolean {
  let rt: Rtnl;
  try {
    rt = openRtnl(sb.nsPath);
  } catch {
    return false;
  }
  try {
    const link = rt.getLink(ifname);
    if (!link || !link.up || (kind !== undefined && link.kind !== kind)) return false;
    const have = new Set(rt.listAddresses(link.index).map((a) => a.cidr));
    return cidrs.every((c) => c === undefined || have.has(c));
  } finally {
    rt.close();
  }
}
