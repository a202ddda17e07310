/**
 * Docker routes Switchyard does not serve (swarm, plugins, images, volumes) answered the way
 * a Docker daemon without that feature in use answers them, instead of a bare 404 "page not
 * found" that makes clients fail in their teardown (`docker swarm leave`, compose's
 * `down --rmi`/`-v`, SDK test fixtures that list plugins or images).
 *
 * The answers follow moby (v28):
 * - swarm (api/server/router/swarm/cluster.go, daemon/cluster/errors.go and cluster.go):
 *   `POST /swarm/leave` on a node that never joined answers errNoSwarm, 503
 *   "This node is not part of a swarm"; every manager-gated route (inspect, update,
 *   unlock, unlockkey, nodes, services, tasks, secrets, configs) answers errNoManager, 503
 *   "This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to
 *   connect this node to swarm and try again.". `init` and `join` would start a swarm on
 *   Docker; Switchyard has none to start: 503 naming that.
 * - plugins (api/server/router/plugin, plugin/errors.go): no plugin is installed, so the list
 *   is `[]` and a named plugin is 404 `plugin "NAME" not found`; installing one (pull,
 *   create, privileges) is 501 Not Implemented.
 * - images (api/server/router/image, daemon/images, errdefs): the store is empty, so the
 *   list is `[]`, prune removes nothing, and a named image is 404 "No such image: REF"
 *   (REF in its familiar form with the `:latest` tag Docker adds); pulling, loading,
 *   searching and building are 501.
 * - volumes (api/server/router/volume, volume/service/errors.go): none; a named volume is
 *   404 "get NAME: no such volume"; creating one is 501.
 */
import { json, type RouteHandler, type RouteTable } from './http-context.js';

const message = (status: number, text: string): RouteHandler => ({ handle: async () => json(status, { message: text }) });
const fixed = (body: unknown): RouteHandler => ({ handle: async () => json(200, body) });

export const NO_SWARM = 'This node is not part of a swarm';
export const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NO_SWARM_SUPPORT = 'Switchyard does not support swarm mode: this node cannot start or join a swarm';
const NOT_IMPLEMENTED = (what: string): string => `Switchyard does not support ${what}`;

export function addUnservedRoutes(routes: RouteTable): void {
  addSwarmRoutes(routes);
  addPluginRoutes(routes);
  addImageRoutes(routes);
  addVolumeRoutes(routes);
}

function addSwarmRoutes(routes: RouteTable): void {
  const noManager = message(503, NOT_A_MANAGER);
  routes.add('POST', '/swarm/leave', message(503, NO_SWARM));
  routes.add('POST', '/swarm/init', message(503, NO_SWARM_SUPPORT));
  routes.add('POST', '/swarm/join', message(503, NO_SWARM_SUPPORT));
  routes.add('GET', '/swarm', noManager);
  routes.add('GET', '/swarm/unlockkey', noManager);
  routes.add('POST', '/swarm/update', noManager);
  routes.add('POST', '/swarm/unlock', noManager);
  for (const kind of ['services', 'nodes', 'tasks', 'secrets', 'configs']) {
    routes.add('GET', `/${kind}`, noManager);
    routes.add('GET', `/${kind}/{id}`, noManager);
  }
  for (const kind of ['services', 'secrets', 'configs']) routes.add('POST', `/${kind}/create`, noManager);
  for (const kind of ['services', 'nodes', 'secrets', 'configs']) {
    routes.add('POST', `/${kind}/{id}/update`, noManager);
    routes.add('DELETE', `/${kind}/{id}`, noManager);
  }
  routes.add('GET', '/services/{id}/logs', noManager);
  routes.add('GET', '/tasks/{id}/logs', noManager);
}

function addPluginRoutes(routes: RouteTable): void {
  const notFound: RouteHandler = { handle: async (ctx) => json(404, { message: `plugin ${JSON.stringify(ctx.params['name'] ?? '')} not found` }) };
  const unsupported = message(501, NOT_IMPLEMENTED('plugins'));
  routes.add('GET', '/plugins', fixed([]));
  routes.add('GET', '/plugins/privileges', unsupported);
  routes.add('POST', '/plugins/pull', unsupported);
  routes.add('POST', '/plugins/create', unsupported);
  routes.add('GET', '/plugins/{name...}/json', notFound);
  routes.add('DELETE', '/plugins/{name...}', notFound);
  for (const action of ['enable', 'disable', 'push', 'upgrade', 'set']) routes.add('POST', `/plugins/{name...}/${action}`, notFound);
}

function addImageRoutes(routes: RouteTable): void {
  const noSuchImage: RouteHandler = { handle: async (ctx) => json(404, { message: `No such image: ${familiarReference(ctx.params['name'] ?? '')}` }) };
  const unsupported = message(501, NOT_IMPLEMENTED('images: sandboxes run host commands'));
  routes.add('GET', '/images/json', fixed([]));
  routes.add('POST', '/images/prune', fixed({ ImagesDeleted: null, SpaceReclaimed: 0 }));
  routes.add('POST', '/images/create', unsupported);
  routes.add('POST', '/images/load', unsupported);
  routes.add('GET', '/images/search', unsupported);
  routes.add('GET', '/images/get', unsupported);
  routes.add('POST', '/build', unsupported);
  routes.add('POST', '/build/prune', fixed({ CachesDeleted: null, SpaceReclaimed: 0 }));
  routes.add('GET', '/images/{name...}/json', noSuchImage);
  routes.add('GET', '/images/{name...}/history', noSuchImage);
  routes.add('GET', '/images/{name...}/get', noSuchImage);
  routes.add('POST', '/images/{name...}/tag', noSuchImage);
  routes.add('POST', '/images/{name...}/push', noSuchImage);
  routes.add('DELETE', '/images/{name...}', noSuchImage);
}

function addVolumeRoutes(routes: RouteTable): void {
  const noSuchVolume: RouteHandler = { handle: async (ctx) => json(404, { message: `get ${ctx.params['name'] ?? ''}: no such volume` }) };
  routes.add('GET', '/volumes', fixed({ Volumes: [], Warnings: null }));
  routes.add('POST', '/volumes/prune', fixed({ VolumesDeleted: null, SpaceReclaimed: 0 }));
  routes.add('POST', '/volumes/create', message(501, NOT_IMPLEMENTED('volumes')));
  routes.add('GET', '/volumes/{name}', noSuchVolume);
  routes.add('PUT', '/volumes/{name}', noSuchVolume);
  routes.add('DELETE', '/volumes/{name}', noSuchVolume);
}

/**
 * An image reference as Docker prints it in "No such image": `docker.io/library/` dropped,
 * `:latest` added when neither a tag nor a digest is given. An image ID (or ID prefix,
 * `sha256:` or not) is printed as given.
 */
export function familiarReference(ref: string): string {
  if (/^(sha256:)?[0-9a-f]{6,64}$/.test(ref)) return ref;
  let name = ref.replace(/^docker\.io\/library\//, '').replace(/^(index\.)?docker\.io\//, '');
  const lastSlash = name.lastIndexOf('/');
  const hasTag = name.slice(lastSlash + 1).includes(':');
  if (!hasTag && !name.includes('@')) name = `${name}:latest`;
  return name;
}
