/**
 * POST /cni: one CNI plugin call run in the daemon (docs/frontends/cni.md, "The plugin
 * process"). The exec'd plugin (bin/cni/forward.c) forwards its CNI_* variables as Cni-*
 * headers and its stdin as the body, as they are; the CNI protocol layer
 * (src/frontends/cni/dispatch.ts) runs here over the engine in process, and the answer is what
 * the plugin prints, with its exit code in Cni-Exit-Code (HTTP 200 for 0, 400 otherwise).
 */
import { existsSync } from 'node:fs';
import { invalid } from '../errors.js';
import { EngineBackend, type EngineForCni } from '../frontends/cni/engine-backend.js';
import { cniOverHttp } from '../frontends/cni/over-http.js';
import { streamed, type RequestContext, type RouteTable } from './http-context.js';

/** Largest network configuration accepted (the API's own body limit is larger). */
const MAX_CONFIG_BYTES = 1024 * 1024;

async function rawBody(ctx: RequestContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.req) {
    size += (c as Buffer).length;
    if (size > MAX_CONFIG_BYTES) throw invalid('BODY_TOO_LARGE', `the network configuration is larger than ${MAX_CONFIG_BYTES} bytes`, 'body');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface CniRouteOptions {
  /** The MAC address of a link in the daemon's namespace (the host end of a veth), if it exists. */
  hostLinkMac?: (name: string) => string | undefined;
}

/**
 * The host end's MAC through rtnetlink in the daemon's own namespace (where the drivers make
 * host links), loaded on the first call so that the API's other users do not load the FFI.
 */
async function kernelHostLinkMac(): Promise<(name: string) => string | undefined> {
  const { Rtnl } = await import('../kernel/netlink/index.js');
  let rtnl: ReturnType<typeof Rtnl.open> | undefined;
  return (name) => {
    try {
      rtnl ??= Rtnl.open();
      return rtnl.getLink(name)?.mac || undefined;
    } catch {
      return undefined; // the result then names the host link without its MAC
    }
  };
}

export function addCniRoutes(routes: RouteTable, engine: EngineForCni, o: CniRouteOptions = {}): void {
  let lookup = o.hostLinkMac;
  const backend = EngineBackend.factory(engine, (name) => lookup?.(name));
  routes.add('POST', '/cni', {
    async handle(ctx) {
      lookup ??= await kernelHostLinkMac();
      const answer = await cniOverHttp(ctx.req.headers, await rawBody(ctx), backend, existsSync);
      ctx.res.writeHead(answer.status, {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(answer.text)),
        'Cni-Exit-Code': String(answer.exitCode),
      });
      ctx.res.end(answer.text);
      return streamed;
    },
  });
}
