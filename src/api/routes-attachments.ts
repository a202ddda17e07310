/**
 * Switchyard's own attachment routes (docs/api/openapi.yaml "Attachments"): endpoints in
 * network namespaces a caller owns, for front ends that run as thin clients (the future CNI
 * and netavark binaries). Each route parses its JSON into the engine's types
 * (engine/contract.ts) and answers in Switchyard's PascalCase style.
 */
import type { AttachResult, Engine, TeardownReport } from '../engine/contract.js';
import type { AttachPort } from '../model/attachments.js';
import { invalid } from '../errors.js';
import { json, objectBody, requiredString, type RouteTable } from './http-context.js';

function stringList(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid('BAD_FIELD', `${field} must be an array of strings`, field);
  return v as string[];
}

/** Ports: [{HostPort, ContainerPort, Protocol?, HostIP?}] (the engine checks the values). */
function portList(v: unknown): AttachPort[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid('BAD_FIELD', 'Ports must be an array of {"HostPort", "ContainerPort", "Protocol", "HostIP"}', 'Ports');
  return v.map((p: unknown, i: number) => {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw invalid('BAD_FIELD', `Ports[${i}] must be an object`, `Ports[${i}]`);
    const o = p as Record<string, unknown>;
    return {
      hostPort: o['HostPort'] as number,
      containerPort: o['ContainerPort'] as number,
      protocol: (o['Protocol'] ?? 'tcp') as AttachPort['protocol'],
      ...(typeof o['HostIP'] === 'string' && o['HostIP'] ? { hostIP: o['HostIP'] } : {}),
    };
  });
}

function queryRef(query: URLSearchParams): { sandboxId: string; network: string; ifname: string } {
  const get = (name: string): string => {
    const v = query.get(name);
    if (!v) throw invalid('MISSING_FIELD', `the query parameter ${name} is required`, name);
    return v;
  };
  return { sandboxId: get('sandbox'), network: get('network'), ifname: get('ifname') };
}

export const attachmentView = (r: AttachResult) => ({
  SandboxID: r.sandboxId,
  NetworkID: r.networkId,
  Network: r.network,
  Ifname: r.ifname,
  MacAddress: r.mac,
  Addresses: r.addresses,
  Gateways: r.gateways,
  ...(r.hostLink ? { HostLink: r.hostLink } : {}),
  ...(r.dns ? {
    Dns: {
      Nameservers: r.dns.nameservers,
      ...(r.dns.search?.length ? { Search: r.dns.search } : {}),
      ...(r.dns.options?.length ? { Options: r.dns.options } : {}),
    },
  } : {}),
});

export const teardownView = (r: TeardownReport) => ({
  Errors: r.errors.map((e) => ({ Code: e.code, Kind: e.kind, Message: e.message })),
});

export function addAttachmentRoutes(routes: RouteTable, engine: Engine): void {
  routes.add('POST', '/attachments', {
    async handle(ctx) {
      const body = await objectBody(ctx, 'POST /attachments');
      const sandbox = body['Sandbox'];
      if (sandbox === null || typeof sandbox !== 'object' || Array.isArray(sandbox)) {
        throw invalid('BAD_FIELD', 'Sandbox must be an object {"ID": …, "NsPath": …}', 'Sandbox');
      }
      const sb = sandbox as Record<string, unknown>;
      const handOver = body['HandOver'];
      if (handOver !== undefined && typeof handOver !== 'boolean') throw invalid('BAD_FIELD', 'HandOver must be a boolean', 'HandOver');
      const mac = body['MacAddress'];
      if (mac !== undefined && mac !== '' && typeof mac !== 'string') throw invalid('BAD_FIELD', 'MacAddress must be a string', 'MacAddress');
      const addresses = stringList(body['Addresses'], 'Addresses');
      const aliases = stringList(body['Aliases'], 'Aliases');
      const ports = portList(body['Ports']);
      const result = await engine.attach({
        sandbox: { id: requiredString(sb, 'ID'), nsPath: requiredString(sb, 'NsPath') },
        network: requiredString(body, 'Network'),
        ifname: requiredString(body, 'Ifname'),
        ...(typeof mac === 'string' && mac ? { mac } : {}),
        ...(addresses ? { addresses } : {}),
        ...(aliases ? { aliases } : {}),
        ...(ports ? { ports } : {}),
        ...(handOver ? { handOver } : {}),
      });
      return json(200, attachmentView(result));
    },
  });

  routes.add('DELETE', '/attachments', {
    async handle(ctx) {
      return json(200, teardownView(await engine.detach(queryRef(ctx.query))));
    },
  });

  routes.add('GET', '/attachments/check', {
    async handle(ctx) {
      return json(200, attachmentView(await engine.checkAttachment(queryRef(ctx.query))));
    },
  });

  routes.add('POST', '/attachments/gc', {
    async handle(ctx) {
      const body = await objectBody(ctx, 'POST /attachments/gc');
      const keep = body['Keep'] ?? [];
      if (!Array.isArray(keep)) throw invalid('BAD_FIELD', 'Keep must be an array of {"Sandbox": …, "Ifname": …}', 'Keep');
      const list = keep.map((k: unknown, i: number) => {
        if (k === null || typeof k !== 'object' || Array.isArray(k)) throw invalid('BAD_FIELD', `Keep[${i}] must be an object`, `Keep[${i}]`);
        const o = k as Record<string, unknown>;
        return { sandboxId: requiredString(o, 'Sandbox'), ifname: requiredString(o, 'Ifname') };
      });
      const network = body['Network'];
      if (network !== undefined && (typeof network !== 'string' || network === '')) throw invalid('BAD_FIELD', 'Network must be a network name or ID', 'Network');
      return json(200, teardownView(await engine.gcAttachments(list, network)));
    },
  });
}
