/**
 * A stand-in for the daemon's external-sandbox routes (the ones src/frontends/cni/
 * daemon-backend.ts calls), served on a unix socket by any CniBackend. Until the engine
 * has those routes, the CNI plugin binary is exercised end to end against this.
 * POST /cni runs the whole protocol layer here instead (the bin/cni/switchyard-shim prototype):
 * CNI_* variables as Cni-* headers, stdin as the body; 200 with the plugin's stdout, or 400
 * with the error object.
 */

/** The POST /cni handler: one CNI call dispatched in this process. */
export async function cniOverHttp(headers: IncomingMessage['headers'], stdin: string, backend: CniBackend): Promise<{ status: number; text: string }> {
  const env: Record<string, string> = {};
  for (const k of ['command', 'containerid', 'netns', 'ifname', 'args', 'path']) {
    const v = headers[`cni-${k}`];
    if (typeof v === 'string' && v !== '') env[`CNI_${k.toUpperCase()}`] = v;
  }
  let text = '';
  const code = await dispatch({ env, stdin, stdout: { write: (s: string) => (text += s) }, backend, netnsExists: existsSync });
  return { status: code === 0 ? 200 : 400, text };
}
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SwitchyardError } from '../../src/errors.js';
import { existsSync } from 'node:fs';
import type { CniBackend } from '../../src/frontends/cni/backend.js';
import { dispatch } from '../../src/frontends/cni/dispatch.js';

const STATUS: Record<string, number> = { invalid: 400, forbidden: 403, 'not-found': 404, conflict: 409, unavailable: 503, internal: 500 };

async function rawBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface StandIn {
  socketPath: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startStandIn(socketPath: string, backend: CniBackend, networks: string[]): Promise<StandIn> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      requests.push(`${req.method} ${req.url}`);
      try {
        const raw = await rawBody(req);
        if (req.method === 'POST' && req.url === '/cni') {
          const r = await cniOverHttp(req.headers, raw, backend);
          res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(r.text)) });
          res.end(r.text);
          return;
        }
        const b = raw ? JSON.parse(raw) : undefined;
        let out: unknown = {};
        if (req.method === 'POST' && req.url === '/attachments') out = await backend.attach(b);
        else if (req.method === 'POST' && req.url === '/attachments/detach') await backend.detach(b);
        else if (req.method === 'POST' && req.url === '/attachments/check') await backend.check(b);
        else if (req.method === 'POST' && req.url === '/attachments/gc') await backend.gc(b);
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
