/**
 * Interface addresses over rtnetlink: RTM_{NEW,DEL,GET}ADDR (linux/if_addr.h).
 */
import { formatCidr, ipv4Broadcast, parseCidr, type IpFamily } from './address-codec.js';
import {
  EADDRNOTAVAIL, EEXIST, ENODEV, IFADDRMSG_LEN, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkError,
  RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR, attr, decodeIfAddr, encodeIfAddr, encodeMessage, parseAttrs, u32Attr,
} from './message.js';
import { messagePayload, type NetlinkSocket } from './socket.js';

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const IFA_FLAGS = 8;
/** Skip duplicate address detection (RFC 4862 §5.4): the address is usable at once. */
const IFA_F_NODAD = 0x02;

export interface AddressInfo {
  index: number;
  family: IpFamily;
  /** Address with its prefix length, e.g. "10.0.0.2/24". */
  cidr: string;
}

export interface AddAddressOptions {
  noDad?: boolean;
}

const familyCode = (f: IpFamily): number => (f === 4 ? AF_INET : AF_INET6);

function addressMessage(type: number, flags: number, index: number, cidr: string, o: AddAddressOptions): Buffer {
  const c = parseCidr(cidr);
  const ifaFlags = o.noDad ? IFA_F_NODAD : 0;
  const attrs = [attr(IFA_LOCAL, c.addr), attr(IFA_ADDRESS, c.addr)];
  // Broadcast as `ip addr add … brd +` would set it; /31 and /32 have none (RFC 3021).
  if (c.family === 4 && c.prefixLen < 31) attrs.push(attr(IFA_BROADCAST, ipv4Broadcast(c.addr, c.prefixLen)));
  if (ifaFlags) attrs.push(u32Attr(IFA_FLAGS, ifaFlags));
  return encodeMessage({ type, flags: NLM_F_REQUEST | flags }, [
    encodeIfAddr({ family: familyCode(c.family), prefixLen: c.prefixLen, flags: ifaFlags, index }),
    ...attrs,
  ]);
}

/** The RTM_NEWADDR of addAddress (for batches: EEXIST counts as success). */
export function newAddressMessage(index: number, cidr: string, o: AddAddressOptions = {}): Buffer {
  return addressMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, index, cidr, o);
}

/** Adds an address (IPv4 or IPv6). Already there = success. */
export function addAddress(sock: NetlinkSocket, index: number, cidr: string, o: AddAddressOptions = {}): void {
  try {
    sock.request(newAddressMessage(index, cidr, o), `add address ${cidr} to link ${index}`);
  } catch (err) {
    if (!(err instanceof NetlinkError && err.errno === EEXIST)) throw err;
  }
}

/** The RTM_DELADDR of deleteAddress (for batches: EADDRNOTAVAIL and ENODEV count as success). */
export function deleteAddressMessage(index: number, cidr: string): Buffer {
  return addressMessage(RTM_DELADDR, 0, index, cidr, {});
}

/** Removes an address. Already gone (or the link is gone) = success. */
export function deleteAddress(sock: NetlinkSocket, index: number, cidr: string): void {
  try {
    sock.request(deleteAddressMessage(index, cidr), `delete address ${cidr} from link ${index}`);
  } catch (err) {
    if (!(err instanceof NetlinkError && (err.errno === EADDRNOTAVAIL || err.errno === ENODEV))) throw err;
  }
}

export function decodeAddress(msg: Buffer): AddressInfo {
  const p = messagePayload(msg);
  const ifa = decodeIfAddr(p);
  const a = parseAttrs(p.subarray(IFADDRMSG_LEN));
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
  // links, and the only one IPv6 sends (linux/if_addr.h).
  const addr = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS)!;
  return { index: ifa.index, family: addr.length === 4 ? 4 : 6, cidr: formatCidr(addr, ifa.prefixLen) };
}

/** All addresses of the namespace, or of one link. */
export function listAddresses(sock: NetlinkSocket, index?: number): AddressInfo[] {
  const msg = encodeMessage({ type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP }, [encodeIfAddr({ family: AF_UNSPEC })]);
  return sock
    .request(msg, 'list addresses')
    .filter((m) => m.readUInt16LE(4) === RTM_NEWADDR)
    .map(decodeAddress)
    .filter((a) => index === undefined || a.index === index);
}
