/**
 * A typed client for the daemon's API over its unix socket, used by the CLI, the
 * end-to-end tests and the benchmarks. Failures come back as SwitchyardError: the kind is
 * rebuilt from the HTTP status (http-status.ts), the code from the `Switchyard-Error-Code`
 * header, the message from Docker's `{"message": …}` body.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import type { EndpointSettingsRequest, SandboxCreateRequest } from './docker/types.js';
import { forbidden, SwitchyardError, unavailable, type ErrorKind } from '../errors.js';
import type { AttachmentRef, AttachRequest, AttachResult, Attachments, TeardownReport } from '../model/attachments.js';
import type { DockerNetwork, SandboxInspect, SandboxSummary } from './docker-views.js';
import { defaultCodeOf, errorKindOf } from './http-status.js';
import type { NodeJson } from './routes-nodes.js';

export type { NodeJson } from './routes-nodes.js';

export { DEFAULT_HOST, socketPathOf } from './host.js';
import { DEFAULT_HOST, socketPathOf } from './host.js';

export interface ClientOptions {
  /** `unix:///path.sock` (or a bare absolute path). */
  host?: string;
}

interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
}

/** A path segment: `.` and `..` are sent escaped so no URL parser resolves them away. */
function seg(ref: string): string {
  return encodeURIComponent(ref).replace(/^\.{1,2}$/, (m) => m.replace(/\./g, '%2E'));
}

/** A reused keep-alive socket that the server had already closed (see send). */
class StaleSocketError extends Error {}

export class SwitchyardClient implements Attachments {
  readonly host: string;
  private readonly socketPath: string;
  private readonly agent = new Agent({ keepAlive: true });

  constructor(options: ClientOptions = {}) {
    this.host = options.host ?? DEFAULT_HOST;
    this.socketPath = socketPathOf(this.host);
  }

  /** Frees pooled connections (idle ones do not keep the process alive either way). */
  close(): void {
    this.agent.destroy();
  }

  // --- system -------------------------------------------------------------------------

  async ping(): Promise<{ apiVersion: string }> {
    const res = await this.send('GET', '/_ping', {});
    await this.readBody(res);
    return { apiVersion: String(res.headers['api-version'] ?? '') };
  }

  version(): Promise<Record<string, unknown>> {
    return this.json('GET', '/version');
  }

  info(): Promise<Record<string, unknown>> {
    return this.json('GET', '/info');
  }

  firewallReload(): Promise<void> {
    return this.call('POST', '/firewall/reload');
  }

  // --- cluster nodes (docs/CLUSTER.md) -----------------------------------------------

  listNodes(): Promise<NodeJson[]> {
    return this.json('GET', '/nodes');
  }

  inspectNode(ref: string): Promise<NodeJson> {
    return this.json('GET', `/nodes/${seg(ref)}`);
  }

  removeNode(ref: string, force = false): Promise<void> {
    return this.call('DELETE', `/nodes/${seg(ref)}`, { query: { force: force ? 1 : undefined } });
  }

  // --- networks -----------------------------------------------------------------------

  /** `filters` is Docker's JSON form (model/filters.ts filtersToJson). */
  listNetworks(filters?: string): Promise<DockerNetwork[]> {
    return this.json('GET', '/networks', { query: { filters } });
  }

  inspectNetwork(ref: string, verbose = false): Promise<DockerNetwork> {
    return this.json('GET', `/networks/${seg(ref)}`, { query: { verbose: verbose ? 'true' : undefined } });
  }

  createNetwork(req: Record<string, unknown>): Promise<{ Id: string; Warning: string }> {
    return this.json('POST', '/networks/create', { body: req });
  }

  removeNetwork(ref: string): Promise<void> {
    return this.call('DELETE', `/networks/${seg(ref)}`);
  }

  connectNetwork(network: string, sandbox: string, endpointConfig: EndpointSettingsRequest = {}): Promise<void> {
    return this.call('POST', `/networks/${seg(network)}/connect`, {
      body: { Container: sandbox, EndpointConfig: endpointConfig },
    });
  }

  disconnectNetwork(network: string, sandbox: string, force = false): Promise<void> {
    return this.call('POST', `/networks/${seg(network)}/disconnect`, {
      body: { Container: sandbox, Force: force },
    });
  }

  async pruneNetworks(filters?: string): Promise<string[]> {
    const res = await this.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters } });
    return res.NetworksDeleted ?? [];
  }

  // --- attachments (namespaces a caller owns; the same Attachments contract as the engine) ---

  async attach(req: AttachRequest): Promise<AttachResult> {
    const r = await this.json<AttachmentView>('POST', '/attachments', {
      body: {
        Sandbox: { ID: req.sandbox.id, NsPath: req.sandbox.nsPath },
        Network: req.network,
        Ifname: req.ifname,
        ...(req.mac ? { MacAddress: req.mac } : {}),
        ...(req.addresses ? { Addresses: req.addresses } : {}),
        ...(req.aliases ? { Aliases: req.aliases } : {}),
        ...(req.handOver ? { HandOver: true } : {}),
      },
    });
    return attachResultOf(r);
  }

  async detach(ref: AttachmentRef): Promise<TeardownReport> {
    return teardownOf(await this.json<TeardownView>('DELETE', '/attachments', { query: { sandbox: ref.sandboxId, network: ref.network, ifname: ref.ifname } }));
  }

  async checkAttachment(ref: AttachmentRef): Promise<AttachResult> {
    return attachResultOf(await this.json<AttachmentView>('GET', '/attachments/check', { query: { sandbox: ref.sandboxId, network: ref.network, ifname: ref.ifname } }));
  }

  async gcAttachments(keep: { sandboxId: string; ifname: string }[], network?: string): Promise<TeardownReport> {
    const body = { Keep: keep.map((k) => ({ Sandbox: k.sandboxId, Ifname: k.ifname })), ...(network === undefined ? {} : { Network: network }) };
    return teardownOf(await this.json<TeardownView>('POST', '/attachments/gc', { body }));
  }

  // --- sandboxes ----------------------------------------------------------------------

  createSandbox(req: SandboxCreateRequest): Promise<{ Id: string; Warnings: string[] }> {
    return this.json('POST', '/sandboxes/create', { body: req });
  }

  startSandbox(ref: string): Promise<void> {
    return this.call('POST', `/sandboxes/${seg(ref)}/start`);
  }

  stopSandbox(ref: string, timeoutSeconds?: number): Promise<void> {
    return this.call('POST', `/sandboxes/${seg(ref)}/stop`, { query: { t: timeoutSeconds } });
  }

  async waitSandbox(ref: string): Promise<number> {
    const res = await this.json<{ StatusCode: number }>('POST', `/sandboxes/${seg(ref)}/wait`);
    return res.StatusCode;
  }

  removeSandbox(ref: string, force = false): Promise<void> {
    return this.call('DELETE', `/sandboxes/${seg(ref)}`, { query: { force: force ? 1 : undefined } });
  }

  renameSandbox(ref: string, name: string): Promise<void> {
    return this.call('POST', `/sandboxes/${seg(ref)}/rename`, { query: { name } });
  }

  listSandboxes(all = false): Promise<SandboxSummary[]> {
    return this.json('GET', '/sandboxes/json', { query: { all: all ? 1 : undefined } });
  }

  inspectSandbox(ref: string): Promise<SandboxInspect> {
    return this.json('GET', `/sandboxes/${seg(ref)}/json`);
  }

  /** The log as a byte stream; with follow it ends when the sandbox stops. */
  async sandboxLogs(ref: string, follow = false): Promise<IncomingMessage> {
    return this.send('GET', `/sandboxes/${seg(ref)}/logs`, { query: { follow: follow ? 1 : undefined } });
  }

  // --- transport ----------------------------------------------------------------------

  /** A call whose answer has no body of interest (204, or 200 with an empty body). */
  private async call(method: string, path: string, options: CallOptions = {}): Promise<void> {
    const res = await this.send(method, path, options);
    await this.readBody(res);
  }

  private async json<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const res = await this.send(method, path, options);
    const raw = await this.readBody(res);
    try {
      return JSON.parse(raw) as T;
    } catch (err) {
      throw new SwitchyardError('internal', 'BAD_RESPONSE', `the daemon sent invalid JSON for ${method} ${path}`, { cause: err });
    }
  }

  /** Sends a request; resolves with a 2xx response, rejects with the daemon's error otherwise. */
  /**
   * The server closes a keep-alive connection after it has been idle for a while; a request
   * written on it at that very moment fails with ECONNRESET/EPIPE although the server never
   * read it. That request is sent once more on a fresh connection.
   */
  private async send(method: string, path: string, options: CallOptions): Promise<IncomingMessage> {
    try {
      return await this.sendOnce(method, path, options);
    } catch (err) {
      if (err instanceof StaleSocketError) return this.sendOnce(method, path, options);
      throw err;
    }
  }

  private sendOnce(method: string, path: string, options: CallOptions): Promise<IncomingMessage> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, agent: this.agent, method, path: path + queryString(options.query), headers },
        (res) => {
          if ((res.statusCode ?? 500) < 300) return resolve(res);
          this.readBody(res).then(
            (raw) => reject(errorFromResponse(res, raw)),
            reject,
          );
        },
      );
      req.on('error', (err) => {
        const e = err as NodeJS.ErrnoException;
        if (req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) reject(new StaleSocketError());
        else reject(this.connectionError(e));
      });
      req.end(body);
    });
  }

  private readBody(res: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
  }

  private connectionError(err: NodeJS.ErrnoException): SwitchyardError {
    if (err.code === 'EACCES') {
      return forbidden(
        'DAEMON_PERMISSION_DENIED',
        `permission denied while trying to connect to the Switchyard daemon socket at ${this.host}`,
      );
    }
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
      return unavailable(
        'DAEMON_UNREACHABLE',
        `Cannot connect to the Switchyard daemon at ${this.host}. Is the daemon running?`,
        err,
      );
    }
    return unavailable('DAEMON_CONNECTION_FAILED', `connection to the Switchyard daemon at ${this.host} failed: ${err.message}`, err);
  }
}

function queryString(query: CallOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function errorFromResponse(res: IncomingMessage, raw: string): SwitchyardError {
  const status = res.statusCode ?? 500;
  const kind = errorKindOf(status);
  let message = raw.trim();
  try {
    const parsed = JSON.parse(raw) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the raw text
  }
  if (message === '') message = `the daemon answered ${status} ${res.statusMessage ?? ''}`.trim();
  const code = res.headers['switchyard-error-code'];
  return new SwitchyardError(kind, typeof code === 'string' && code !== '' ? code : defaultCodeOf(kind), message);
}

interface AttachmentView {
  SandboxID: string;
  NetworkID: string;
  Network: string;
  Ifname: string;
  MacAddress: string;
  Addresses: string[];
  Gateways: string[];
  HostLink?: string;
  Dns?: { Nameservers: string[]; Search?: string[]; Options?: string[] };
}
interface TeardownView {
  Errors: { Code: string; Kind: ErrorKind; Message: string }[];
}

const attachResultOf = (r: AttachmentView): AttachResult => ({
  sandboxId: r.SandboxID,
  networkId: r.NetworkID,
  network: r.Network,
  ifname: r.Ifname,
  mac: r.MacAddress,
  addresses: r.Addresses,
  gateways: r.Gateways,
  ...(r.HostLink ? { hostLink: r.HostLink } : {}),
  ...(r.Dns ? {
    dns: {
      nameservers: r.Dns.Nameservers ?? [],
      ...(r.Dns.Search?.length ? { search: r.Dns.Search } : {}),
      ...(r.Dns.Options?.length ? { options: r.Dns.Options } : {}),
    },
  } : {}),
});

const teardownOf = (r: TeardownView): TeardownReport => ({
  errors: r.Errors.map((e) => new SwitchyardError(e.Kind, e.Code, e.Message)),
});
