/**
 * The CniBackend that talks to the running daemon over its unix socket: one HTTP/1.1
 * request per call, written by hand over node:net so the plugin process loads nothing else
 * (node:http alone adds milliseconds to every exec). Route shapes (the engine's
 * external-sandbox operations):
 *   POST /attachments         {sandbox:{id,nsPath}, network, ifname, mac?, addresses?, aliases?, ports?} → Attachment
 *   POST /attachments/detach  {sandbox, network, ifname}      (404 = already gone)
 *   POST /attachments/check   {sandbox, network, ifname, expected}
 *   POST /attachments/gc      {network, keep:[{containerId, ifname}]}
 *   GET  /_ping               (and GET /networks/NAME for STATUS)
 * Errors come back as {"message"} with the Switchyard-Error-Code header, rebuilt here as
 * SwitchyardErrors of the kind their HTTP status says.
 */
import { connect } from 'node:net';
import { SwitchyardError, type ErrorKind } from '../../errors.js';
import type { AttachRequest, Attachment, CheckRequest, CniBackend, DetachRequest, GcRequest } from './backend.js';

export const DEFAULT_SOCKET = '/run/switchyard/switchyard.sock';
const TIMEOUT_MS = 60_000;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const KIND_BY_STATUS: Record<number, ErrorKind> = { 400: 'invalid', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 503: 'unavailable' };

/** The socket path of a config's `host` ("unix:///x.sock" or "/x.sock"). */
export function socketOf(host: string | undefined): string {
  if (!host) return DEFAULT_SOCKET;
  const path = host.startsWith('unix://') ? host.slice('unix://'.length) : host;
  if (!path.startsWith('/')) throw new SwitchyardError('invalid', 'BAD_HOST', `invalid host "${host}": expected unix:///absolute/path.sock`, { field: 'host' });
  return path;
}

/** Splits a raw HTTP/1.1 response (Content-Length or chunked body). */
export function parseReply(raw: Buffer): Reply {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new SwitchyardError('unavailable', 'DAEMON_CONNECTION_FAILED', 'the daemon closed the connection before answering');
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      if (eol < 0) break;
      const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!size) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  return { status, headers, body: body.toString('utf8') };
}

export class DaemonBackend implements CniBackend {
  constructor(readonly socketPath: string = DEFAULT_SOCKET) {}

  request(method: string, path: string, payload?: unknown): Promise<Reply> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const head = `${method} ${path} HTTP/1.1\r\nHost: switchyard\r\nUser-Agent: switchyard-cni\r\nConnection: close\r\n` +
      (payload === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`) + '\r\n';
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = connect(this.socketPath);
      sock.setTimeout(TIMEOUT_MS, () => sock.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      sock.on('connect', () => sock.end(head + body));
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('error', (err: NodeJS.ErrnoException) => {
        reject(new SwitchyardError('unavailable', 'DAEMON_UNREACHABLE', `cannot reach the switchyard daemon at ${this.socketPath}: ${err.code ?? err.message}`, { cause: err }));
      });
      sock.on('close', (hadError) => {
        if (hadError) return;
        try {
          resolve(parseReply(Buffer.concat(chunks)));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  private async call(method: string, path: string, payload?: unknown): Promise<unknown> {
    const r = await this.request(method, path, payload);
    let json: unknown;
    try {
      json = r.body ? JSON.parse(r.body) : undefined;
    } catch {
      throw new SwitchyardError('internal', 'BAD_RESPONSE', `the daemon answered ${path} with something that is not JSON (HTTP ${r.status})`);
    }
    if (r.status >= 200 && r.status < 300) return json;
    const message = (json as { message?: string } | undefined)?.message ?? `HTTP ${r.status}`;
    throw new SwitchyardError(KIND_BY_STATUS[r.status] ?? 'internal', r.headers['switchyard-error-code'] ?? 'INTERNAL', message);
  }

  async attach(req: AttachRequest): Promise<Attachment> {
    const a = (await this.call('POST', '/attachments', req)) as Partial<Attachment> | undefined;
    return { interfaces: a?.interfaces ?? [], ips: a?.ips ?? [], routes: a?.routes ?? [], dns: a?.dns ?? {} };
  }

  async detach(req: DetachRequest): Promise<void> {
    await this.call('POST', '/attachments/detach', req);
  }

  async check(req: CheckRequest): Promise<void> {
    await this.call('POST', '/attachments/check', req);
  }

  async gc(req: GcRequest): Promise<void> {
    await this.call('POST', '/attachments/gc', req);
  }

  async status(network: string): Promise<void> {
    await this.call('GET', '/_ping');
    await this.call('GET', `/networks/${encodeURIComponent(network)}`);
  }
}
