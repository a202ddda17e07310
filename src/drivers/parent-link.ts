/**
 * What the macvlan and ipvlan drivers share: the parent link their children hang off, and
 * the host-side interface that lets the host reach its own children. Docker's semantics
 * (moby v28.5.2 libnetwork/drivers/{macvlan,ipvlan}: *_network.go, *_setup.go):
 *
 * - `parent=IF` that exists is used as it is and never changed or deleted.
 * - `parent=IF.VLAN` that does not exist is made as an 802.1q sub-interface of IF (VLAN ID
 *   1-4094, Docker's name check and messages), up, and deleted with the last network that
 *   uses it. It carries the alias `switchyard:<driver>-vlan`, so a crash between the removal
 *   of the last record and the deletion leaves a link that reconcile's garbage collection
 *   recognises (ownsLink) and removes, since no record lists it any more (networkLinks).
 * - No parent, or `--internal` (a given parent is then left untouched, as libnetwork before
 *   28 made its dummy): a dummy link of the network's own (Docker's names `dm-<id12>` for
 *   macvlan, `di-<id12>` for ipvlan), alias `switchyard:<driver>-dummy:<id12>`, its MAC
 *   from the network's id (dummyMac):
 *   the children reach each other and nothing else, and the sandboxes get no route via a
 *   gateway (ipvlan L3 keeps its route out of the interface, as Docker: child-driver.ts).
 * - Sharing (planNetwork): several macvlan networks may share a parent, except in passthru
 *   mode; an ipvlan network takes its parent alone; a parent never carries both kinds (the
 *   kernel gives a device one rx handler).
 * - The host-side interface (`-o com.switchyard.host_interface=true`): a macvlan (bridge
 *   mode) or ipvlan (the network's mode) child of the parent in the host's namespace,
 *   `syh<id12>`, holding the pools' aux addresses named `host` as /32 and /128, and a host
 *   route to every joined endpoint's addresses through it.
 *
 * Which networks use a made VLAN parent is counted from the records: the engine calls
 * ensureNetwork for every network record at create and at start-up (reconcile), and
 * deleteNetwork when one goes; the driver keeps that set per parent name.
 */
import type { EndpointRecord, IpvlanNetworkState, MacvlanNetworkState, NetworkRecord } from '../model/records.js';
import type { HostLink } from './contract.js';
import { NetlinkError, Rtnl, type LinkKindSpec, type TypedLinkSpec } from '../kernel/netlink/index.js';
import { SwitchyardError, conflict, internal, invalid, unavailable } from '../errors.js';
import { HOST_INTERFACE_OPT } from '../model/driver-options.js';

export type ParentDriver = 'macvlan' | 'ipvlan';
type ParentState = MacvlanNetworkState | IpvlanNetworkState;

const PARENT_FIELD = 'Options.parent';
const HOST_FIELD = `Options.${HOST_INTERFACE_OPT}`;

export function parentStateOf(net: NetworkRecord, driver: ParentDriver): ParentState {
  if (net.state.driver !== driver) throw internal('NOT_A_PARENT_NETWORK', `network ${net.name} is not a ${driver} network (driver ${net.driver})`);
  return net.state as ParentState;
}

/** Where a network's children hang: a link that exists (or must), or one Switchyard makes. */
export type ParentPlan =
  | { kind: 'given'; name: string }
  | { kind: 'dummy'; name: string; alias: string };

/** The parent a network's children hang off (pure: the record decides). */
export function parentPlan(net: NetworkRecord, driver: ParentDriver): ParentPlan {
  const { parent } = parentStateOf(net, driver).options;
  // --internal: the dummy even when a parent is given (that one is left untouched).
  if (parent !== undefined && !net.internal) return { kind: 'given', name: parent };
  const id12 = net.id.slice(0, 12);
  return { kind: 'dummy', name: `${driver === 'macvlan' ? 'dm' : 'di'}-${id12}`, alias: `switchyard:${driver}-dummy:${id12}` };
}

/**
 * A dummy parent's MAC, from the network's id (locally administered, unicast): the same
 * after the dummy is made again (reconcile after a reboot), so the MAC recorded for an
 * ipvlan endpoint (its parent's) stays true.
 */
export function dummyMac(net: NetworkRecord): string {
  const hex = net.id.slice(0, 10).padEnd(10, '0');
  return ['02', ...hex.match(/../g)!].join(':');
}

/** A dummy parent: the network is cut off (no route via a gateway, no way out). */
export const isolated = (net: NetworkRecord, driver: ParentDriver): boolean => net.internal || parentPlan(net, driver).kind === 'dummy';

/**
 * Docker's parseVlan/createVlanLink checks on a parent that does not exist, with its
 * messages: `IF.VID`, one dot, VID an integer 1-4094. Pure; the base's existence is
 * checked by the caller.
 */
export function parseVlanParent(name: string): { base: string; id: number } {
  const bad = (msg: string) => invalid('INVALID_VLAN_PARENT', `option parent: ${msg}`, PARENT_FIELD);
  if (!name.includes('.')) throw bad(`invalid subinterface vlan name ${name}, example formatting is eth0.10`);
  const parts = name.split('.');
  if (parts.length !== 2) throw bad(`required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received ${name}`);
  const [base, vid] = parts as [string, string];
  if (!/^[+-]?[0-9]{1,9}$/.test(vid)) throw bad(`unable to parse a valid vlan id from: ${vid} (ex. eth0.10 for vlan 10)`);
  const id = Number(vid);
  if (base === '') throw bad(`-o parent interface was not found on the host: ${base}`);
  if (id < 1 || id > 4094) throw bad(`vlan id must be between 1-4094, received: ${id}`);
  return { base, id };
}

/** Docker's rules for sharing a parent between networks (planNetwork; the others as records). */
export function checkParentSharing(driver: ParentDriver, options: ParentState['options'], others: readonly NetworkRecord[], internal = false): void {
  const parent = options.parent;
  if (parent === undefined || internal) return; // a dummy parent is the network's own
  for (const n of others) {
    if ((n.state.driver !== 'macvlan' && n.state.driver !== 'ipvlan') || n.internal || n.state.options.parent !== parent) continue;
    const inUse = (why: string) => {
      const msg = `network ${n.name} is already using parent interface ${parent} (${why})`;
      return driver === 'macvlan' ? conflict('MACVLAN_PARENT_IN_USE', msg) : conflict('IPVLAN_PARENT_IN_USE', msg);
    };
    if (n.state.driver !== driver) throw inUse('a parent carries macvlan or ipvlan children, not both');
    if (driver === 'ipvlan') throw inUse('an ipvlan network takes its parent alone');
    if (options.driver === 'macvlan' && (options.mode === 'passthru' || (n.state.driver === 'macvlan' && n.state.options.mode === 'passthru'))) {
      throw inUse('a passthru macvlan network takes its parent alone');
    }
  }
}

/** The host-side interface's name (15 bytes: `syh` + 12 hex). */
export const hostInterfaceName = (net: NetworkRecord): string => `syh${net.id.slice(0, 12)}`;

/** The host-side interface's addresses: the aux addresses named `host`, as /32 and /128. */
export function hostInterfaceAddresses(net: NetworkRecord): string[] {
  const out: string[] = [];
  for (const p of net.pools) {
    const a = p.auxAddresses?.['host'];
    if (a) out.push(`${a}/${a.includes(':') ? 128 : 32}`);
  }
  return out;
}

/** The endpoint's host routes through the host-side interface (its addresses as /32 and /128). */
export function hostRoutes(ep: EndpointRecord, oif: number): { dst: string; oif: number }[] {
  const out: { dst: string; oif: number }[] = [];
  if (ep.ipv4) out.push({ dst: `${ep.ipv4.split('/')[0]}/32`, oif });
  if (ep.ipv6) out.push({ dst: `${ep.ipv6.split('/')[0]}/128`, oif });
  return out;
}

export interface ParentLinksOptions {
  driver: ParentDriver;
  /** rtnetlink in the daemon's ("host") namespace, where the parents are. */
  rtnl: Rtnl;
  log: (msg: string) => void;
}

/** The parent links and host-side interfaces of one driver's networks, in the host's namespace. */
export class ParentLinks {
  /** Made-VLAN parent name → ids of the networks that use it (from ensureNetwork calls). */
  private readonly users = new Map<string, Set<string>>();
  private readonly vlanAlias: string;
  private readonly hostAlias: string;

  constructor(private readonly o: ParentLinksOptions) {
    this.vlanAlias = `switchyard:${o.driver}-vlan`;
    this.hostAlias = `switchyard:${o.driver}-host:`;
  }

  /** The parent's ifindex now (it must exist: ensure made it). */
  index(net: NetworkRecord): number {
    const plan = parentPlan(net, this.o.driver);
    const link = this.o.rtnl.getLink(plan.name);
    if (link) return link.index;
    throw this.missing(plan.name);
  }

  private missing(name: string): SwitchyardError {
    const msg = `option parent: interface ${name} does not exist on the host`;
    return this.o.driver === 'macvlan' ? invalid('MACVLAN_PARENT_MISSING', msg, PARENT_FIELD) : invalid('IPVLAN_PARENT_MISSING', msg, PARENT_FIELD);
  }

  /**
   * Makes or verifies the network's parent (and host-side interface); returns the parent's
   * ifindex. A parent that existed before is only looked up.
   */
  ensure(net: NetworkRecord, hostChild: (parent: number) => LinkKindSpec): number {
    const plan = parentPlan(net, this.o.driver);
    const opts = parentStateOf(net, this.o.driver).options;
    if (opts.hostInterface) {
      if (plan.kind === 'dummy') throw invalid('HOST_INTERFACE_ISOLATED', `option ${HOST_INTERFACE_OPT}: a network on a dummy parent (no parent, or --internal) has no way out, and no host interface either`, HOST_FIELD);
      if (!hostInterfaceAddresses(net).length) {
        throw invalid('HOST_INTERFACE_ADDRESS', `option ${HOST_INTERFACE_OPT}: give the host's address on the network as an aux address named host (--aux-address host=ADDR, per subnet)`, HOST_FIELD);
      }
    }
    const parent = plan.kind === 'dummy' ? this.ensureDummy(net, plan) : this.ensureGiven(net, plan.name);
    if (opts.hostInterface) this.ensureHostInterface(net, hostChild(parent));
    return parent;
  }

  private ensureDummy(net: NetworkRecord, plan: { name: string; alias: string }): number {
    const have = this.o.rtnl.getLink(plan.name);
    if (have) {
      if (!have.up) this.o.rtnl.setLink(have.index, { up: true });
      return have.index;
    }
    return this.create({ kind: 'dummy', name: plan.name, alias: plan.alias, mac: dummyMac(net), up: true }, 'dummy');
  }

  /** The parent's MAC now (what an ipvlan slave carries); undefined while it does not exist. */
  mac(net: NetworkRecord): string | undefined {
    return this.o.rtnl.getLink(parentPlan(net, this.o.driver).name)?.mac || undefined;
  }

  /** Creates a link; a kernel without its kind (EOPNOTSUPP) is a clear error naming the module. */
  private create(spec: TypedLinkSpec, module: string): number {
    try {
      return this.o.rtnl.createTypedLink(spec).index;
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'NETLINK_EOPNOTSUPP') {
        throw unavailable('LINK_KIND_UNSUPPORTED', `this kernel cannot make the ${spec.kind} link ${spec.name} the ${this.o.driver} network needs (kernel module ${module})`, err);
      }
      throw err;
    }
  }

  private ensureGiven(net: NetworkRecord, name: string): number {
    const have = this.o.rtnl.getLink(name);
    if (have && have.alias !== this.vlanAlias) return have.index; // not ours: used as it is
    if (!have && !name.includes('.')) throw this.missing(name);
    const { base, id } = parseVlanParent(name);
    // Counted before the kernel is asked, so a failure below still leaves the count right.
    const users = this.users.get(name) ?? new Set<string>();
    users.add(net.id);
    this.users.set(name, users);
    if (have) {
      if (!have.up) this.o.rtnl.setLink(have.index, { up: true });
      return have.index;
    }
    const lower = this.o.rtnl.getLink(base);
    if (!lower) throw invalid('INVALID_VLAN_PARENT', `option parent: -o parent interface was not found on the host: ${base}`, PARENT_FIELD);
    this.o.log(`${this.o.driver} network ${net.name}: creating 802.1q parent ${name} (vlan ${id} on ${base})`);
    return this.create({ kind: 'vlan', parent: lower.index, id, name, alias: this.vlanAlias, up: true }, '8021q');
  }

  private ensureHostInterface(net: NetworkRecord, spec: LinkKindSpec): void {
    const name = hostInterfaceName(net);
    let link = this.o.rtnl.getLink(name);
    if (!link) {
      const index = this.create({ ...spec, name, alias: `${this.hostAlias}${net.id.slice(0, 12)}`, up: true } as TypedLinkSpec, spec.kind);
      link = this.o.rtnl.getLink(index)!;
    } else if (!link.up) {
      this.o.rtnl.setLink(link.index, { up: true });
    }
    for (const cidr of hostInterfaceAddresses(net)) this.o.rtnl.addAddress(link.index, cidr, cidr.includes(':') ? { noDad: true } : undefined);
  }

  /** The links in the host's namespace this network keeps (for reconcile's garbage collection). */
  wanted(net: NetworkRecord): string[] {
    let plan: ParentPlan;
    try {
      plan = parentPlan(net, this.o.driver);
    } catch {
      return [];
    }
    const out = [plan.name];
    if (parentStateOf(net, this.o.driver).options.hostInterface) out.push(hostInterfaceName(net));
    return out;
  }

  /** Links this driver made: its dummies, VLAN parents and host-side interfaces, by alias. */
  owns(link: HostLink): boolean {
    const a = link.alias ?? '';
    return a === this.vlanAlias || a.startsWith(`switchyard:${this.o.driver}-dummy:`) || a.startsWith(this.hostAlias);
  }

  /** Host routes to the endpoint through the host-side interface, if the network has one. */
  addHostRoutes(net: NetworkRecord, ep: EndpointRecord): void {
    if (!parentStateOf(net, this.o.driver).options.hostInterface) return;
    const link = this.o.rtnl.getLink(hostInterfaceName(net));
    if (!link) return;
    for (const r of hostRoutes(ep, link.index)) this.o.rtnl.addRoute(r);
  }

  removeHostRoutes(net: NetworkRecord, ep: EndpointRecord): void {
    if (!parentStateOf(net, this.o.driver).options.hostInterface) return;
    const link = this.o.rtnl.getLink(hostInterfaceName(net));
    if (!link) return;
    for (const r of hostRoutes(ep, link.index)) this.o.rtnl.deleteRoute(r);
  }

  /** True when the endpoint's host routes are in place (or the network has no host interface). */
  hostRoutesPresent(net: NetworkRecord, ep: EndpointRecord): boolean {
    if (!parentStateOf(net, this.o.driver).options.hostInterface) return true;
    const link = this.o.rtnl.getLink(hostInterfaceName(net));
    if (!link) return false;
    const want = hostRoutes(ep, link.index).map((r) => r.dst);
    const have = new Set([...this.o.rtnl.listRoutes(4), ...this.o.rtnl.listRoutes(6)].filter((r) => r.oif === link.index).map((r) => r.dst));
    return want.every((d) => have.has(d) || have.has(d.replace(/\/(32|128)$/, '')));
  }

  /**
   * Removes what the network made: its host interface, its dummy, and a VLAN parent Switchyard
   * made once no other network uses it. Already gone = success; a parent that existed before
   * (no Switchyard alias) is never deleted.
   */
  async release(net: NetworkRecord): Promise<void> {
    let plan: ParentPlan;
    try {
      plan = parentPlan(net, this.o.driver);
    } catch {
      return; // never planned a parent: nothing was made
    }
    if (parentStateOf(net, this.o.driver).options.hostInterface) await this.o.rtnl.deleteLinkAsync(hostInterfaceName(net));
    if (plan.kind === 'dummy') {
      const have = this.o.rtnl.getLink(plan.name);
      if (have && have.alias === plan.alias) await this.o.rtnl.deleteLinkAsync(plan.name);
      return;
    }
    const users = this.users.get(plan.name);
    users?.delete(net.id);
    if (users?.size) return;
    this.users.delete(plan.name);
    const have = this.o.rtnl.getLink(plan.name);
    if (!have || have.alias !== this.vlanAlias || !have.link) return;
    this.o.log(`${this.o.driver} network ${net.name}: deleting 802.1q parent ${plan.name} (no other network uses it)`);
    await this.o.rtnl.deleteLinkAsync(plan.name);
  }
}
