/**
 * Docker Engine API network routes (moby v28.5.2 api/server/router/network/network_routes.go;
 * docs/notes/kernel-facts.md#docker-network-routes): the shapes and status codes the docker CLI expects.
 * The network reference takes the rest of the path (`{id...}`, moby's `{id:.+}`): a network
 * name may contain `/`, and the docker CLI sends it unescaped.
 */
import type { Engine } from '../engine/contract.js';
import { endpointSettingsOf as settingsOf } from './docker/requests.js';
import { validateNetworkCreate } from '../model/network-spec.js';
import { invalid } from '../errors.js';
import { compareApiVersions } from './api-version.js';
import { networkView } from './docker-views.js';
import { boolQuery, empty, json, objectBody, requiredString, type RouteTable } from './http-context.js';

export function addNetworkRoutes(routes: RouteTable, engine: Engine): void {
  routes.add('GET', '/networks', {
    async handle(ctx) {
      const networks = await engine.listNetworks(ctx.query.get('filters') ?? undefined);
      // API ≥ 1.28: the list leaves Containers empty (28.x keeps the key).
      return json(200, networks.map((n) => networkView(n, { withContainers: false })));
    },
  });

  // Literal routes first: /networks/create and /networks/prune are not network names for POST.
  routes.add('POST', '/networks/create', {
    async handle(ctx) {
      const body = await objectBody(ctx, 'POST /networks/create');
      // EnableIPv4 exists from API 1.48; older clients never meant to set it. Only a boolean
      // is dropped: Docker decodes the typed body before it looks at the version, so a wrong
      // type stays for the validation to refuse at every version (dropping it first let
      // {"EnableIPv4": {}} create a network at /v1.24: API fuzzer, seed 1005170581).
      if (compareApiVersions(ctx.apiVersion, '1.48') < 0 && typeof body['EnableIPv4'] === 'boolean') delete body['EnableIPv4'];
      const created = await engine.createNetwork(validateNetworkCreate(body));
      return json(201, { Id: created.id, Warning: created.warning });
    },
  });

  routes.add('POST', '/networks/prune', {
    async handle(ctx) {
      const names = await engine.pruneNetworks(ctx.query.get('filters') ?? undefined);
      return json(200, { NetworksDeleted: names });
    },
  });

  routes.add('GET', '/networks/{id...}', {
    async handle(ctx) {
      // `verbose=true` adds Peers on a global network; `scope` is accepted and changes nothing.
      const details = await engine.inspectNetwork(ctx.params['id']!);
      return json(200, networkView(details, { withContainers: true, verbose: boolQuery(ctx.query, 'verbose') }));
    },
  });

  routes.add('DELETE', '/networks/{id...}', {
    async handle(ctx) {
      await engine.removeNetwork(ctx.params['id']!);
      return empty(204);
    },
  });

  routes.add('POST', '/networks/{id...}/connect', {
    async handle(ctx) {
      const body = await objectBody(ctx, 'POST /networks/{id}/connect');
      const container = requiredString(body, 'Container');
      const settings = settingsOf(body['EndpointConfig'], 'EndpointConfig', { gwPriority: compareApiVersions(ctx.apiVersion, '1.48') >= 0 });
      await engine.connect(ctx.params['id']!, container, settings);
      return empty(200);
    },
  });

  routes.add('POST', '/networks/{id...}/disconnect', {
    async handle(ctx) {
      const body = await objectBody(ctx, 'POST /networks/{id}/disconnect');
      const container = requiredString(body, 'Container');
      const force = body['Force'];
      if (force !== undefined && force !== null && typeof force !== 'boolean') {
        throw invalid('BAD_FIELD', 'Force must be a boolean', 'Force');
      }
      await engine.disconnect(ctx.params['id']!, container, force === true);
      return empty(200);
    },
  });
}
