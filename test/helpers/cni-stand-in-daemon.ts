/**
 * A stand-in for the daemon's external-sandbox routes (the ones src/frontends/cni/
 * daemon-backend.ts calls), served on a unix socket by any CniBackend. Until the engine
 * has those routes, the CNI plugin binary is exercised end to end against this.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SwitchyardError } from '../../src/errors.js';
import type { CniBackend } from '../../src/frontends/cni/backend.js';

const STATUS: Record<string, number> = { invalid: 400, forbidden: 403, 'not-found': 404, conflict: 409, unavailable: 503, internal: 500 };

async function body(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
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
        const b = await body(req);
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
