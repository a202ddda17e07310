/**
 * Docker routes Switchyard does not serve answer as a Docker daemon without that feature in
 * use (routes-unserved.ts cites moby), through the real router, never a bare 404 "page not
 * found". The router's `{name...}` segment captures references with slashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/api/router.js';
import type { Reply, RequestContext, RouteHandler } from '../../src/api/http-context.js';
import { NOT_A_MANAGER, NO_SWARM, addUnservedRoutes, familiarReference } from '../../src/api/routes-unserved.js';

const router = new Router<RouteHandler>();
addUnservedRoutes(router);

async function call(method: string, path: string): Promise<{ status: number; body: unknown }> {
  const m = router.match(method, path);
  assert.ok(m, `${method} ${path} is routed`);
  const reply = (await m.handler.handle({ method, path, params: m.params } as unknown as RequestContext)) as Extract<Reply, { kind: 'json' }>;
  assert.equal(reply.kind, 'json');
  return { status: reply.status, body: reply.body };
}

test('swarm: leave is 503 "not part of a swarm"; manager-gated routes are 503 "not a swarm manager"', async () => {
  assert.deepEqual(await call('POST', '/swarm/leave'), { status: 503, body: { message: NO_SWARM } });
  assert.equal(NO_SWARM, 'This node is not part of a swarm');
  for (const [method, path] of [
    ['GET', '/swarm'],
    ['GET', '/swarm/unlockkey'],
    ['POST', '/swarm/update'],
    ['POST', '/swarm/unlock'],
    ['GET', '/services'],
    ['GET', '/services/abc'],
    ['POST', '/services/create'],
    ['POST', '/services/abc/update'],
    ['DELETE', '/services/abc'],
    ['GET', '/services/abc/logs'],
    ['GET', '/nodes'],
    ['DELETE', '/nodes/n1'],
    ['GET', '/tasks'],
    ['GET', '/tasks/t1/logs'],
    ['GET', '/secrets'],
    ['POST', '/secrets/create'],
    ['GET', '/configs/c1'],
  ] as const) {
    assert.deepEqual(await call(method, path), { status: 503, body: { message: NOT_A_MANAGER } }, `${method} ${path}`);
  }
  assert.equal((await call('POST', '/swarm/init')).status, 503);
  assert.equal((await call('POST', '/swarm/join')).status, 503);
});

test('plugins: an empty list; a named plugin (with slashes and tag) is 404 plugin "NAME" not found', async () => {
  assert.deepEqual(await call('GET', '/plugins'), { status: 200, body: [] });
  assert.deepEqual(await call('GET', '/plugins/vieux/sshfs:latest/json'), { status: 404, body: { message: 'plugin "vieux/sshfs:latest" not found' } });
  assert.deepEqual(await call('DELETE', '/plugins/foo'), { status: 404, body: { message: 'plugin "foo" not found' } });
  assert.equal((await call('POST', '/plugins/a/b/enable')).status, 404);
  assert.equal((await call('POST', '/plugins/pull')).status, 501);
  assert.equal((await call('GET', '/plugins/privileges')).status, 501);
});

test('images: an empty store; a named image is 404 "No such image: REF"', async () => {
  assert.deepEqual(await call('GET', '/images/json'), { status: 200, body: [] });
  assert.deepEqual(await call('POST', '/images/prune'), { status: 200, body: { ImagesDeleted: null, SpaceReclaimed: 0 } });
  assert.deepEqual(await call('GET', '/images/alpine/json'), { status: 404, body: { message: 'No such image: alpine:latest' } });
  assert.deepEqual(await call('DELETE', '/images/docker.io/library/busybox:1.36'), { status: 404, body: { message: 'No such image: busybox:1.36' } });
  assert.deepEqual(await call('GET', '/images/ghcr.io/org/app/history'), { status: 404, body: { message: 'No such image: ghcr.io/org/app:latest' } });
  assert.equal((await call('POST', '/images/create')).status, 501);
  assert.equal((await call('POST', '/build')).status, 501);
});

test('volumes: an empty list; a named volume is 404 "get NAME: no such volume"', async () => {
  assert.deepEqual(await call('GET', '/volumes'), { status: 200, body: { Volumes: [], Warnings: null } });
  assert.deepEqual(await call('DELETE', '/volumes/data'), { status: 404, body: { message: 'get data: no such volume' } });
});

test('familiar image references', () => {
  assert.equal(familiarReference('nginx'), 'nginx:latest');
  assert.equal(familiarReference('localhost:5000/app'), 'localhost:5000/app:latest');
  assert.equal(familiarReference('app@sha256:' + 'a'.repeat(64)), 'app@sha256:' + 'a'.repeat(64));
  assert.equal(familiarReference('0123456789ab'), '0123456789ab');
});

test('router: a {name...} segment takes one or more segments; fixed segments after it still match', () => {
  const r = new Router<string>().add('GET', '/x/{name...}/json', 'a').add('GET', '/x/{id}', 'b');
  assert.deepEqual(r.match('GET', '/x/a/b/c/json'), { handler: 'a', params: { name: 'a/b/c' } });
  assert.deepEqual(r.match('GET', '/x/a%2Fb/json'), { handler: 'a', params: { name: 'a/b' } });
  assert.equal(r.match('GET', '/x/json')?.handler, 'b', '/x/json is /x/{id}: {name...} needs a segment');
  assert.equal(r.match('GET', '/x/%zz/json'), undefined);
});
