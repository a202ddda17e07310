/**
 * The CniBackend that talks to the running daemon over its unix socket: one HTTP/1.1
 * request per call, written by hand over node:net so the plugin process loads nothing else
 * (node:http alone adds milliseconds to every exec). The routes are the engine's
 * external-sandbox operations (src/api/routes-attachments.ts, docs/api/openapi.yaml "Attachments"):
 *   POST   /attachments        {Sandbox:{ID,NsPath}, Network, Ifname, MacAddress?, Addresses?, Aliases?}
 *                              → {SandboxID, NetworkID, Network, Ifname, MacAddress, Addresses, Gateways, HostLink?}
 *   DELETE /attachments?sandbox=&network=&ifname=   → {Errors:[{Code,Kind,Message}]} (gone = success)
 *   GET    /attachments/check?sandbox=&network=&ifname= → the attachment view, or an error
 *   POST   /attachments/gc     {Keep:[{Sandbox, Ifname}], Network} → {Errors}
 *   GET    /_ping, GET /networks/NAME (STATUS)
 * Errors come back as {"message"} with the Switchyard-Error-Code header, rebuilt here as
 * SwitchyardErrors of the kind their HTTP status says (api/http-status.ts).
 */
import { connect } from 'node:net';
import { SwitchyardError } from '../../errors.js';
import { errorKindOf } from '../../api/http-status.js';
import type { AttachRequest, AttachedAddress, AttachedInterface, AttachedRoute, Attachment, CheckRequest, CniBackend, DetachRequest, GcRequest } from './backend.js';

export const DEFAULT_SOCKET = '/run/switchyard/switchyard.sock';
const TIMEOUT_MS = 60_000;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The daemon's attachment view (routes-attachments.ts attachmentView). */
export interface AttachmentView {
  SandboxID: string;
  NetworkID: string;
  Network: string;
  Ifname: string;
  MacAddress: string;
  Addresses: string[] | null;
  Gateways: string[] | null;
  HostLink?: string;
  /** The embedded DNS, when the sandbox is on a user-defined network. */
  Dns?: { Nameservers?: string[] | null; Search?: string[] | null; Options?: string[] | null };
}

export interface TeardownView {
  Errors: { Code: string; Kind: string; Message: string }[] | null;
}

/** The engine's check failures for an attachment that exists but is not intact (engine/attachment-ops.ts). */
export const DAMAGED = new Set(['ATTACHMENT_BROKEN', 'NETNS_GONE']);

const isV6 = (cidr: string) => cidr.includes(':');

/**
 * An attachment view in CNI terms: the host-side link (when the driver makes one) first, the
 * sandbox interface last; each address with the gateway of its family; a default route per
 * family that has a gateway (the engine installs those in the namespace).
 */
export function attachmentOf(v: AttachmentView, nsPath: string): Attachment {
  const interfaces: AttachedInterface[] = [];
  if (v.HostLink) interfaces.push({ name: v.HostLink });
  interfaces.push({ name: v.Ifname, ...(v.MacAddress ? { mac: v.MacAddress } : {}), sandbox: nsPath });
  const index = interfaces.length - 1;
  const gateways = v.Gateways ?? [];
  const gatewayOf = (cidr: string) => gateways.find((g) => isV6(g) === isV6(cidr));
  const ips: AttachedAddress[] = (v.Addresses ?? []).map((address) => {
    const gateway = gatewayOf(address);
    return { address, ...(gateway ? { gateway } : {}), interface: index };
  });
  const routes: AttachedRoute[] = gateways.map((gw) => ({ dst: isV6(gw) ? '::/0' : '0.0.0.0/0', gw }));
  const dns: Attachment['dns'] = {};
  if (v.Dns?.Nameservers?.length) dns.nameservers = v.Dns.Nameservers;
  if (v.Dns?.Search?.length) dns.search = v.Dns.Search;
  if (v.Dns?.Options?.length) dns.options = v.Dns.Options;
  return { interfaces, ips, routes, dns };
}

/** Differences between what the runtime recorded at ADD and what the daemon reports now (empty = same). */
export function differences(expected: Attachment, actual: Attachment, ifname: string): string[] {
  const out: string[] = [];
  const want = expected.interfaces.findIndex((i) => i.name === ifname && i.sandbox !== undefined);
  if (want < 0) return [`prevResult has no interface ${ifname} in a sandbox`];
  const mine = actual.interfaces.find((i) => i.sandbox !== undefined)!;
  const wantIf = expected.interfaces[want]!;
  if (wantIf.mac && mine.mac && wantIf.mac.toLowerCase() !== mine.mac.toLowerCase()) out.push(`mac ${mine.mac}, recorded ${wantIf.mac}`);
  const recorded = expected.ips.filter((ip) => ip.interface === want).map((ip) => ip.address).sort();
  const now = actual.ips.map((ip) => ip.address).sort();
  if (recorded.join(',') !== now.join(',')) out.push(`addresses [${now.join(', ')}], recorded [${recorded.join(', ')}]`);
  return out;
}

/** CHECK's last step: the attachment the daemon reports against the runtime's prevResult (error 3 when they differ). */
export function compareWithPrevResult(req: CheckRequest, v: AttachmentView): void {
  const diff = differences(req.expected, attachmentOf(v, req.sandbox.nsPath), req.ifname);
  if (diff.length) {
    throw new SwitchyardError('not-found', 'ATTACHMENT_CHANGED', `the attachment of ${req.sandbox.id} to ${req.network} as ${req.ifname} differs from prevResult: ${diff.join('; ')}`);
  }
}

export function teardownFailure(what: string, v: TeardownView | undefined): void {
  const errors = v?.Errors ?? [];
  if (!errors.length) return;
  const first = errors[0]!;
  throw new SwitchyardError(errorKindFromName(first.Kind), first.Code, `${what}: ${errors.map((e) => `${e.Code}: ${e.Message}`).join('; ')}`);
}

function errorKindFromName(kind: string): SwitchyardError['kind'] {
  const kinds: SwitchyardError['kind'][] = ['invalid', 'not-found', 'conflict', 'forbidden', 'unavailable', 'not-implemented', 'internal'];
  return kinds.find((k) => k === kind) ?? 'internal';
}

function query(r: { sandbox: { id: string }; network: string; ifname: string }): string {
  return `sandbox=${encodeURIComponent(r.sandbox.id)}&network=${encodeURIComponent(r.network)}&ifname=${encodeURIComponent(r.ifname)}`;
}

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
      if (r.status >= 200 && r.status < 300) return r.body; // e.g. /_ping's "OK"
      throw new SwitchyardError('internal', 'BAD_RESPONSE', `the daemon answered ${path} with something that is not JSON (HTTP ${r.status})`);
    }
    if (r.status >= 200 && r.status < 300) return json;
    const message = (json as { message?: string } | undefined)?.message ?? `HTTP ${r.status}`;
    throw new SwitchyardError(errorKindOf(r.status), r.headers['switchyard-error-code'] ?? 'INTERNAL', message);
  }

  async attach(req: AttachRequest): Promise<Attachment> {
    const v = (await this.call('POST', '/attachments', {
      Sandbox: { ID: req.sandbox.id, NsPath: req.sandbox.nsPath },
      Network: req.network,
      Ifname: req.ifname,
      ...(req.mac ? { MacAddress: req.mac } : {}),
      ...(req.addresses?.length ? { Addresses: req.addresses } : {}),
      ...(req.aliases?.length ? { Aliases: req.aliases } : {}),
      ...(req.ports?.length ? { Ports: req.ports.map((p) => ({ HostPort: p.hostPort, ContainerPort: p.containerPort, Protocol: p.protocol, ...(p.hostIP ? { HostIP: p.hostIP } : {}) })) } : {}),
    })) as AttachmentView;
    return attachmentOf(v, req.sandbox.nsPath);
  }

  async detach(req: DetachRequest): Promise<void> {
    teardownFailure(`detaching ${req.sandbox.id} from ${req.network}`, (await this.call('DELETE', `/attachments?${query(req)}`)) as TeardownView);
  }

  async check(req: CheckRequest): Promise<void> {
    let v: AttachmentView;
    try {
      v = (await this.call('GET', `/attachments/check?${query(req)}`)) as AttachmentView;
    } catch (err) {
      // A damaged attachment is CNI error 3 (docs/frontends/cni.md), as an unknown one is.
      if (err instanceof SwitchyardError && DAMAGED.has(err.code)) throw new SwitchyardError('not-found', err.code, err.message, { cause: err });
      throw err;
    }
    compareWithPrevResult(req, v);
  }

  /** GC of one network: attachments to other networks are never touched. */
  async gc(req: GcRequest): Promise<void> {
    const keep = req.keep.map((k) => ({ Sandbox: k.containerId, Ifname: k.ifname }));
    teardownFailure(`garbage-collecting ${req.network}`, (await this.call('POST', '/attachments/gc', { Keep: keep, Network: req.network })) as TeardownView);
  }

  async status(network: string): Promise<void> {
    await this.call('GET', '/_ping');
    await this.call('GET', `/networks/${encodeURIComponent(network)}`);
  }
}
