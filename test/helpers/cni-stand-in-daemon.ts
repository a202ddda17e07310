/**
 * A stand-in for the daemon's external-sandbox routes (the real ones: src/api/routes-attachments.ts,
 * which src/frontends/cni/daemon-backend.ts calls), served on a unix socket by any CniBackend,
 * so the plugin binary runs against the fake and veth backends of the differential tests; the
 * real daemon is exercised by test/e2e/cni-daemon.test.ts.
 * POST /cni runs the whole protocol layer here, as the daemon's route does (src/api/routes-cni.ts,
 * called by the forwarder bin/cni/switchyard): CNI_* variables as Cni-* headers, stdin as the
 * body; the plugin's stdout back with its exit code in Cni-Exit-Code.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SwitchyardError } from '../../src/errors.js';
import { existsSync } from 'node:fs';
import type { Attachment, CniBackend } from '../../src/frontends/cni/backend.js';
import { cniOverHttp } from '../../src/frontends/cni/over-http.js';
import { attachmentOf, type AttachmentView } from '../../src/frontends/cni/daemon-backend.js';

const STATUS: Record<string, number> = { invalid: 400, forbidden: 403, 'not-found': 404, conflict: 409, unavailable: 503, internal: 500 };

async function rawBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface Ref {
  sandbox: { id: string; nsPath: string };
  network: string;
  ifname: string;
}

const keyOf = (r: Ref) => `${r.sandbox.id}/${r.network}/${r.ifname}`;

function refOf(url: URL): Ref {
  return { sandbox: { id: url.searchParams.get('sandbox') ?? '', nsPath: '' }, network: url.searchParams.get('network') ?? '', ifname: url.searchParams.get('ifname') ?? '' };
}

/** A CniBackend's attachment as the daemon's attachment view (src/api/routes-attachments.ts). */
function viewOf(ref: Ref, a: Attachment): Record<string, unknown> {
  const host = a.interfaces.find((i) => i.sandbox === undefined);
  const mine = a.interfaces.find((i) => i.sandbox !== undefined);
  return {
    SandboxID: ref.sandbox.id,
    NetworkID: ref.network,
    Network: ref.network,
    Ifname: ref.ifname,
    MacAddress: mine?.mac ?? '',
    Addresses: a.ips.map((ip) => ip.address),
    Gateways: [...new Set(a.ips.flatMap((ip) => (ip.gateway ? [ip.gateway] : [])))],
    ...(host ? { HostLink: host.name } : {}),
  };
}

export interface StandIn {
  socketPath: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startStandIn(socketPath: string, backend: CniBackend, networks: string[]): Promise<StandIn> {
  const requests: string[] = [];
  const attached = new Map<string, Attachment>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      requests.push(`${req.method} ${req.url}`);
      try {
        const raw = await rawBody(req);
        if (req.method === 'POST' && req.url === '/cni') {
          // The shim answers with what the real routes carry (the attachment view), as the plugin does.
          const viaView: CniBackend = {
            ...backend,
            // …plus the host end's MAC, which the daemon's route adds (engine-backend.ts hostLinkMac).
            attach: async (r) => {
              const a = await backend.attach(r);
              const out = attachmentOf(viewOf(r, a) as unknown as AttachmentView, r.sandbox.nsPath);
              const hostMac = a.interfaces.find((i) => i.sandbox === undefined)?.mac;
              return { ...out, interfaces: out.interfaces.map((i) => (i.sandbox === undefined && hostMac ? { ...i, mac: hostMac } : i)) };
            },
            detach: (r) => backend.detach(r),
            check: (r) => backend.check(r),
            gc: (r) => backend.gc(r),
            status: (n) => backend.status(n),
          };
          const r = await cniOverHttp(req.headers, raw, viaView, existsSync);
          res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(r.text)), 'Cni-Exit-Code': String(r.exitCode) });
          res.end(r.text);
          return;
        }
        const b = raw ? JSON.parse(raw) : undefined;
        const url = new URL(req.url ?? '/', 'http://switchyard');
        let out: unknown = {};
        if (req.method === 'POST' && url.pathname === '/attachments') {
          const ref = { sandbox: { id: b.Sandbox.ID, nsPath: b.Sandbox.NsPath }, network: b.Network, ifname: b.Ifname };
          const a = await backend.attach({
            ...ref,
            ...(b.MacAddress ? { mac: b.MacAddress } : {}),
            ...(b.Addresses ? { addresses: b.Addresses } : {}),
            ...(b.Aliases ? { aliases: b.Aliases } : {}),
          });
          attached.set(keyOf(ref), a);
          out = viewOf(ref, a);
        } else if (req.method === 'DELETE' && url.pathname === '/attachments') {
          const ref = refOf(url);
          await backend.detach(ref);
          attached.delete(keyOf(ref));
          out = { Errors: [] };
        } else if (req.method === 'GET' && url.pathname === '/attachments/check') {
          const ref = refOf(url);
          const a = attached.get(keyOf(ref));
          if (!a) throw new SwitchyardError('not-found', 'ATTACHMENT_NOT_FOUND', `no attachment of ${ref.sandbox.id} to ${ref.network} as ${ref.ifname}`);
          await backend.check({ ...ref, expected: a });
          out = viewOf(ref, a);
        } else if (req.method === 'POST' && url.pathname === '/attachments/gc') {
          const keep = (b.Keep ?? []).map((k: { Sandbox: string; Ifname: string }) => ({ containerId: k.Sandbox, ifname: k.Ifname }));
          for (const network of networks) await backend.gc({ network, keep });
          out = { Errors: [] };
        }
        else if (req.method === 'GET' && req.url === '/_ping') out = 'OK';
        else if (req.method === 'GET' && req.url?.startsWith('/networks/')) {
          const name = decodeURIComponent(req.url.slice('/networks/'.length));
          if (!networks.includes(name)) throw new SwitchyardError('not-found', 'NETWORK_NOT_FOUND', `network ${name} not found`);
          out = { Name: name };
        } else throw new SwitchyardError('not-found', 'PAGE_NOT_FOUND', `no route ${req.method} ${req.url}`);
        const text = JSON.stringify(out);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
        res.end(text);
      } catch (err) {
        const e = err instanceof SwitchyardError ? err : new SwitchyardError('internal', 'INTERNAL', String(err));
        const text = JSON.stringify({ message: e.message });
        res.writeHead(STATUS[e.kind] ?? 500, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), 'Switchyard-Error-Code': e.code });
        res.end(text);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
  return {
    socketPath,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
