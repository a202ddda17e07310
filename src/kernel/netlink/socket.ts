/**
 * An rtnetlink socket (NETLINK_ROUTE) driven in process through koffi.
 *
 * A socket belongs to the network namespace it was created in, for its whole life
 * and whichever thread uses it (docs/notes/kernel-facts.md#sockets-keep-their-namespace), so `open(nsPath)` creates it inside a
 * short synchronous setns window and the caller never has to switch again.
 *
 * Requests are synchronous by default: rtnetlink does its work inside sendmsg and the
 * answer is already queued when sendto returns, so a blocking recv costs microseconds.
 * Slow operations (veth deletion ~30 ms of kernel time) go through `requestAsync`, which
 * runs sendto on a koffi worker and then waits with a bounded poll() on a worker
 * (never an indefinitely blocking recv: that starves the libuv threadpool and hangs
 * process exit, docs/notes/kernel-facts.md#bounded-waits-on-the-threadpool). Replies are matched to requests by sequence number, so
 * sync and async requests can share the socket.
 */
import { SwitchyardError } from '../../errors.js';
import {
  AF_NETLINK, EAGAIN, MSG_DONTWAIT, MSG_TRUNC, NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOCK_CLOEXEC, SOCK_RAW, SOL_NETLINK,
  SOL_SOCKET, SO_RCVTIMEO, SyscallError, bind, close, closeAsync, pollInAsync, recv, sendto, sendtoAsync, setsockoptBuffer,
  setsockoptInt, socket,
} from '../libc.js';
import { withNetns, withNetnsFd } from '../netns.js';
import {
  NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLMSG_HDRLEN, NetlinkError,
  parseDonePayload, parseErrorPayload, splitMessages, type NlErrorReply, type NlMessage,
} from './message.js';

const NETLINK_ROUTE = 0;
/** nfnetlink (nftables and friends; linux/netlink.h). */
export const NETLINK_NETFILTER = 12;
const RECV_BUFFER = 64 * 1024;
/** A synchronous request never waits longer than this for the kernel (it answers in µs). */
const SYNC_TIMEOUT_MS = 5_000;
const ASYNC_TIMEOUT_MS = 30_000;
/** Upper bound on how long one poll() holds a worker thread. */
const POLL_SLICE_MS = 100;
const DUMP_ATTEMPTS = 3;

/** struct sockaddr_nl for the kernel: family AF_NETLINK, pid 0, no groups. */
function sockaddrNl(): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
}
const KERNEL = sockaddrNl();

interface Pending {
  what: string;
  replies: Buffer[];
  /** Some part of a dump carried NLM_F_DUMP_INTR. */
  interrupted: boolean;
  done: boolean;
  /** The kernel's error answer; the NetlinkError is built only when it is thrown (stack traces cost ~20 µs). */
  failed?: NlErrorReply;
  /** Set while an async request waits in poll(): a reply read by someone else wakes it. */
  wake?: () => void;
}

/** One request of a batch (NetlinkSocket.requestBatch). */
export interface BatchItem {
  msg: Buffer;
  what: string;
  /** errno values that count as success for this request (e.g. EEXIST for an idempotent add). */
  ok?: readonly number[];
  /** Sent as is, without NLM_F_ACK, and not waited for (nfnetlink's batch begin/end markers). */
  unacked?: boolean;
}

export interface AsyncRequestOptions {
  timeoutMs?: number;
}

/** The nlmsghdr-less part of a reply returned by request(). */
export function messagePayload(msg: Buffer): Buffer {
  return msg.subarray(NLMSG_HDRLEN, msg.readUInt32LE(0));
}

export class NetlinkSocket {
  readonly nsPath: string | undefined;
  private readonly fd: number;
  // Not zero-filled (a socket is opened per request in many places): only what recv() wrote is read.
  private readonly buf = Buffer.allocUnsafeSlow(RECV_BUFFER);
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private polling: Promise<unknown> | null = null;
  private closed = false;

  private constructor(fd: number, nsPath: string | undefined) {
    this.fd = fd;
    this.nsPath = nsPath;
  }

  /** A socket inside the netns pinned at nsPath (the caller's own netns when omitted). */
  static open(nsPath?: string, protocol = NETLINK_ROUTE): NetlinkSocket {
    const create = (): number => createSocket(protocol);
    const fd = nsPath ? withNetns(nsPath, create) : create();
    return new NetlinkSocket(fd, nsPath);
  }

  /** A socket inside the namespace open at nsFd (e.g. a sandbox's, handed in by a caller). */
  static openAt(nsFd: number): NetlinkSocket {
    return new NetlinkSocket(withNetnsFd(nsFd, () => createSocket(NETLINK_ROUTE)), undefined);
  }

  /**
   * Sends one request (built by encodeMessage; seq is assigned here) and returns the
   * reply messages, whole (header included), without the final ACK / NLMSG_DONE.
   * Non-dump requests always get NLM_F_ACK so completion is explicit.
   */
  request(msg: Buffer, what?: string): Buffer[] {
    for (let attempt = 1; ; attempt++) {
      const p = this.begin(msg, what);
      try {
        sendto(this.fd, msg, KERNEL);
        while (!p.done) this.pump(0);
      } finally {
        this.pending.delete(msg.readUInt32LE(8));
      }
      // A dump that raced with a change is flagged NLM_F_DUMP_INTR and may be
      // inconsistent: take it again (https://docs.kernel.org/userspace-api/netlink/intro.html).
      if (!p.interrupted || attempt === DUMP_ATTEMPTS) return finish(p);
    }
  }

  /**
   * Several non-dump requests in ONE sendmsg: the kernel runs them in order and answers each
   * (netlink_rcv_skb), so a sandbox interface's address, up and default route cost one system
   * call instead of three. Every request runs even when an earlier one failed; the first
   * failure that is not in its item's `ok` list is thrown once all were answered.
   */
  requestBatch(items: BatchItem[]): void {
    if (!items.length) return;
    const acked = items.filter((it) => !it.unacked);
    const ps = items.map((it) => (it.unacked ? this.unacked(it.msg) : this.begin(it.msg, it.what)));
    try {
      sendto(this.fd, items.length === 1 ? items[0]!.msg : Buffer.concat(items.map((it) => it.msg)), KERNEL);
      while (ps.some((p) => p && !p.done)) this.pump(0);
    } finally {
      for (const it of acked) this.pending.delete(it.msg.readUInt32LE(8));
    }
    ps.forEach((p, i) => {
      if (p?.failed && !items[i]!.ok?.includes(p.failed.errno)) throw new NetlinkError(p.what, p.failed);
    });
  }

  /** request() without blocking the event loop, for slow kernel operations. */
  async requestAsync(msg: Buffer, what?: string, opts: AsyncRequestOptions = {}): Promise<Buffer[]> {
    const p = this.begin(msg, what);
    const seq = msg.readUInt32LE(8);
    const deadline = Date.now() + (opts.timeoutMs ?? ASYNC_TIMEOUT_MS);
    try {
      await sendtoAsync(this.fd, msg, KERNEL);
      while (!p.done) {
        this.assertOpen();
        if (this.pump(MSG_DONTWAIT)) continue;
        const left = deadline - Date.now();
        if (left <= 0) throw timeout(p.what);
        // Another request's recv may route our reply to us meanwhile: wake on that too.
        await Promise.race([this.pollShared(Math.min(POLL_SLICE_MS, left)), new Promise<void>((r) => (p.wake = r))]);
        p.wake = undefined;
      }
    } finally {
      this.pending.delete(seq);
    }
    return finish(p);
  }

  /** One poll() in flight per socket, however many async requests wait on it. */
  private pollShared(timeoutMs: number): Promise<unknown> {
    this.polling ??= pollInAsync(this.fd, timeoutMs).finally(() => (this.polling = null));
    return this.polling;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }

  /** close() on the threadpool (libc closeAsync); the socket is unusable at once. */
  closeAsync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return closeAsync(this.fd);
  }

  /** Numbers a message that gets no answer (no NLM_F_ACK, nothing pending). */
  private unacked(msg: Buffer): undefined {
    this.assertOpen();
    this.seq = (this.seq + 1) >>> 0 || 1;
    msg.writeUInt32LE(this.seq, 8);
    msg.writeUInt32LE(0, 12);
    return undefined;
  }

  private begin(msg: Buffer, what: string | undefined): Pending {
    this.assertOpen();
    this.seq = (this.seq + 1) >>> 0 || 1;
    const flags = msg.readUInt16LE(6);
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    if (!dump) msg.writeUInt16LE(flags | NLM_F_ACK, 6);
    msg.writeUInt32LE(this.seq, 8);
    msg.writeUInt32LE(0, 12);
    const p: Pending = { what: what ?? `netlink request type ${msg.readUInt16LE(4)}`, replies: [], interrupted: false, done: false };
    this.pending.set(this.seq, p);
    return p;
  }

  /** Reads one datagram and routes its messages; false when nothing was waiting (MSG_DONTWAIT). */
  private pump(flags: number): boolean {
    let n: number;
    try {
      n = recv(this.fd, this.buf, flags | MSG_TRUNC);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === EAGAIN) {
        if (flags & MSG_DONTWAIT) return false;
        throw timeout([...this.pending.values()].map((p) => p.what).join(', '));
      }
      throw err;
    }
    if (n > this.buf.length) {
      throw new SwitchyardError('internal', 'NETLINK_TRUNCATED', `netlink reply of ${n} bytes did not fit the ${this.buf.length}-byte buffer`);
    }
    for (const m of splitMessages(this.buf.subarray(0, n))) this.route(m);
    return true;
  }

  private route(m: NlMessage): void {
    const p = this.pending.get(m.header.seq);
    if (!p || p.done) return; // a late reply to a request that timed out
    this.deliver(p, m);
    if (p.done) p.wake?.();
  }

  private deliver(p: Pending, m: NlMessage): void {
    if (m.header.flags & NLM_F_DUMP_INTR) p.interrupted = true;
    switch (m.header.type) {
      case NLMSG_NOOP:
        return;
      case NLMSG_ERROR: {
        const reply = parseErrorPayload(m.payload, m.header.flags);
        if (reply.errno !== 0) p.failed = reply;
        p.done = true;
        return;
      }
      case NLMSG_DONE: {
        const reply = parseDonePayload(m.payload, m.header.flags);
        if (reply.errno !== 0) p.failed = reply;
        p.done = true;
        return;
      }
      default:
        p.replies.push(Buffer.from(m.raw)); // copy: the receive buffer is reused
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SwitchyardError('internal', 'NETLINK_CLOSED', `netlink socket${this.nsPath ? ` for ${this.nsPath}` : ''} is closed`);
  }
}

function createSocket(protocol: number): number {
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  try {
    // Extended ack: the kernel explains EINVAL & co. in text (NLMSGERR_ATTR_MSG).
    setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    // Cap acks to the request's header: errors then never echo our whole request back.
    setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
    const tv = Buffer.alloc(16); // struct timeval { time_t sec; suseconds_t usec; }
    tv.writeBigInt64LE(BigInt(SYNC_TIMEOUT_MS / 1000), 0);
    setsockoptBuffer(fd, SOL_SOCKET, SO_RCVTIMEO, tv);
    bind(fd, KERNEL); // pid 0: the kernel assigns our port id
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

function finish(p: Pending): Buffer[] {
  if (p.failed) throw new NetlinkError(p.what, p.failed);
  return p.replies;
}

function timeout(what: string): SwitchyardError {
  return new SwitchyardError('unavailable', 'NETLINK_TIMEOUT', `${what}: no answer from the kernel in time`);
}
