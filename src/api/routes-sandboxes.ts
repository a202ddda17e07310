/**
 * Switchyard's own sandbox routes (docs/api/openapi.yaml). They mirror Docker's container
 * routes where the idea carries over (create → 201 {Id, Warnings}, start/stop/delete → 204,
 * wait → {StatusCode}); the read-only ones are also served under /containers so that
 * `docker ps` and `docker inspect` work against the daemon.
 */
import type { Engine } from '../engine/contract.js';
import type { SandboxCreateRequest } from './docker/types.js';
import { sandboxSpecOf } from './docker/requests.js';
import { invalid } from '../errors.js';
import { validateEndpointsConfig, validateInterfaceMac } from '../model/endpoint-settings.js';
import { validateDnsSettings } from '../model/etc-files.js';
import { sandboxInspectView, sandboxSummaryView } from './docker-views.js';
import { boolQuery, empty, intQuery, json, objectBody, streamed, type RouteTable } from './http-context.js';
import { streamLogFile } from './log-stream.js';

export interface SandboxRouteOptions {
  engine: Engine;
  now?: () => Date;
}

const STRING_FIELDS = ['Name', 'Hostname', 'NetworkMode', 'MacAddress'] as const;
const STRING_ARRAY_FIELDS = ['Env', 'PortSpecs', 'Expose', 'Dns', 'DnsSearch', 'DnsOptions', 'Links'] as const;
const BOOL_FIELDS = ['PublishAll', 'AutoRemove'] as const;

/**
 * Every field of a create request has the type it is documented with (null = absent), so
 * a wrong type is a 400 naming the field instead of a value quietly read as "not set"
 * (found by the fuzzer: {"Hostname": false} created a sandbox).
 */
function checkFieldTypes(body: Record<string, unknown>): void {
  const present = (f: string) => body[f] !== undefined && body[f] !== null;
  for (const f of STRING_FIELDS) {
    if (present(f) && typeof body[f] !== 'string') throw invalid('BAD_FIELD', `${f} must be a string`, f);
  }
  for (const f of STRING_ARRAY_FIELDS) {
    if (present(f) && !(Array.isArray(body[f]) && (body[f] as unknown[]).every((x) => typeof x === 'string'))) {
      throw invalid('BAD_FIELD', `${f} must be an array of strings`, f);
    }
  }
  for (const f of BOOL_FIELDS) {
    if (present(f) && typeof body[f] !== 'boolean') throw invalid('BAD_FIELD', `${f} must be a boolean`, f);
  }
  checkHostConfig(body['HostConfig']);
  if (typeof body['MacAddress'] === 'string' && body['MacAddress'] !== '') validateInterfaceMac(body['MacAddress'], 'MacAddress');
  // The shape of every endpoint's settings (model/endpoint-settings.ts), replaced by the checked copy.
  const eps = validateEndpointsConfig(body['EndpointsConfig']);
  if (eps === undefined) delete body['EndpointsConfig'];
  else body['EndpointsConfig'] = eps;
}

/**
 * HostConfig as Docker's create sends it: only the privilege fields are read here
 * (CapAdd, CapDrop: arrays of strings or null; Privileged: boolean; PidMode: "" or
 * "host"); the engine normalizes the names and refuses unknown ones. Other Docker fields
 * are ignored, as before (the networking ones are top-level fields of this route).
 */
function checkHostConfig(hc: unknown): void {
  if (hc === undefined || hc === null) return;
  if (typeof hc !== 'object' || Array.isArray(hc)) throw invalid('BAD_FIELD', 'HostConfig must be an object', 'HostConfig');
  const h = hc as Record<string, unknown>;
  for (const f of ['CapAdd', 'CapDrop']) {
    const v = h[f];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
      throw invalid('BAD_FIELD', `HostConfig.${f} must be an array of strings`, `HostConfig.${f}`);
    }
  }
  if (h['Privileged'] !== undefined && h['Privileged'] !== null && typeof h['Privileged'] !== 'boolean') {
    throw invalid('BAD_FIELD', 'HostConfig.Privileged must be a boolean', 'HostConfig.Privileged');
  }
  if (h['PidMode'] !== undefined && h['PidMode'] !== null && typeof h['PidMode'] !== 'string') {
    throw invalid('BAD_FIELD', 'HostConfig.PidMode must be a string', 'HostConfig.PidMode');
  }
}

export function addSandboxRoutes(routes: RouteTable, options: SandboxRouteOptions): void {
  const { engine } = options;
  const now = options.now ?? (() => new Date());

  routes.add('POST', '/sandboxes/create', {
    async handle(ctx) {
      const body = (await objectBody(ctx, 'POST /sandboxes/create')) as unknown as SandboxCreateRequest;
      // Docker takes the name from the query; accept it there too.
      const name = ctx.query.get('name');
      if (name !== null && body.Name === undefined) body.Name = name;
      checkFieldTypes(body as unknown as Record<string, unknown>);
      if (!Array.isArray(body.Cmd) || body.Cmd.length === 0 || !body.Cmd.every((a) => typeof a === 'string')) {
        throw invalid('MISSING_FIELD', 'Cmd is required: a non-empty array of strings (the command to run)', 'Cmd');
      }
      validateDnsSettings({ servers: body.Dns, search: body.DnsSearch, options: body.DnsOptions }); // before anything is recorded
      const created = await engine.createSandbox(sandboxSpecOf(body));
      return json(201, { Id: created.id, Warnings: created.warnings });
    },
  });

  for (const base of ['/sandboxes', '/containers']) {
    routes.add('GET', `${base}/json`, {
      async handle(ctx) {
        const list = await engine.listSandboxes(boolQuery(ctx.query, 'all'));
        const at = now();
        return json(200, list.map((d) => sandboxSummaryView(d, at)));
      },
    });

    routes.add('GET', `${base}/{id}/json`, {
      async handle(ctx) {
        return json(200, sandboxInspectView(await engine.inspectSandbox(ctx.params['id']!)));
      },
    });

    routes.add('POST', `${base}/{id}/start`, {
      async handle(ctx) {
        await engine.startSandbox(ctx.params['id']!);
        return empty(204);
      },
    });

    routes.add('POST', `${base}/{id}/stop`, {
      async handle(ctx) {
        const timeout = intQuery(ctx.query, 't') ?? intQuery(ctx.query, 'timeout');
        await engine.stopSandbox(ctx.params['id']!, timeout);
        return empty(204);
      },
    });

    routes.add('POST', `${base}/{id}/wait`, {
      longLived: true,
      async handle(ctx) {
        const { exitCode } = await engine.waitSandbox(ctx.params['id']!, ctx.signal);
        return json(200, { StatusCode: exitCode });
      },
    });

    routes.add('DELETE', `${base}/{id}`, {
      async handle(ctx) {
        await engine.removeSandbox(ctx.params['id']!, boolQuery(ctx.query, 'force'));
        return empty(204);
      },
    });

    routes.add('POST', `${base}/{id}/rename`, {
      async handle(ctx) {
        const name = ctx.query.get('name');
        if (!name) throw invalid('MISSING_FIELD', 'query parameter "name" is required (the new name)', 'name');
        await engine.renameSandbox(ctx.params['id']!, name);
        return empty(204);
      },
    });
  }

  routes.add('GET', '/sandboxes/{id}/logs', {
    longLived: true,
    async handle(ctx) {
      const ref = ctx.params['id']!;
      const follow = boolQuery(ctx.query, 'follow');
      // Resolve both before the 200 goes out, so an unknown name is still a clean 404.
      const path = await engine.sandboxLogPath(ref);
      const stopped = follow ? engine.waitSandbox(ref, ctx.signal) : Promise.resolve();
      stopped.catch(() => undefined); // a removed sandbox simply ends the stream
      ctx.res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      ctx.res.flushHeaders();
      try {
        await streamLogFile({ path, out: ctx.res, follow, stopped, signal: ctx.signal });
      } finally {
        ctx.res.end();
      }
      return streamed;
    },
  });

  routes.add('POST', '/firewall/reload', {
    async handle() {
      await engine.firewallReload();
      return empty(204);
    },
  });
}
