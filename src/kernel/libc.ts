/**
 * The libc calls Switchyard makes in process, through koffi (a prebuilt FFI binding).
 * Only kernel/ imports this module. Every wrapper throws a SwitchyardError carrying
 * errno, so callers never see a raw -1.
 *
 * Why in process: spawning `ip` costs 2-3 ms a call; these calls cost microseconds
 * (docs/notes/kernel-facts.md#spawning-ip).
 */
import * as fs from 'node:fs';
import koffi from 'koffi';
import { SwitchyardError } from '../errors.js';

const lib = koffi.load('libc.so.6');

const c = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, void *addr, uint32_t len)'),
  sendto: lib.func('intptr_t sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t alen)'),
  recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
  poll: lib.func('int poll(void *fds, uint64_t nfds, int timeout)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)'),
  getsockname: lib.func('int getsockname(int fd, void *addr, _Inout_ uint32_t *len)'),
  close: lib.func('int close(int fd)'),
  open: lib.func('int open(const char *path, int flags, int mode)'),
  setns: lib.func('int setns(int fd, int nstype)'),
  unshare: lib.func('int unshare(int flags)'),
  mount: lib.func('int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  umount2: lib.func('int umount2(const char *target, int flags)'),
  gettid: lib.func('int gettid()'),
  if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
  // glibc 2.36 (Debian 12) wraps both; the kernel has had them since 5.3.
  pidfd_open: lib.func('int pidfd_open(int pid, unsigned int flags)'),
  getrlimit: lib.func('int getrlimit(int resource, void *rlim)'),
  fcntl: lib.func('int fcntl(int fd, int cmd, ...)'),
};

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_SCTP = 132;
/** <linux/in6.h>: a socket on [::] then does not also take the IPv4 port. */
export const IPV6_V6ONLY = 26;
export const SO_REUSEADDR = 2;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_RCVTIMEO = 20;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;
export const EINTR = 4;
export const EAGAIN = 11;
export const EINVAL = 22;
export const ENOENT = 2;
export const EPROTONOSUPPORT = 93;
export const EAFNOSUPPORT = 97;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;

/** The errno of the last failed call on this thread. */
export function errno(): number {
  return koffi.errno();
}

/** A failed libc call as a SwitchyardError; `errno` is kept on the error for callers that branch on it. */
export class SyscallError extends SwitchyardError {
  readonly errno: number;
  constructor(call: string, err: number, detail?: string) {
    const text = `${call}${detail ? ` ${detail}` : ''}: ${errnoText(err)} (errno ${err})`;
    super(err === 1 || err === 13 ? 'forbidden' : 'internal', 'SYSCALL_FAILED', text);
    this.errno = err;
  }
}

const ERRNO_TEXT: Record<number, string> = {
  1: 'operation not permitted', 2: 'no such file or directory', 3: 'no such process',
  11: 'resource temporarily unavailable', 13: 'permission denied', 16: 'device or resource busy',
  17: 'file exists', 19: 'no such device', 22: 'invalid argument', 28: 'no space left on device',
  34: 'numerical result out of range', 93: 'protocol not supported', 95: 'operation not supported',
  97: 'address family not supported by protocol', 98: 'address already in use',
  99: 'cannot assign requested address', 105: 'no buffer space available',
};
export function errnoText(err: number): string {
  return ERRNO_TEXT[err] ?? 'system error';
}

function check(call: string, rc: number | bigint, detail?: string): number {
  const n = Number(rc);
  if (n < 0) throw new SyscallError(call, errno(), detail);
  return n;
}

/**
 * Every socket Switchyard opens is close-on-exec, whatever the caller asked for: a
 * sandbox's command is spawned by the daemon, and an inherited socket (a netlink socket of
 * the host namespace, another sandbox's DNS socket) would be a way out of its namespace
 * (docs/SECURITY.md "Daemon file descriptors").
 */
export function socket(domain: number, type: number, protocol: number): number {
  return check('socket', c.socket(domain, type | SOCK_CLOEXEC, protocol));
}
export function bind(fd: number, addr: Buffer): void {
  check('bind', c.bind(fd, addr, addr.length));
}
export function sendto(fd: number, buf: Buffer, addr: Buffer | null): number {
  return check('sendto', c.sendto(fd, buf, buf.length, 0, addr, addr ? addr.length : 0));
}
/** recv() that retries on EINTR; returns the byte count. */
export function recv(fd: number, buf: Buffer, flags = 0): number {
  for (;;) {
    const n = Number(c.recv(fd, buf, buf.length, flags));
    if (n >= 0) return n;
    const e = errno();
    if (e !== EINTR) throw new SyscallError('recv', e);
  }
}
/** Waits up to timeoutMs for fd to be readable; true when it is. */
export function pollIn(fd: number, timeoutMs: number): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(1 /* POLLIN */, 4);
  const n = check('poll', c.poll(pfd, 1, timeoutMs));
  return n > 0;
}
/**
 * The fds of `fds` that are readable now (poll with timeout 0: one system call for all).
 * A pidfd is readable once its process has exited (pidfd_open(2)).
 */
export function readableNow(fds: readonly number[]): number[] {
  if (!fds.length) return [];
  const pfd = Buffer.alloc(8 * fds.length);
  fds.forEach((fd, i) => {
    pfd.writeInt32LE(fd, 8 * i);
    pfd.writeInt16LE(1 /* POLLIN */, 8 * i + 4);
  });
  for (;;) {
    const n = c.poll(pfd, fds.length, 0);
    if (n >= 0) break;
    const e = errno();
    if (e !== EINTR) throw new SyscallError('poll', e);
  }
  // revents: POLLIN, or POLLHUP/POLLERR/POLLNVAL (an fd that cannot be waited on is "done" too).
  return fds.filter((_, i) => pfd.readInt16LE(8 * i + 6) !== 0);
}
const RLIMIT_NOFILE = 7;
/**
 * The soft limit on open files. (Node already raises it to the hard limit at start-up; the
 * daemon warns when that is still low, since it holds several fds per sandbox.)
 */
export function openFileLimit(): number {
  const r = Buffer.alloc(16); // struct rlimit { rlim_t cur; rlim_t max; }
  check('getrlimit', c.getrlimit(RLIMIT_NOFILE, r));
  const cur = r.readBigUInt64LE(0);
  return cur > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(cur);
}
/** A pidfd for pid (close it with close()); ESRCH when the process is gone. */
export function pidfdOpen(pid: number): number {
  return check('pidfd_open', c.pidfd_open(pid, 0), String(pid));
}
/**
 * sendto() on a koffi worker thread, for requests whose kernel work is slow (rtnetlink
 * handles a request inside sendmsg: RTM_DELLINK of a veth costs ~30 ms there). Only
 * for calls that return on their own; errno is not observable across threads.
 */
export function sendtoAsync(fd: number, buf: Buffer, addr: Buffer | null): Promise<number> {
  return new Promise((resolve, reject) => {
    c.sendto.async(fd, buf, buf.length, 0, addr, addr ? addr.length : 0, (err: unknown, rc: number | bigint) => {
      if (err) return reject(err);
      const n = Number(rc);
      if (n < 0) return reject(new SyscallError('sendto', 0, '(async)'));
      resolve(n);
    });
  });
}
/**
 * poll(POLLIN) on a koffi worker thread. The timeout bounds how long the worker is
 * held: never park an indefinitely blocking call on the threadpool (docs/notes/kernel-facts.md#bounded-waits-on-the-threadpool).
 */
export function pollInAsync(fd: number, timeoutMs: number): Promise<boolean> {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(1 /* POLLIN */, 4);
  return new Promise((resolve, reject) => {
    c.poll.async(pfd, 1, timeoutMs, (err: unknown, rc: number) => {
      if (err) return reject(err);
      // rc < 0 is EINTR in practice; report "not ready" and let the caller loop.
      resolve(rc > 0);
    });
  });
}
export function setsockoptBuffer(fd: number, level: number, name: number, value: Buffer): void {
  check('setsockopt', c.setsockopt(fd, level, name, value, value.length));
}
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  check('setsockopt', c.setsockopt(fd, level, name, b, 4));
}
/** The port a bound AF_INET or AF_INET6 socket holds (both keep it at offset 2, big-endian). */
export function boundPort(fd: number): number {
  return getsockname(fd).readUInt16BE(2);
}
export function getsockname(fd: number, size = 128): Buffer {
  const buf = Buffer.alloc(size);
  const len = [size];
  check('getsockname', c.getsockname(fd, buf, len));
  return buf.subarray(0, len[0]);
}
export function close(fd: number): void {
  c.close(fd);
}
/**
 * close(2) on libuv's threadpool: the kernel's close() of a netlink socket that deleted
 * nftables objects a moment before waits for their destruction (~11-14 ms here), which
 * would block the event loop.
 */
export function closeAsync(fd: number): Promise<void> {
  return new Promise((resolve) => c.close.async(fd, () => resolve()));
}
/** open(2), always close-on-exec (see socket()). */
export function open(path: string, flags: number, mode = 0): number {
  return check('open', c.open(path, flags | O_CLOEXEC, mode), path);
}
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
/** True when fd is open and close-on-exec. */
export function isCloseOnExec(fd: number): boolean {
  const flags = Number(c.fcntl(fd, F_GETFD));
  return flags >= 0 && (flags & FD_CLOEXEC) !== 0;
}
/**
 * Marks every open fd above stderr close-on-exec, and returns how many were not. For the
 * fds libraries open without O_CLOEXEC (libnftables' netlink socket in nft_ctx_new,
 * LMDB's data file, which it leaves inheritable on purpose): call it right after them.
 */
export function closeOnExecAll(): number {
  let fixed = 0;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc/self/fd');
  } catch {
    return 0;
  }
  for (const e of entries) {
    const fd = Number(e);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    const flags = Number(c.fcntl(fd, F_GETFD));
    if (flags < 0 || flags & FD_CLOEXEC) continue;
    if (Number(c.fcntl(fd, F_SETFD, 'int', flags | FD_CLOEXEC)) === 0) fixed++;
  }
  return fixed;
}
export function setns(fd: number, nstype: number): void {
  check('setns', c.setns(fd, nstype));
}
export function unshare(flags: number): void {
  check('unshare', c.unshare(flags));
}
export function mount(src: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check('mount', c.mount(src, target, fstype, flags, data), target);
}
export function umount2(target: string, flags: number): void {
  check('umount2', c.umount2(target, flags), target);
}
export function gettid(): number {
  return c.gettid();
}
/** ifindex of a device in the calling thread's netns, or 0 when there is none. */
export function ifNameToIndex(name: string): number {
  return c.if_nametoindex(name);
}

/** sockaddr_in for 127.0.0.11:53-style binds. */
export function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  ip.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
  return b;
}
/** sockaddr_in6 from 16 address bytes. */
export function sockaddrIn6(addr: Uint8Array, port: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(addr).copy(b, 8);
  return b;
}
