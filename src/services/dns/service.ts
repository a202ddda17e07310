/**
 * The embedded DNS server at 127.0.0.11:53 inside every sandbox's namespace, served by the
 * daemon process itself: no process per sandbox.
 *
 * For each sandbox, a UDP and a TCP socket are created and bound inside its namespace
 * (kernel/netns.ts openSocketInNetns) and handed to Node by fd; Node's event loop polls
 * sockets from any namespace alike. The socket a query arrives on tells which sandbox
 * asked, and the directory answers for that sandbox (docs/notes/kernel-facts.md#dns-sockets-by-fd).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { SwitchyardError } from '../../errors.js';
import { closeSocketFd, openSocketInNetns } from '../../kernel/netns.js';
import { SOL_SOCKET, SO_SNDBUF, setsockoptInt } from '../../kernel/libc.js';
import { resolveQuery, responseLimit, type Transport } from './answer.js';
import { fastAnswer, type FastAnswerContext } from './fast-answer.js';
import { Forwarder } from './forwarder.js';
import { FrameReader, frame } from './tcp-framing.js';
import { TokenBucket } from './token-bucket.js';
import type { DnsDirectory, DnsServiceOptions } from './types.js';
import { RCODE, rcodeResponse } from './wire.js';

export const RESOLVER_IP = '127.0.0.11';
export const RESOLVER_PORT = 53;
const DEFAULT_TTL_S = 5;
const DEFAULT_UPSTREAM_TIMEOUT_MS = 1800;
const DEFAULT_MAX_FORWARDS = 1024;
const DEFAULT_MAX_FORWARDS_PER_SANDBOX = 64;
const DEFAULT_TCP_IDLE_MS = 10_000;
const DEFAULT_MAX_TCP_CLIENTS_PER_SANDBOX = 16;
const DEFAULT_MAX_TCP_CLIENTS = 512;
const DEFAULT_TCP_QUERIES_PER_SECOND = 4000;
/** Queries answered per TCP connection per event-loop turn, so that one busy connection cannot hold the loop. */
const TCP_BATCH = 64;
/**
 * Kernel send buffer of accepted DNS-over-TCP connections (inherited from the listener): room
 * for the largest answer (64 KiB) and a few more, instead of up to tcp_wmem's 4 MiB of
 * answers queued in the kernel for a client that does not read.
 */
const TCP_SNDBUF = 128 * 1024;
/** Round-robin counter wraps here (stays a small integer). */
const ROTATION_MOD = 1 << 30;

/** One DNS-over-TCP client connection. */
interface TcpClient {
  conn: net.Socket;
  reader: FrameReader;
  /** Whole queries read but not yet handled (from index `next` on): parked while the client is not reading our answers. */
  queue: Buffer[];
  next: number;
  /** Closes the connection when no answer has reached the client for tcpIdleMs. */
  idle: NodeJS.Timeout;
  /** A later serveTcp is already arranged (batch limit or query budget reached). */
  wake: NodeJS.Timeout | NodeJS.Immediate | null;
}

interface Attachment {
  sandboxId: string;
  nsPath: string;
  udp: dgram.Socket;
  tcp: net.Server;
  clients: Set<TcpClient>;
  closed: boolean;
  /** false = parked: the sockets stay open and every query gets REFUSED (no user-defined network). */
  serving: boolean;
  /** Reused for every fast-path query (keeps the hot path free of per-query objects). */
  fast: FastAnswerContext;
  /** DNS-over-TCP queries per second for this sandbox, all its connections together. */
  tcpBudget: TokenBucket;
}

export class DnsService {
  private readonly directory: DnsDirectory;
  private readonly ttl: number;
  private readonly tcpIdleMs: number;
  private readonly maxTcpClientsPerSandbox: number;
  private readonly maxTcpClients: number;
  private readonly tcpQueriesPerSecond: number;
  private tcpClients = 0;
  private tcpRefused = 0;
  private readonly log: (msg: string) => void;
  private readonly forwarder: Forwarder;
  private readonly attachments = new Map<string, Attachment>();
  private rotation = 0;

  constructor(opts: DnsServiceOptions) {
    this.directory = opts.directory;
    this.ttl = opts.localTtlSeconds ?? DEFAULT_TTL_S;
    this.tcpIdleMs = opts.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_MS;
    this.maxTcpClientsPerSandbox = opts.maxTcpClientsPerSandbox ?? DEFAULT_MAX_TCP_CLIENTS_PER_SANDBOX;
    this.maxTcpClients = opts.maxTcpClients ?? DEFAULT_MAX_TCP_CLIENTS;
    this.tcpQueriesPerSecond = opts.tcpQueriesPerSecond ?? DEFAULT_TCP_QUERIES_PER_SECOND;
    this.log = opts.log ?? (() => {});
    this.forwarder = new Forwarder({
      timeoutMs: opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      maxInFlight: opts.maxForwardsInFlight ?? DEFAULT_MAX_FORWARDS,
      maxInFlightPerSandbox: opts.maxForwardsPerSandbox ?? DEFAULT_MAX_FORWARDS_PER_SANDBOX,
      log: this.log,
    });
  }

  /**
   * DNS-over-TCP load, for tests and measurements: open client connections, connections
   * closed at accept because a cap was reached, and answer bytes queued in user space
   * (written to a client but not yet taken by its kernel socket).
   */
  tcpStats(): { clients: number; refused: number; queuedBytes: number } {
    let queuedBytes = 0;
    for (const att of this.attachments.values()) for (const c of att.clients) queuedBytes += c.conn.writableLength;
    return { clients: this.tcpClients, refused: this.tcpRefused, queuedBytes };
  }

  /** Forwards in flight: all, or one sandbox's. */
  forwardsInFlight(sandboxId?: string): number {
    return sandboxId === undefined ? this.forwarder.forwardsInFlight : this.forwarder.inFlightFor(sandboxId);
  }

  /** Sandboxes currently served (parked ones are not). */
  attached(): string[] {
    return [...this.attachments.values()].filter((a) => a.serving).map((a) => a.sandboxId);
  }

  /**
   * Binds UDP and TCP 127.0.0.11:53 inside nsPath (lo must be up) and starts answering for
   * sandboxId. Idempotent: a sandbox already attached is left as it is.
   */
  attach(sandboxId: string, nsPath: string): void {
    this.open(sandboxId, nsPath).serving = true;
  }

  /**
   * Holds the sandbox's sockets open without serving it: every query is REFUSED (a sandbox
   * with no user-defined network has no embedded DNS in Docker). attach() later costs no
   * system call. Opens the sockets if needed.
   */
  park(sandboxId: string, nsPath: string): void {
    this.open(sandboxId, nsPath).serving = false;
  }

  private open(sandboxId: string, nsPath: string): Attachment {
    const had = this.attachments.get(sandboxId);
    if (had) return had;
    const udpFd = this.openListener(sandboxId, nsPath, 'udp');
    let tcpFd: number;
    try {
      tcpFd = this.openListener(sandboxId, nsPath, 'tcp');
    } catch (err) {
      closeSocketFd(udpFd);
      throw err;
    }
    try {
      setsockoptInt(tcpFd, SOL_SOCKET, SO_SNDBUF, TCP_SNDBUF);
    } catch (err) {
      closeSocketFd(udpFd);
      closeSocketFd(tcpFd);
      throw err;
    }
    const att: Attachment = {
      sandboxId, nsPath, clients: new Set(), closed: false, serving: false,
      fast: { directory: this.directory, sandboxId, transport: 'udp', rotation: 0, ttl: this.ttl },
      tcpBudget: new TokenBucket(this.tcpQueriesPerSecond, this.tcpQueriesPerSecond, performance.now()),
      udp: dgram.createSocket('udp4'),
      tcp: net.createServer({ noDelay: true }),
    };
    att.udp.on('message', (msg, rinfo) => this.onUdpQuery(att, msg, rinfo.port, rinfo.address));
    att.udp.on('error', (err) => this.log(`dns: sandbox ${sandboxId}: udp: ${err.message}`));
    att.udp.bind({ fd: udpFd });
    // Beyond the per-sandbox cap Node closes a new connection itself, before making a socket object of it.
    att.tcp.maxConnections = this.maxTcpClientsPerSandbox;
    att.tcp.on('drop', () => this.tcpRefused++);
    att.tcp.on('connection', (conn) => this.onTcpClient(att, conn));
    att.tcp.on('error', (err) => this.log(`dns: sandbox ${sandboxId}: tcp: ${err.message}`));
    att.tcp.listen({ fd: tcpFd });
    this.attachments.set(sandboxId, att);
    return att;
  }

  /** Closes that sandbox's sockets (and its TCP clients). Idempotent. */
  detach(sandboxId: string): void {
    const att = this.attachments.get(sandboxId);
    if (!att) return;
    this.attachments.delete(sandboxId);
    this.shut(att);
  }

  async close(): Promise<void> {
    const all = [...this.attachments.values()];
    this.attachments.clear();
    this.forwarder.close();
    await Promise.all(all.map((att) => this.shut(att)));
  }

  private openListener(sandboxId: string, nsPath: string, protocol: 'udp' | 'tcp'): number {
    try {
      return openSocketInNetns(nsPath, { family: 4, protocol, bindV4: { ip: RESOLVER_IP, port: RESOLVER_PORT } });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SwitchyardError('unavailable', 'DNS_LISTEN_FAILED',
        `sandbox ${sandboxId}: cannot listen on ${protocol} ${RESOLVER_IP}:${RESOLVER_PORT} in ${nsPath} (is lo up?): ${why}`,
        { field: 'nsPath', cause: err });
    }
  }

  private shut(att: Attachment): Promise<void> {
    att.closed = true;
    for (const c of [...att.clients]) c.conn.destroy();
    att.clients.clear();
    const udpClosed = new Promise<void>((resolve) => {
      try {
        att.udp.close(() => resolve());
      } catch {
        resolve();
      }
    });
    const tcpClosed = new Promise<void>((resolve) => att.tcp.close(() => resolve()));
    return Promise.all([udpClosed, tcpClosed]).then(() => undefined);
  }

  private onUdpQuery(att: Attachment, msg: Buffer, port: number, address: string): void {
    // A datagram from port 0 (a raw socket can send one) cannot be answered: dgram's send()
    // throws ERR_SOCKET_BAD_PORT for it, which would escape this handler and end the daemon.
    if (port <= 0 || port > 65535) return;
    if (!att.serving) {
      const refused = rcodeResponse(msg, RCODE.REFUSED);
      if (refused) this.sendUdp(att, refused, port, address);
      return;
    }
    const fast = this.tryFast(att, msg, 'udp');
    if (fast) {
      this.sendUdp(att, fast, port, address);
      return;
    }
    this.handle(att, msg, 'udp', (answer) => {
      if (!att.closed) this.sendUdp(att, answer, port, address);
    });
  }

  /**
   * No callback: dgram then sends synchronously with no completion to schedule (the hot
   * path). A send error (the namespace going away, EPERM from the sandbox's own firewall)
   * reaches the socket's 'error' listener, which logs it.
   */
  private sendUdp(att: Attachment, answer: Buffer, port: number, address: string): void {
    att.udp.send(answer, port, address);
  }

  /**
   * One DNS-over-TCP client (RFC 7766). Bounded on every side, since any process in the
   * sandbox can open these:
   * - at most maxTcpClientsPerSandbox connections per sandbox and maxTcpClients in all;
   *   beyond, a new connection is closed at once (each one is a daemon fd);
   * - back-pressure: while the client does not take our answers (write() returns false),
   *   reading stops, so pipelined queries wait in the client's kernel socket, not in the
   *   daemon's memory;
   * - the idle timer counts from the last answer the kernel took, so a client that keeps
   *   sending (or trickles one byte at a time) without reading is still closed after it;
   * - at most TCP_BATCH queries per connection per event-loop turn, and tcpQueriesPerSecond
   *   per sandbox: a client with a huge receive buffer cannot make the daemon answer
   *   pipelined queries as fast as the CPU allows.
   */
  private onTcpClient(att: Attachment, conn: net.Socket): void {
    if (att.closed || att.clients.size >= this.maxTcpClientsPerSandbox || this.tcpClients >= this.maxTcpClients) {
      this.tcpRefused++;
      conn.on('error', () => {});
      conn.destroy();
      return;
    }
    const client: TcpClient = {
      conn,
      reader: new FrameReader(),
      queue: [],
      next: 0,
      idle: setTimeout(() => conn.destroy(), this.tcpIdleMs),
      wake: null,
    };
    att.clients.add(client);
    this.tcpClients++;
    conn.on('data', (chunk) => {
      for (const msg of client.reader.push(chunk)) client.queue.push(msg);
      if (!client.wake) this.serveTcp(att, client);
    });
    conn.on('drain', () => {
      if (!client.wake) this.serveTcp(att, client);
    });
    conn.on('error', () => conn.destroy());
    conn.on('close', () => {
      clearTimeout(client.idle);
      if (client.wake) {
        clearTimeout(client.wake as NodeJS.Timeout);
        clearImmediate(client.wake as NodeJS.Immediate);
        client.wake = null;
      }
      client.queue = [];
      if (att.clients.delete(client)) this.tcpClients--;
    });
  }

  /**
   * Answers queued queries until the client stops taking answers, the batch is done or the
   * sandbox's TCP query budget is spent; reads again once everything queued is answered.
   */
  private serveTcp(att: Attachment, client: TcpClient): void {
    client.wake = null;
    const { conn } = client;
    if (conn.destroyed) return;
    let waitMs = 0;
    let n = 0;
    conn.cork(); // one writev for the batch, not one send() per answer
    // RFC 7766 §6.2.1.1: pipelined queries are answered as each is ready, in any order.
    while (client.next < client.queue.length && !conn.writableNeedDrain && n < TCP_BATCH) {
      waitMs = att.tcpBudget.take(performance.now());
      if (waitMs > 0) break;
      n++;
      const msg = client.queue[client.next++]!;
      if (!att.serving) {
        const refused = rcodeResponse(msg, RCODE.REFUSED);
        if (refused) this.writeTcp(client, refused);
        continue;
      }
      const fast = this.tryFast(att, msg, 'tcp');
      if (fast) {
        this.writeTcp(client, fast);
        continue;
      }
      this.handle(att, msg, 'tcp', (answer) => this.writeTcp(client, answer));
    }
    conn.uncork();
    if (client.next === client.queue.length) {
      client.queue = [];
      client.next = 0;
    }
    if (conn.destroyed) return;
    if (client.queue.length === 0 && !conn.writableNeedDrain) {
      if (conn.isPaused()) conn.resume();
      return;
    }
    conn.pause();
    if (conn.writableNeedDrain) return; // 'drain' carries on
    client.wake = waitMs > 0 ? setTimeout(() => this.serveTcp(att, client), waitMs) : setImmediate(() => this.serveTcp(att, client));
  }

  private writeTcp(client: TcpClient, answer: Buffer): void {
    if (client.conn.destroyed) return;
    client.conn.write(frame(answer), (err) => {
      if (!err) client.idle.refresh();
    });
  }

  /** The hot path (fast-answer.ts); null sends the query down the general path. */
  private tryFast(att: Attachment, msg: Buffer, transport: Transport): Buffer | null {
    this.rotation = (this.rotation + 1) % ROTATION_MOD;
    const ctx = att.fast;
    ctx.transport = transport;
    ctx.rotation = this.rotation;
    try {
      return fastAnswer(msg, ctx);
    } catch {
      return null; // the general path reports directory failures
    }
  }

  /** Decodes, decides, and sends: at once for a local answer, later for a forward. */
  private handle(att: Attachment, msg: Buffer, transport: Transport, send: (answer: Buffer) => void): void {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      const formerr = rcodeResponse(msg, RCODE.FORMERR);
      if (formerr) send(formerr);
      return;
    }
    let resolution;
    try {
      resolution = resolveQuery(query, { directory: this.directory, sandboxId: att.sandboxId, transport, rotation: this.rotation, ttl: this.ttl });
    } catch (err) {
      this.log(`dns: sandbox ${att.sandboxId}: directory failed: ${err instanceof Error ? err.message : String(err)}`);
      const servfail = rcodeResponse(msg, RCODE.SERVFAIL);
      if (servfail) send(servfail);
      return;
    }
    if (resolution.kind === 'local') {
      send(dnsPacket.encode(resolution.response));
    } else if (resolution.kind === 'forward') {
      this.forward(att, msg, query, transport, send);
    }
  }

  private forward(att: Attachment, msg: Buffer, query: DecodedPacket, transport: Transport, send: (answer: Buffer) => void): void {
    let upstreams;
    try {
      upstreams = this.directory.upstreams(att.sandboxId);
    } catch (err) {
      this.log(`dns: sandbox ${att.sandboxId}: directory failed: ${err instanceof Error ? err.message : String(err)}`);
      const servfail = rcodeResponse(msg, RCODE.SERVFAIL);
      if (servfail) send(servfail);
      return;
    }
    const udpLimit = responseLimit(query, 'udp');
    void this.forwarder.forward({ query: msg, transport, udpLimit, upstreams, sandboxId: att.sandboxId, nsPath: att.nsPath }).then((answer) => {
      if (answer) send(answer);
    });
  }
}
