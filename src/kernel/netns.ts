/**
 * Network namespaces, created and entered in process.
 *
 * setns(2) moves only the calling thread, so every window spent inside another
 * namespace is synchronous: `withNetns(path, fn)` runs `fn` (which must not await)
 * and always switches back (docs/notes/kernel-facts.md#setns-is-per-thread). Sockets created inside a window
 * stay in that namespace for their lifetime; that is how the daemon holds netlink,
 * nftables and DNS sockets in many namespaces at once.
 *
 * A named namespace is a bind mount of /proc/thread-self/ns/net on a file, as
 * `ip netns add` does; its directory is made a shared mount so that unmounting it
 * also unmounts the copies held by sandboxes' mount namespaces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CLONE_NEWNET, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, O_CLOEXEC, O_RDONLY, EINVAL, ENOENT,
  AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR,
  SyscallError, bind, close, mount, open, setns, setsockoptInt, socket, sockaddrIn, umount2, unshare,
} from './libc.js';
import { SwitchyardError } from '../errors.js';

const SELF = '/proc/thread-self/ns/net';

/** Runs fn with the calling thread inside the namespace at nsPath. fn must be synchronous. */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const target = open(nsPath, O_RDONLY | O_CLOEXEC);
  try {
    return withNetnsFd(target, fn);
  } finally {
    close(target);
  }
}

/** Same as withNetns, for an already opened namespace fd. */
export function withNetnsFd<T>(nsFd: number, fn: () => T): T {
  const self = open(SELF, O_RDONLY | O_CLOEXEC);
  try {
    setns(nsFd, CLONE_NEWNET);
    try {
      const out = fn();
      if (out instanceof Promise) throw new Error('withNetns: fn must be synchronous');
      return out;
    } finally {
      setns(self, CLONE_NEWNET);
    }
  } finally {
    close(self);
  }
}

/**
 * Makes `dir` a shared mount point (bind on itself first when it is not one), the
 * way iproute2 prepares /run/netns. Idempotent.
 */
export function ensureNetnsDir(dir: string): void {
  // Root only: a user holding a sandbox's namespace file open keeps its namespace (and
  // its veth on the bridge) alive after the sandbox is gone (docs/SECURITY.md).
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  try {
    mount('none', dir, null, MS_SHARED | MS_REC);
  } catch (err) {
    if (!(err instanceof SyscallError) || err.errno !== EINVAL) throw err;
    mount(dir, dir, 'none', MS_BIND | MS_REC);
    mount('none', dir, null, MS_SHARED | MS_REC);
  }
}

/** Undoes ensureNetnsDir (used by tests' private exec roots). */
export function releaseNetnsDir(dir: string): void {
  try {
    umount2(dir, MNT_DETACH);
  } catch (err) {
    if (!(err instanceof SyscallError) || (err.errno !== EINVAL && err.errno !== ENOENT)) throw err;
  }
}

/**
 * Creates a new, empty network namespace pinned at nsPath. If nsPath already holds
 * a namespace it is kept (ensure semantics). Loopback starts down, as in every new netns.
 */
export function ensureNetns(nsPath: string): void {
  if (isNetnsMount(nsPath)) return;
  fs.mkdirSync(path.dirname(nsPath), { recursive: true });
  fs.writeFileSync(nsPath, '', { mode: 0o400 });
  const self = open(SELF, O_RDONLY | O_CLOEXEC);
  try {
    unshare(CLONE_NEWNET);
    try {
      mount(SELF, nsPath, 'none', MS_BIND);
    } finally {
      setns(self, CLONE_NEWNET);
    }
  } catch (err) {
    fs.rmSync(nsPath, { force: true });
    throw err;
  } finally {
    close(self);
  }
}

/**
 * Removes the pin at nsPath. The kernel frees the namespace (and the veths inside it)
 * once nothing else holds it; that happens in the background and costs the caller ~0.2 ms,
 * against ~30 ms for deleting a veth synchronously.
 */
export function deleteNetns(nsPath: string): void {
  try {
    umount2(nsPath, MNT_DETACH);
  } catch (err) {
    if (!(err instanceof SyscallError) || (err.errno !== EINVAL && err.errno !== ENOENT)) throw err;
  }
  fs.rmSync(nsPath, { force: true });
}

/** True when nsPath is a file with a network namespace mounted on it. */
export function isNetnsMount(nsPath: string): boolean {
  try {
    const a = fs.statSync(nsPath);
    // A mounted nsfs inode lives on the nsfs device, not on the directory's device.
    const dir = fs.statSync(path.dirname(nsPath));
    return a.dev !== dir.dev;
  } catch {
    return false;
  }
}

let nsfsDev: bigint | undefined;

/**
 * The inode (the namespace's identity) of the network namespace pinned at `nsPath`, or
 * undefined when no namespace is mounted there: isNetnsMount and netnsId in one stat (a
 * namespace file lives on the nsfs device, which /proc/self/ns/net names).
 */
export function pinnedNetnsId(nsPath: string): bigint | undefined {
  try {
    nsfsDev ??= fs.statSync('/proc/self/ns/net', { bigint: true }).dev;
    const st = fs.statSync(nsPath, { bigint: true });
    return st.dev === nsfsDev ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

/** Inode of a namespace file: equal inodes mean the same namespace. */
export function netnsId(nsPath: string): bigint {
  return fs.statSync(nsPath, { bigint: true }).ino;
}

/**
 * libuv creates its threadpool lazily, and a thread created while the main thread is
 * inside another namespace stays there for good. Start every pool thread now, before
 * the first setns (docs/notes/kernel-facts.md#threadpool-warm-up).
 */
export async function warmThreadpool(): Promise<void> {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  await Promise.all(Array.from({ length: Math.max(size, 4) * 2 }, () => fs.promises.stat('/')));
}

export function assertRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new SwitchyardError('forbidden', 'NOT_ROOT', 'switchyard must run as root (it creates namespaces and network devices)');
  }
}

/** What openSocketInNetns creates. */
export interface NetnsSocketSpec {
  family: 4 | 6;
  protocol: 'udp' | 'tcp';
  /** IPv4 address and port to bind inside the namespace (SO_REUSEADDR set); omitted = unbound. */
  bindV4?: { ip: string; port: number };
}

/**
 * A non-blocking, close-on-exec socket created (and bound) inside the namespace at nsPath;
 * returns its fd for Node to wrap: `dgram…bind({fd})`, `net.Server.listen({fd})`, or
 * `new net.Socket({fd}).connect(...)`. A socket keeps the namespace it was created in for
 * life, whatever thread later uses it; creating it later from Node (e.g. `dgram.bind(port,
 * addr)` inside a window) would land in the daemon's namespace (docs/notes/kernel-facts.md#late-socket-creation).
 */
export function openSocketInNetns(nsPath: string, spec: NetnsSocketSpec): number {
  const domain = spec.family === 4 ? AF_INET : AF_INET6;
  const type = (spec.protocol === 'udp' ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  return withNetns(nsPath, () => {
    const fd = socket(domain, type, 0);
    try {
      if (spec.bindV4) {
        setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        bind(fd, sockaddrIn(spec.bindV4.ip, spec.bindV4.port));
      }
      return fd;
    } catch (err) {
      close(fd);
      throw err;
    }
  });
}

/** Closes an fd from openSocketInNetns that was never handed to Node. */
export function closeSocketFd(fd: number): void {
  close(fd);
}
