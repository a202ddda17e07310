/**
 * Host port reservations: one bound socket per (address, protocol, port), held for as long
 * as the port is published, as Docker's port allocator does (moby libnetwork/portallocator
 * and portmapper bind the port so that no other process can take it, and a port another
 * process holds is refused).
 *
 * The sockets are bound but never listened on or read: traffic is DNATed to the sandbox
 * before it could reach them. Raw fds through libc (socket + bind, a few microseconds)
 * rather than net.Server/dgram, which are asynchronous and far slower per port.
 *
 * No SO_REUSEADDR: with it, two sockets that are not listening may bind the same TCP port
 * (inet_csk_bind_conflict), so another process could later take a published port. Without
 * it any socket on the port, ours or another's, makes bind fail with EADDRINUSE.
 * IPv6 sockets are IPV6_V6ONLY, so [::]:8080 and 0.0.0.0:8080 are two reservations.
 *
 * SCTP: on a kernel without SCTP sockets (EPROTONOSUPPORT) the reservation is kept in this
 * table only, so Switchyard's own SCTP ports still cannot clash.
 */
import {
  AF_INET, AF_INET6, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EPROTONOSUPPORT, IPPROTO_IPV6, IPPROTO_SCTP, IPV6_V6ONLY,
  SOCK_CLOEXEC, SOCK_DGRAM, SOCK_STREAM, SyscallError, bind, close, setsockoptInt, socket, sockaddrIn, sockaddrIn6,
} from '../../kernel/libc.js';
import { tryParseIp } from '../../model/ip.js';
import type { PortProtocol } from '../../model/port-spec.js';
import { isWildcard } from './plan.js';

export interface HostPort {
  family: 4 | 6;
  /** Canonical address, '0.0.0.0' / '::' for every address. */
  hostIp: string;
  proto: PortProtocol;
  port: number;
}

interface Holding {
  owner: string;
  /** -1 when the kernel has no socket for the protocol (SCTP without the sctp module). */
  fd: number;
}

export type ReserveResult = 'reserved' | 'in-use' | 'not-local';

export const hostPortKey = (p: HostPort): string => `${p.proto} ${p.hostIp} ${p.port}`;
const portKey = (p: HostPort): string => `${p.proto} ${p.family} ${p.port}`;

export class HostSockets {
  private readonly held = new Map<string, Holding>();
  /** proto family port → how many addresses hold it, so a wildcard sees specific holders. */
  private readonly perPort = new Map<string, number>();
  private sctpMissing = false;

  constructor(private readonly log: (msg: string) => void) {}

  /** Which sandbox holds this exact reservation, if any. */
  ownerOf(p: HostPort): string | undefined {
    return this.held.get(hostPortKey(p))?.owner;
  }

  /**
   * Binds a socket on the address and port in the calling thread's namespace and keeps it.
   * 'in-use' when it, or an overlapping address, is bound by anyone; 'not-local' when the
   * address is not one of this host's. Other failures throw.
   */
  reserve(p: HostPort, owner: string, bindSocket = true): ReserveResult {
    if (this.clashesWithOwn(p)) return 'in-use';
    let fd: number;
    try {
      fd = bindSocket ? openBound(p) : -1;
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
      if (err.errno === EADDRINUSE) return 'in-use';
      if (err.errno === EADDRNOTAVAIL) return 'not-local';
      if (p.proto === 'sctp' && (err.errno === EPROTONOSUPPORT || err.errno === EAFNOSUPPORT)) {
        if (!this.sctpMissing) this.log('ports: this kernel has no SCTP sockets; SCTP host ports are reserved in Switchyard only');
        this.sctpMissing = true;
        fd = -1;
      } else throw err;
    }
    this.held.set(hostPortKey(p), { owner, fd });
    this.perPort.set(portKey(p), (this.perPort.get(portKey(p)) ?? 0) + 1);
    return 'reserved';
  }

  /** Closes the socket if `owner` holds it. Not held (or held by another) is a no-op. */
  release(p: HostPort, owner: string): void {
    const key = hostPortKey(p);
    const h = this.held.get(key);
    if (!h || h.owner !== owner) return;
    if (h.fd >= 0) close(h.fd);
    this.held.delete(key);
    const n = (this.perPort.get(portKey(p)) ?? 1) - 1;
    if (n > 0) this.perPort.set(portKey(p), n);
    else this.perPort.delete(portKey(p));
  }

  get size(): number {
    return this.held.size;
  }

  /** Closes everything (daemon shutdown, tests). */
  releaseAll(): void {
    for (const h of this.held.values()) if (h.fd >= 0) close(h.fd);
    this.held.clear();
    this.perPort.clear();
  }

  private clashesWithOwn(p: HostPort): boolean {
    if (this.held.has(hostPortKey(p))) return true;
    if (isWildcard(p.hostIp)) return this.perPort.has(portKey(p));
    return this.held.has(hostPortKey({ ...p, hostIp: p.family === 4 ? '0.0.0.0' : '::' }));
  }
}

function openBound(p: HostPort): number {
  const domain = p.family === 4 ? AF_INET : AF_INET6;
  const type = (p.proto === 'udp' ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC;
  const fd = socket(domain, type, p.proto === 'sctp' ? IPPROTO_SCTP : 0);
  try {
    if (p.family === 6) setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    bind(fd, sockaddr(p));
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

function sockaddr(p: HostPort): Buffer {
  if (p.family === 4) return sockaddrIn(p.hostIp, p.port);
  const ip = tryParseIp(p.hostIp);
  if (!ip || ip.family !== 6) throw new Error(`not an IPv6 address: ${p.hostIp}`);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number((ip.value >> BigInt(8 * (15 - i))) & 0xffn);
  return sockaddrIn6(bytes, p.port);
}
