/**
 * A batch of rtnetlink requests sent in one sendmsg (NetlinkSocket.requestBatch): the
 * kernel runs them in order, so "address, up, default route" on a new interface is one
 * system call and one wake-up instead of three. Each method mirrors the Rtnl method of the
 * same name, with the same idempotence (an add that finds the object there, a delete that
 * finds it gone, is success).
 */
import { deleteAddressMessage, newAddressMessage, type AddAddressOptions } from './addresses.js';
import { aliasMessage, bridgePortMessage, linkRenameMessage, linkUpMessage, type BridgePortOptions } from './links.js';
import { EADDRNOTAVAIL, EEXIST, ENODEV, ENOENT } from './message.js';
import { deleteNeighbourMessage, fdbDeleteMessage, fdbReplaceMessage, neighbourAddMessage, type FdbSpec, type NeighbourSpec } from './neighbours.js';
import { addRouteMessage, describeRoute, type RouteSpec } from './routes.js';
import type { BatchItem } from './socket.js';

export class RtnlBatch {
  readonly items: BatchItem[] = [];

  addAddress(index: number, cidr: string, o?: AddAddressOptions): this {
    this.items.push({ msg: newAddressMessage(index, cidr, o), what: `add address ${cidr} to link ${index}`, ok: [EEXIST] });
    return this;
  }

  /** Already gone (or the link is gone) = success. */
  deleteAddress(index: number, cidr: string): this {
    this.items.push({ msg: deleteAddressMessage(index, cidr), what: `delete address ${cidr} from link ${index}`, ok: [EADDRNOTAVAIL, ENODEV] });
    return this;
  }

  setAlias(index: number, alias: string): this {
    this.items.push({ msg: aliasMessage(index, alias), what: `set alias of link ${index}` });
    return this;
  }

  /** The link must be down (the kernel refuses to rename a device that is up). */
  rename(index: number, name: string): this {
    this.items.push({ msg: linkRenameMessage(index, name), what: `rename link ${index} to ${name}` });
    return this;
  }

  setUp(index: number, up = true): this {
    this.items.push({ msg: linkUpMessage(index, up), what: `set link ${index} ${up ? 'up' : 'down'}` });
    return this;
  }

  /** Replace semantics (`ip route replace`). */
  addRoute(r: RouteSpec): this {
    this.items.push({ msg: addRouteMessage(r), what: `add ${describeRoute(r)}` });
    return this;
  }

  setBridgePort(index: number, o: BridgePortOptions): this {
    const msg = bridgePortMessage(index, o);
    if (msg) this.items.push({ msg, what: `set bridge port ${index}` });
    return this;
  }

  /** `ip neigh replace` (permanent). */
  replaceNeighbour(n: NeighbourSpec): this {
    this.items.push({ msg: neighbourAddMessage(n), what: `replace neighbour ${n.ip} lladdr ${n.mac} dev ${n.index}` });
    return this;
  }

  /** `bridge fdb replace … self permanent` (fdbReplaceMessage: for a MAC with one remote). */
  replaceFdb(f: FdbSpec): this {
    this.items.push({ msg: fdbReplaceMessage(f), what: `replace fdb ${f.mac} dev ${f.index}${f.dst ? ` dst ${f.dst}` : ''}` });
    return this;
  }

  deleteNeighbour(n: NeighbourSpec): this {
    this.items.push({ msg: deleteNeighbourMessage(n), what: `delete neighbour ${n.ip} dev ${n.index}`, ok: [ENOENT] });
    return this;
  }

  /** `bridge fdb del MAC dev X [dst IP] self`: with `dst`, only that remote of a VXLAN device's entry. */
  deleteFdb(f: FdbSpec): this {
    this.items.push({ msg: fdbDeleteMessage(f), what: `delete fdb ${f.mac} dev ${f.index}${f.dst ? ` dst ${f.dst}` : ''}`, ok: [ENOENT] });
    return this;
  }
}
