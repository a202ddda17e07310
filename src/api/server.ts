/**
 * The daemon's HTTP/1.1 API on a unix socket. This file is the plumbing around the route
 * handlers: Docker's versioned paths and headers, the body limit, JSON errors with
 * `Content-Type: application/json` exactly (the docker client decodes errors only then:
 * moby client/request.go checkResponseErr), a cap on concurrent requests, and logging.
 */
import { connect } from 'node:net';
import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { Engine } from '../engine/types.js';
import { asSwitchyardError, conflict, invalid, notFound, unavailable, SwitchyardError } from '../errors.js';
import { checkApiVersion, MAX_API_VERSION, splitVersionedPath } from './api-version.js';
import { httpStatusOf } from './http-status.js';
import type { Reply, RequestContext, RouteHandler } from './http-context.js';
import { Router } from './router.js';
import { addNetworkRoutes } from './routes-networks.js';
import { addSandboxRoutes } from './routes-sandboxes.js';
import { addAttachmentRoutes } from './routes-attachments.js';
import { addCniRoutes } from './routes-cni.js';
import { addNetavarkRoutes } from './routes-netavark.js';
import { addSystemRoutes, type VersionInfo } from './routes-system.js';
import { addUnservedRoutes } from './routes-unserved.js';
import { addNodeRoutes, type NodesPort } from './routes-nodes.js';
import { createMutualTlsServer, listenTcp, type MutualTlsFiles, type TcpAddress } from './tls.js';

export type { VersionInfo } from './routes-system.js';

export interface RequestLogEntry {
  method: string;
  url: string;
  status: number;
  durationMs: number;
  /** Set for failed requests. */
  error?: SwitchyardError;
}

export interface ApiServerOptions {
  engine: Engine;
  version: VersionInfo;
  /** The cluster's nodes (--cluster-store); absent: /nodes keeps Docker's no-swarm answer. */
  nodes?: NodesPort;
  /** Called once per finished request. */
  log?: (entry: RequestLogEntry) => void;
  /** Largest accepted request body (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** Most short requests served at once (default 256); more get 503. */
  maxConcurrentRequests?: number;
  /** Most long-lived requests (/wait, followed /logs) at once (default 512); more get 503. */
  maxLongLivedRequests?: number;
  /** Most open connections per listener (default 1024); the kernel queue holds the rest. */
  maxConnections?: number;
  /** A client must send its request headers within this (default 10 s), else the connection is closed. */
  headersTimeoutMs?: number;
  /** TLS listener: a handshake must finish within this (default 10 s; Node's own is 120 s). */
  handshakeTimeoutMs?: number;
  /** Clock for `docker ps`-style status texts (tests pass a fixed one). */
  now?: () => Date;
}

export interface ApiServer {
  /** `gid`: the socket's group (--group); absent = root's group. Mode is 0660 either way. */
  listen(socketPath: string, opts?: { gid?: number }): Promise<void>;
  /** The optional TCP listener, mutual TLS only (tls.ts); resolves with the bound port. */
  listenTls(at: TcpAddress, files: MutualTlsFiles): Promise<number>;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json';

export function createApiServer(options: ApiServerOptions): ApiServer {
  const router = new Router<RouteHandler>();
  addSystemRoutes(router, options.engine, options.version);
  addNetworkRoutes(router, options.engine);
  addSandboxRoutes(router, { engine: options.engine, ...(options.now ? { now: options.now } : {}) });
  addAttachmentRoutes(router, options.engine);
  addNodeRoutes(router, options.nodes);
  addCniRoutes(router, options.engine);
  addNetavarkRoutes(router, options.engine);
  addUnservedRoutes(router);

  const limits = {
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    maxConcurrent: options.maxConcurrentRequests ?? 256,
    maxLongLived: options.maxLongLivedRequests ?? 512,
  };
  const connectionLimits = connectionLimitsOf(options);
  let inFlight = 0;
  let longLivedInFlight = 0;
  const serverHeader = `Switchyard/${options.version.version} (linux)`;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void serve(req, res);
  };
  // security: a slow client (slowloris) holds a connection at most headersTimeout before
  // its headers are in (guardConnections), and requestTimeout for its whole request (not the
  // answer: /wait and followed /logs stream for as long as they need); at most
  // maxConnections are open, the slowest waiting one making room for a new one.
  const server: Server = createServer(connectionLimits.http, handler);
  guardConnections(server, 'connection', connectionLimits.http.headersTimeout, connectionLimits.maxConnections);
  // security: requests Node's HTTP parser refuses (unknown method, oversized headers, bad
  // framing) get a JSON error too, not Node's bare "400 Bad Request" (docs/SECURITY.md).
  server.on('clientError', answerClientError);
  answerHalfClosedClients(server);
  // security: the TLS listener, when asked for (docs/SECURITY.md)
  let tlsServer: import('node:https').Server | undefined;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    setCommonHeaders(res, serverHeader);

    let counted = false;
    let countedLongLived = false;
    let failure: SwitchyardError | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://switchyard');
      // The path as sent: WHATWG URL parsing would resolve `.`/`..` (and %2E) segments, so a
      // sandbox or network named "." would turn `GET /networks/.` into `GET /networks/`.
      const raw = (req.url ?? '/').split('?')[0]!;
      const { version, path } = splitVersionedPath(raw.startsWith('/') ? raw : `/${raw}`);
      const apiVersion = checkApiVersion(version);
      const method = req.method ?? 'GET';
      const match = router.match(method, path);
      if (match === undefined) throw notFound('PAGE_NOT_FOUND', 'page not found');

      if (!match.handler.longLived) {
        if (inFlight >= limits.maxConcurrent) {
          throw unavailable('TOO_MANY_REQUESTS', `too many concurrent requests (limit ${limits.maxConcurrent}): retry later`);
        }
        inFlight++;
        counted = true;
      } else {
        if (longLivedInFlight >= limits.maxLongLived) {
          throw unavailable('TOO_MANY_REQUESTS', `too many waiting requests (/wait, /logs?follow; limit ${limits.maxLongLived}): retry later`);
        }
        longLivedInFlight++;
        countedLongLived = true;
        // A waiting request ends when its client leaves. Half-closed clients are answered
        // (answerHalfClosedClients), so the client's FIN no longer closes the response by
        // itself: here it does (as Go's net/http cancels a request whose client sent EOF).
        const sock = req.socket;
        const left = () => abort.abort();
        if (sock.readableEnded) left();
        else {
          sock.once('end', left);
          res.once('close', () => sock.off('end', left));
        }
      }

      let bodyPromise: Promise<unknown> | undefined;
      const ctx: RequestContext = {
        method,
        path,
        params: match.params,
        query: url.searchParams,
        apiVersion,
        body: () => (bodyPromise ??= readJsonBody(req, limits.maxBodyBytes)),
        signal: abort.signal,
        req,
        res,
      };
      const reply = await match.handler.handle(ctx);
      // Drain an unread body so the connection can be reused.
      if (bodyPromise === undefined) req.resume();
      sendReply(res, reply);
    } catch (err) {
      failure = asSwitchyardError(err);
      sendError(req, res, failure);
    } finally {
      if (counted) inFlight--;
      if (countedLongLived) longLivedInFlight--;
      options.log?.({
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        durationMs: performance.now() - started,
        ...(failure ? { error: failure } : {}),
      });
    }
  }

  return {
    async listen(socketPath: string, opts: { gid?: number } = {}): Promise<void> {
      await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
      await removeStaleSocket(socketPath);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // security (L7): the socket is bound with umask 0177, so it is 0600 (root only) from
        // the moment it exists until the chmod below opens it to the group: no window in
        // which the process umask decides who may connect. listen() binds a unix socket
        // synchronously, so the umask is restored before any other code runs.
        const umask = process.umask(0o177);
        try {
          server.listen(socketPath, () => {
            server.off('error', reject);
            resolve();
          });
        } finally {
          process.umask(umask);
        }
      });
      // Root and the socket's group only, like /var/run/docker.sock (dockerd --group).
      await chmod(socketPath, 0o660);
      await chown(socketPath, 0, opts.gid ?? 0);
    },
    async listenTls(at: TcpAddress, files: MutualTlsFiles): Promise<number> {
      tlsServer = createMutualTlsServer(files, handler, connectionLimits);
      answerHalfClosedClients(tlsServer);
      tlsServer.on('clientError', answerClientError);
      guardConnections(tlsServer, 'secureConnection', connectionLimits.http.headersTimeout, connectionLimits.maxConnections);
      return listenTcp(tlsServer, at);
    },
    async close(): Promise<void> {
      await Promise.all([server, tlsServer].map((s) => new Promise<void>((resolve) => {
        if (!s?.listening) return resolve();
        s.close(() => resolve());
        // Followed log streams and waits would keep close() pending forever.
        s.closeAllConnections();
      })));
    },
  };
}

export interface ConnectionLimits {
  maxConnections: number;
  /** Options for node:http / node:https createServer. */
  http: { keepAliveTimeout: number; headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
  /** TLS: a handshake must finish within this. */
  handshakeTimeoutMs: number;
}

export function connectionLimitsOf(o: { maxConnections?: number; headersTimeoutMs?: number; handshakeTimeoutMs?: number }): ConnectionLimits {
  const headersTimeout = o.headersTimeoutMs ?? 10_000;
  return {
    maxConnections: o.maxConnections ?? 1024,
    http: {
      keepAliveTimeout: 5_000,
      headersTimeout,
      // The whole request (headers and a body of at most 1 MiB) within 60 s.
      requestTimeout: Math.max(60_000, headersTimeout),
      // How often Node checks those two timeouts (default 30 s would let a slow client stay 40 s).
      connectionsCheckingInterval: Math.min(1_000, headersTimeout),
    },
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
  };
}

/**
 * Per-listener connection guard against slow clients (slowloris):
 * - a connection whose request headers are not all in within `ms` of its start (or of the
 *   end of its previous answer, on a kept-alive connection) gets a 408 and is closed. Node's
 *   own headersTimeout is not enough: in Node 20 it tracks connections in a set keyed by
 *   their start time, so connections opened in the same millisecond are not all tracked;
 *   with a few hundred slow clients most were never cut (88 of 600 closed after 8 s with a
 *   3 s timeout, measured with this file's server);
 * - at most `cap` connections are open. When a new one would exceed it, the connection
 *   that has waited longest for its headers is closed to make room (a client that is
 *   sending its request takes microseconds to do so, a slow one seconds); only when no
 *   connection is waiting for headers is the new one refused. So slow connections cannot
 *   lock other clients out, however many there are.
 */
function guardConnections(server: Server | import('node:https').Server, event: 'connection' | 'secureConnection', ms: number, cap: number): void {
  type Sock = import('node:net').Socket;
  const open = new Set<Sock>();
  /** Sockets waiting for request headers, oldest first (Map keeps insertion order). */
  const waiting = new Map<Sock, NodeJS.Timeout>();
  const refuse = (socket: Sock, message: string): void => {
    const t = waiting.get(socket);
    if (t) clearTimeout(t);
    waiting.delete(socket);
    if (socket.destroyed) return;
    const body = `${JSON.stringify({ message })}\n`;
    socket.end(`HTTP/1.1 408 Request Timeout\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    socket.destroySoon();
  };
  const arm = (socket: Sock): void => {
    const old = waiting.get(socket);
    if (old) clearTimeout(old);
    waiting.delete(socket);
    const t = setTimeout(() => refuse(socket, `request headers not received within ${ms / 1000} s`), ms);
    t.unref();
    waiting.set(socket, t);
  };
  const disarm = (socket: Sock): void => {
    const t = waiting.get(socket);
    if (t) clearTimeout(t);
    waiting.delete(socket);
  };
  server.on(event, (socket: Sock) => {
    if (open.size >= cap) {
      const oldest = waiting.keys().next();
      if (oldest.done) {
        socket.destroy();
        return;
      }
      refuse(oldest.value, `too many connections (limit ${cap}): this one waited longest for its request headers`);
      open.delete(oldest.value);
    }
    open.add(socket);
    arm(socket);
    socket.once('close', () => {
      disarm(socket);
      open.delete(socket);
    });
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    disarm(req.socket);
    res.once('finish', () => {
      if (!req.socket.destroyed) arm(req.socket);
    });
  });
}

/** Node's parser codes for a request it could not read (node:http "Event: 'clientError'"). */
function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  // Each later read of an unparsable request is one more parser error: answered once, the
  // socket is lingering (below) and closes by itself.
  if (answeredClientErrors.has(socket)) return;
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  answeredClientErrors.add(socket);
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const message = tooLarge ? 'request headers are too large' : `malformed HTTP request: ${err.code ?? err.message}`;
  const body = `${JSON.stringify({ message })}\n`;
  socket.write(`HTTP/1.1 ${status}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  // What the client still sends of its request goes nowhere: the parser is done with it.
  socket.removeAllListeners('data');
  lingerThenClose(socket as import('node:net').Socket);
}

const answeredClientErrors = new WeakSet<object>();

function setCommonHeaders(res: ServerResponse, serverHeader: string): void {
  res.setHeader('Server', serverHeader);
  res.setHeader('Api-Version', MAX_API_VERSION);
  res.setHeader('Ostype', 'linux');
  res.setHeader('Docker-Experimental', 'false');
}

function sendReply(res: ServerResponse, reply: Reply): void {
  switch (reply.kind) {
    case 'streamed':
      return;
    case 'empty':
      res.writeHead(reply.status, { 'Content-Length': '0' });
      res.end();
      return;
    case 'text':
      res.writeHead(reply.status, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(reply.body)),
      });
      res.end(reply.body);
      return;
    case 'json': {
      const body = `${JSON.stringify(reply.body)}\n`;
      res.writeHead(reply.status, { 'Content-Type': JSON_TYPE, 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
    }
  }
}

function sendError(req: IncomingMessage, res: ServerResponse, err: SwitchyardError): void {
  if (res.headersSent) {
    // A stream failed half-way: all we can do is cut it.
    res.destroy(err);
    return;
  }
  const status = httpStatusOf(err);
  const body = `${JSON.stringify({ message: err.message })}\n`;
  const headers: Record<string, string> = {
    'Content-Type': JSON_TYPE,
    'Content-Length': String(Buffer.byteLength(body)),
    'Switchyard-Error-Code': err.code,
  };
  // An unread body would be parsed as the next request: close instead of draining a big one,
  // but only once the client has sent it (lingerBeforeClose).
  if (!req.complete) {
    headers['Connection'] = 'close';
    lingerBeforeClose(req);
  }
  res.writeHead(status, headers);
  res.end(body);
}

/** A lingering close reads and drops at most this much of an unread body ... */
const LINGER_BYTES = 4 * 1024 * 1024;
/** ... for at most this long. */
const LINGER_MS = 2_000;

/**
 * A "lingering close" (RFC 9112 §9.6) for an answer sent before the request's body was read
 * (a refused version, route or body size): after the answer, the connection is half-closed
 * and what the client still sends of its body is read and dropped until it closes its side
 * (bounded by LINGER_BYTES and LINGER_MS), and only then closed. Closed at once, with part of
 * the body still unread, the kernel resets the client's side, and a client still writing its
 * body can lose the answer (the API fuzzer lost answers so in CI runs: a 40 KB body to
 * `/v1.9/…`, a declared 1 MiB + body). Node's http server calls `destroySoon()` once a
 * `Connection: close` answer is written: that call starts the linger.
 */
function lingerBeforeClose(req: IncomingMessage): void {
  const sock = req.socket as import('node:net').Socket & { destroySoon(): void };
  let started = false;
  sock.destroySoon = () => {
    if (started) return;
    started = true;
    req.resume();
    lingerThenClose(sock);
  };
}

/**
 * The lingering close itself, once the answer is written: half-closes, then reads and drops
 * what the client still sends until it closes its side, LINGER_BYTES or LINGER_MS, and
 * closes. Also after a request Node's parser refused (answerClientError: headers too large,
 * malformed), whose rest the client may still be writing.
 */
function lingerThenClose(sock: import('node:net').Socket): void {
  let dropped = 0;
  const close = (): void => {
    clearTimeout(timer);
    sock.destroy();
  };
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  sock.end();
  sock.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) close();
  });
  sock.once('end', close);
  sock.resume();
}

/** Reads and parses the body; undefined when empty. */
function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = (): SwitchyardError =>
    invalid('BODY_TOO_LARGE', `request body is larger than the limit of ${maxBytes} bytes`, 'body');
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxBytes) return Promise.reject(tooLarge());

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => reject(invalid('BAD_BODY', `could not read the request body: ${err.message}`, 'body')));
    req.on('end', () => {
      if (size > maxBytes) return;
      const raw = Buffer.concat(chunks).toString('utf8');
      if (raw.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(raw));
      } catch (err) {
        reject(invalid('BAD_JSON', `invalid JSON in request body: ${(err as Error).message}`, 'body'));
      }
    });
  });
}

/**
 * A socket file left by a daemon that died is removed; one that still answers belongs to
 * a running daemon, and taking it over would cut that daemon off from its clients.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat;
  try {
    stat = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw conflict('SOCKET_PATH_TAKEN', `cannot listen on ${socketPath}: the path exists and is not a socket`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw conflict('SOCKET_IN_USE', `cannot listen on ${socketPath}: another daemon is already serving it`);
  }
  await unlink(socketPath);
}

/**
 * A client may send its request and then shut its sending side (shutdown(SHUT_WR), as small
 * forwarders and `nc -N` do) while it waits for the answer. node:http's default
 * (httpAllowHalfOpen false) ends the socket as soon as that FIN arrives, so an answer that is
 * not ready yet (anything that waits on the kernel or on etcd) was lost and the client saw an
 * empty reply while the work went on. With it true, node:http answers the requests it has and
 * ends the connection after the last answer (`_last`). A waiting request (/wait, a followed
 * /logs) still ends at the client's FIN (serve, the long-lived branch). The property is node:http's own
 * (lib/_http_server.js), not a documented option; test/integration/api-half-close.test.ts
 * shows it works.
 */
function answerHalfClosedClients(server: object): void {
  (server as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
}
