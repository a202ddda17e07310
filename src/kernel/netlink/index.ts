/**
 * Rtnl: rtnetlink for one network namespace, through one in-process socket.
 *
 * Every call is synchronous (the kernel answers in microseconds) except those named
 * …Async, which are the ones with real kernel cost (veth deletion ~30 ms). A Rtnl
 * opened with a namespace path acts in that namespace for its whole life, whichever
 * namespace the calling thread is in (docs/notes/kernel-facts.md#sockets-keep-their-namespace).
 */
import * as addresses from './addresses.js';
import * as links from './links.js';
import * as neighbours from './neighbours.js';
import * as routes from './routes.js';
import { NetlinkSocket } from './socket.js';
import { RtnlBatch } from './batch.js';
import type { IpFamily } from './address-codec.js';

export type { AddressInfo, AddAddressOptions } from './addresses.js';
export type { BridgePortOptions, LinkInfo, LinkKindSpec, LinkRef, NewLinkOptions, SetLinkOptions, TypedLinkSpec, VethOptions } from './links.js';
export type { IpvlanFlag, IpvlanMode, KindData, MacvlanMode, VxlanData } from './link-kinds.js';
export type { FdbSpec, NeighbourEntry, NeighbourSpec } from './neighbours.js';
export type { RouteInfo, RouteSpec } from './routes.js';
export type { IpFamily } from './address-codec.js';
export { ipvlanInfoData, macvlanInfoData, vlanInfoData, vxlanInfoData, IPVLAN_FLAG, IPVLAN_MODE, MACVLAN_MODE } from './link-kinds.js';
export { RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_LOCAL, RT_TABLE_MAIN, RTPROT_BOOT, RTPROT_KERNEL } from './routes.js';
export { NetlinkError } from './message.js';
export { NetlinkSocket } from './socket.js';
export { RtnlBatch } from './batch.js';

export class Rtnl {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** rtnetlink in the namespace pinned at nsPath (the caller's own when omitted). */
  static open(nsPath?: string): Rtnl {
    return new Rtnl(NetlinkSocket.open(nsPath));
  }

  /** rtnetlink in the namespace open at nsFd (e.g. a sandbox's, already opened by the caller). */
  static openAt(nsFd: number): Rtnl {
    return new Rtnl(NetlinkSocket.openAt(nsFd));
  }

  /**
   * Runs the requests `build` adds in ONE sendmsg, in order (see RtnlBatch). All of them run
   * even if one fails; the first failure is thrown after.
   */
  batch(build: (b: RtnlBatch) => void): void {
    const b = new RtnlBatch();
    build(b);
    this.sock.requestBatch(b.items);
  }

  get nsPath(): string | undefined {
    return this.sock.nsPath;
  }

  close(): void {
    this.sock.close();
  }

  // links
  getLink(ref: links.LinkRef): links.LinkInfo | null {
    return links.getLink(this.sock, ref);
  }
  listLinks(): links.LinkInfo[] {
    return links.listLinks(this.sock);
  }
  /** Create-or-verify a bridge with a fixed MAC (`mac`, or a random local one). */
  ensureBridge(o: { name: string; mtu?: number; up?: boolean; mac?: string }): links.LinkInfo {
    return links.ensureBridge(this.sock, o);
  }
  /** One RTM_NEWLINK: host end here (master/up), peer directly inside peer.nsFd's namespace. */
  createVeth(o: links.VethOptions): { index: number } {
    return links.createVeth(this.sock, o);
  }
  /** Any link kind (vxlan, macvlan…); `data` holds raw IFLA_INFO_DATA attributes. */
  createLink(kind: string, o: links.NewLinkOptions): { index: number } {
    return links.createLink(this.sock, kind, o);
  }
  /**
   * A macvlan, ipvlan, 802.1q vlan, vxlan or dummy link with name, MTU, MAC and alias, here
   * or directly inside spec.nsFd's namespace (the parent stays in this one). Index 0 when
   * created elsewhere.
   */
  createTypedLink(spec: links.TypedLinkSpec): { index: number } {
    return links.createTypedLink(this.sock, spec);
  }
  setAlias(ref: links.LinkRef, alias: string): void {
    links.setAlias(this.sock, ref, alias);
  }
  setLink(ref: links.LinkRef, o: links.SetLinkOptions): void {
    links.setLink(this.sock, ref, o);
  }
  setBridgePort(index: number, o: links.BridgePortOptions): void {
    links.setBridgePort(this.sock, index, o);
  }
  /** Already gone = success. */
  deleteLink(ref: links.LinkRef): void {
    links.deleteLink(this.sock, ref);
  }
  /** Deletes a whole device group in one kernel batch (see links.deleteGroupAsync). */
  deleteGroupAsync(group: number): Promise<void> {
    return links.deleteGroupAsync(this.sock, group);
  }

  /** deleteLink without blocking the event loop for the kernel's ~30 ms. */
  deleteLinkAsync(ref: links.LinkRef): Promise<void> {
    return links.deleteLinkAsync(this.sock, ref);
  }

  // addresses
  /** Already there = success. */
  addAddress(index: number, cidr: string, o?: addresses.AddAddressOptions): void {
    addresses.addAddress(this.sock, index, cidr, o);
  }
  /** Already gone = success. */
  deleteAddress(index: number, cidr: string): void {
    addresses.deleteAddress(this.sock, index, cidr);
  }
  listAddresses(index?: number): addresses.AddressInfo[] {
    return addresses.listAddresses(this.sock, index);
  }

  // routes
  /** Replace semantics (`ip route replace`). */
  addRoute(r: routes.RouteSpec): void {
    routes.addRoute(this.sock, r);
  }
  /** Already gone = success. */
  deleteRoute(r: routes.RouteSpec): void {
    routes.deleteRoute(this.sock, r);
  }
  /** Main table unless `table` says otherwise ('all' for every table). */
  listRoutes(family: IpFamily, o?: { table?: number | 'all' }): routes.RouteInfo[] {
    return routes.listRoutes(this.sock, family, o);
  }

  // neighbours and bridge FDB
  addNeighbour(n: neighbours.NeighbourSpec): void {
    neighbours.addNeighbour(this.sock, n);
  }
  /** Replace semantics: already there = success. */
  ensureNeighbour(n: neighbours.NeighbourSpec): void {
    neighbours.ensureNeighbour(this.sock, n);
  }
  /** Already there (same MAC and dst) = success. */
  ensureFdb(f: neighbours.FdbSpec): void {
    neighbours.ensureFdb(this.sock, f);
  }
  deleteNeighbour(n: neighbours.NeighbourSpec): void {
    neighbours.deleteNeighbour(this.sock, n);
  }
  addFdb(f: neighbours.FdbSpec): void {
    neighbours.addFdb(this.sock, f);
  }
  deleteFdb(f: neighbours.FdbSpec): void {
    neighbours.deleteFdb(this.sock, f);
  }
  /** IPv4 and IPv6 neighbour entries of one device. */
  listNeighbours(index: number): neighbours.NeighbourEntry[] {
    return neighbours.listNeighbours(this.sock, index);
  }
  /** FDB entries of one device (a vxlan's: MAC → remote VTEP). */
  listFdb(index: number): neighbours.NeighbourEntry[] {
    return neighbours.listFdb(this.sock, index);
  }
}
