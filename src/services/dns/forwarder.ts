/**
 * Forwards queries the directory does not answer to the sandbox's upstream servers.
 *
 * - Up to 3 upstreams, tried in order; a timeout, an error, SERVFAIL or REFUSED moves on
 *   to the next one, any other answer (NXDOMAIN included) is returned as is (Docker §3.3).
 * - One total budget per query (default 1800 ms), shared out so that the client gets
 *   SERVFAIL before its own 2 s retry: attempt i of n gets remaining / (n - i).
 * - UDP queries go out over UDP; a truncated upstream answer is retried over TCP, and the
 *   full answer is returned when it fits the client's UDP limit (else the truncated one,
 *   so that the client retries over TCP itself). TCP queries go out over TCP.
 * - Sockets are dialled from the sandbox's namespace (explicit --dns) or the daemon's own
 *   (host resolv.conf, so 127.0.0.53 works); see docs/DNS.md.
 * - Each exchange carries a fresh random ID, not the client's; a reply counts only when it
 *   comes from the connected server, echoes that ID and repeats the question
 *   (RFC 5452 §4.3, §9.1). The client's ID is put back before the answer goes out.
 * - At most maxInFlight forwards at once across all sandboxes, and maxInFlightPerSandbox
 *   for any one sandbox (so one sandbox querying a black-holed domain cannot take every
 *   slot); beyond either, REFUSED at once.
 */
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { closeSocketFd, openSocketInNetns } from '../../kernel/netns.js';
import type { UpstreamSet } from './types.js';
import { FrameReader, frame } from './tcp-framing.js';
import { parseUpstreams, type Upstream } from './upstream.js';
import type { Transport } from './answer.js';
import { HEADER_BYTES, RCODE, isResponse, isTruncated, messageId, rcodeOf, rcodeResponse, sameQuestion } from './wire.js';

export interface ForwarderOptions {
  timeoutMs: number;
  maxInFlight: number;
  /** Forwards in flight for one sandbox; default: maxInFlight (no per-sandbox limit). */
  maxInFlightPerSandbox?: number;
  log: (msg: string) => void;
}

export interface ForwardRequest {
  /** The query as the client sent it (no TCP length prefix). */
  query: Buffer;
  transport: Transport;
  /** The client's UDP size limit, to decide whether a TCP-retried answer can go back over UDP. */
  udpLimit: number;
  upstreams: UpstreamSet;
  /** The sandbox that asked: its forwards count toward its own budget. */
  sandboxId: string;
  /** The sandbox's namespace, used when upstreams.fromSandboxNs. */
  nsPath: string;
}

/** One in-progress exchange with one upstream; `cancel` ends it with no answer. */
interface Exchange {
  cancel(): void;
}

/** 16-bit IDs from the CSPRNG, drawn in batches (RFC 5452 §9.2: unpredictable IDs). */
class IdSource {
  private readonly pool = new Uint16Array(256);
  private next = this.pool.length;
  take(): number {
    if (this.next === this.pool.length) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    return this.pool[this.next++]!;
  }
}

export class Forwarder {
  private inFlight = 0;
  private readonly perSandbox = new Map<string, number>();
  private readonly exchanges = new Set<Exchange>();
  private readonly ids = new IdSource();
  /** Upstream texts are parsed once per set the directory hands out, not once per query. */
  private readonly parsed = new WeakMap<UpstreamSet, Upstream[]>();
  private readonly perSandboxLimit: number;
  private closed = false;

  constructor(private readonly opts: ForwarderOptions) {
    this.perSandboxLimit = opts.maxInFlightPerSandbox ?? opts.maxInFlight;
  }

  get forwardsInFlight(): number {
    return this.inFlight;
  }

  /** Forwards in flight for one sandbox. */
  inFlightFor(sandboxId: string): number {
    return this.perSandbox.get(sandboxId) ?? 0;
  }

  /** The answer to send back to the client; never rejects (failures become SERVFAIL or REFUSED). */
  async forward(req: ForwardRequest): Promise<Buffer | null> {
    if (this.closed) return rcodeResponse(req.query, RCODE.SERVFAIL);
    const mine = this.perSandbox.get(req.sandboxId) ?? 0;
    if (this.inFlight >= this.opts.maxInFlight || mine >= this.perSandboxLimit) return rcodeResponse(req.query, RCODE.REFUSED);
    this.inFlight++;
    this.perSandbox.set(req.sandboxId, mine + 1);
    try {
      const answer = await this.tryUpstreams(req);
      if (!answer) return rcodeResponse(req.query, RCODE.SERVFAIL);
      answer.writeUInt16BE(messageId(req.query), 0); // the client's ID back
      return answer;
    } finally {
      this.inFlight--;
      const left = (this.perSandbox.get(req.sandboxId) ?? 1) - 1;
      if (left > 0) this.perSandbox.set(req.sandboxId, left);
      else this.perSandbox.delete(req.sandboxId);
    }
  }

  /** Ends every exchange in progress (their clients get SERVFAIL). */
  close(): void {
    this.closed = true;
    for (const x of [...this.exchanges]) x.cancel();
  }

  private serversOf(set: UpstreamSet): Upstream[] {
    let servers = this.parsed.get(set);
    if (!servers) {
      servers = parseUpstreams(set.servers, (t) => this.opts.log(`dns: ignoring upstream ${JSON.stringify(t)}: not an address`));
      this.parsed.set(set, servers);
    }
    return servers;
  }

  private async tryUpstreams(req: ForwardRequest): Promise<Buffer | null> {
    if (req.query.length < HEADER_BYTES) return null;
    const servers = this.serversOf(req.upstreams);
    const deadline = Date.now() + this.opts.timeoutMs;
    for (let i = 0; i < servers.length && !this.closed; i++) {
      const budget = Math.floor((deadline - Date.now()) / (servers.length - i));
      if (budget <= 0) break;
      const answer = await this.exchangeWith(servers[i]!, req, budget);
      if (!answer) continue;
      const rcode = rcodeOf(answer);
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) continue;
      return answer;
    }
    return null;
  }

  private async exchangeWith(server: Upstream, req: ForwardRequest, budgetMs: number): Promise<Buffer | null> {
    const ns = req.upstreams.fromSandboxNs ? req.nsPath : null;
    const deadline = Date.now() + budgetMs;
    if (req.transport === 'tcp') return this.exchangeTcp(server, req.query, ns, budgetMs);
    const answer = await this.exchangeUdp(server, req.query, ns, budgetMs);
    if (!answer || !isTruncated(answer)) return answer;
    const full = await this.exchangeTcp(server, req.query, ns, deadline - Date.now());
    return full && full.length <= req.udpLimit ? full : answer;
  }

  /** The query as it goes to an upstream: a copy with a fresh random ID. */
  private outgoing(query: Buffer): Buffer {
    const out = Buffer.from(query);
    out.writeUInt16BE(this.ids.take(), 0);
    return out;
  }

  private exchangeUdp(server: Upstream, query: Buffer, nsPath: string | null, timeoutMs: number): Promise<Buffer | null> {
    const wire = this.outgoing(query);
    return this.run(timeoutMs, (finish) => {
      const sock = dgram.createSocket(server.family === 4 ? 'udp4' : 'udp6');
      sock.on('error', () => finish(null)); // ECONNREFUSED from an ICMP port unreachable: next upstream at once
      sock.on('message', (msg) => {
        // A connected socket only hears from the server; ID and question must echo ours.
        if (msg.length >= HEADER_BYTES && isResponse(msg) && messageId(msg) === messageId(wire) && sameQuestion(wire, msg)) finish(msg);
      });
      if (nsPath) {
        const fd = openSocketInNetns(nsPath, { family: server.family, protocol: 'udp' });
        try {
          sock.bind({ fd });
        } catch (err) {
          closeSocketFd(fd);
          throw err;
        }
      }
      // connect() reports its failure (ENETUNREACH from a namespace with no route out) to
      // this callback only: sending anyway on the unconnected socket would throw.
      sock.connect(server.port, server.ip, (err?: Error) => {
        if (err) return finish(null);
        sock.send(wire, (sendErr) => {
          if (sendErr) finish(null);
        });
      });
      return () => sock.close();
    });
  }

  private exchangeTcp(server: Upstream, query: Buffer, nsPath: string | null, timeoutMs: number): Promise<Buffer | null> {
    if (timeoutMs <= 0) return Promise.resolve(null);
    const wire = this.outgoing(query);
    return this.run(timeoutMs, (finish) => {
      let sock: net.Socket;
      if (nsPath) {
        const fd = openSocketInNetns(nsPath, { family: server.family, protocol: 'tcp' });
        try {
          sock = new net.Socket({ fd });
        } catch (err) {
          closeSocketFd(fd);
          throw err;
        }
        sock.on('error', () => finish(null));
        sock.connect(server.port, server.ip);
      } else {
        sock = net.connect(server.port, server.ip);
        sock.on('error', () => finish(null));
      }
      const reader = new FrameReader();
      sock.on('connect', () => sock.write(frame(wire)));
      sock.on('data', (chunk) => {
        for (const msg of reader.push(chunk)) {
          if (msg.length >= HEADER_BYTES && isResponse(msg) && messageId(msg) === messageId(wire) && sameQuestion(wire, msg)) return finish(msg);
        }
      });
      sock.on('close', () => finish(null));
      return () => sock.destroy();
    });
  }

  /**
   * Runs one exchange under a timer. `start` sets up the I/O, calls `finish` once with the
   * answer (or null), and returns its teardown; whichever of answer, error, timeout or
   * close() comes first wins, and the socket is always torn down.
   */
  private run(timeoutMs: number, start: (finish: (answer: Buffer | null) => void) => () => void): Promise<Buffer | null> {
    return new Promise((resolve) => {
      let done = false;
      let teardown: (() => void) | null = null;
      const exchange: Exchange = { cancel: () => finish(null) };
      const timer = setTimeout(() => finish(null), timeoutMs);
      const finish = (answer: Buffer | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.exchanges.delete(exchange);
        try {
          teardown?.();
        } catch {
          // already closed
        }
        resolve(answer);
      };
      this.exchanges.add(exchange);
      try {
        teardown = start(finish);
        if (done) teardown();
      } catch (err) {
        this.opts.log(`dns: cannot reach upstream: ${err instanceof Error ? err.message : String(err)}`);
        finish(null);
      }
    });
  }
}
