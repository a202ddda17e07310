/**
 * The netavark front end's daemon routes (docs/frontends/netavark.md): `libexec/netavark`
 * forwards Podman's call here as it came (stdin as the body, the namespace path in the
 * `Netavark-Netns` header), and prints the answer: 200 with the StatusBlock map (setup),
 * 204 (teardown, update), or an error status with `{"error": "…"}`, netavark's error shape.
 */
import type { Engine } from '../engine/contract.js';
import { asSwitchyardError, invalid } from '../errors.js';
import { NetavarkService } from '../frontends/netavark/service.js';
import { empty, json, type Reply, type RequestContext, type RouteTable } from './http-context.js';
import { httpStatusOf } from './http-status.js';

function netnsOf(ctx: RequestContext): string {
  const v = ctx.req.headers['netavark-netns'];
  if (typeof v !== 'string' || !v.startsWith('/')) throw invalid('NETAVARK_BAD_NETNS', 'the network namespace path must be an absolute path', 'Netavark-Netns');
  return v;
}

async function answer(fn: () => Promise<Reply>): Promise<Reply> {
  try {
    return await fn();
  } catch (err) {
    const e = asSwitchyardError(err);
    return json(httpStatusOf(e), { error: e.message });
  }
}

export function addNetavarkRoutes(routes: RouteTable, engine: Engine): void {
  const service = new NetavarkService(engine);
  routes.add('POST', '/netavark/setup', {
    handle: (ctx) => answer(async () => json(200, await service.setup(netnsOf(ctx), await ctx.body()))),
  });
  routes.add('POST', '/netavark/teardown', {
    handle: (ctx) => answer(async () => {
      await service.teardown(netnsOf(ctx), await ctx.body());
      return empty(204);
    }),
  });
  // `netavark update NET --network-dns-servers …` (podman network update): the embedded DNS
  // forwards with the daemon's upstreams, so there is nothing to change; accepted.
  routes.add('POST', '/netavark/update', { handle: () => answer(async () => empty(204)) });
}
