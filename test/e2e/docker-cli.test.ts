/**
 * End-to-end: the real docker CLI against Switchyard's Docker Engine API network routes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

const dockerPath = (): string | undefined => {
  const r = spawnSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

describe('the real docker CLI (e2e)', () => {
  let d: TestDaemon;
  const docker = (args: string[], allowFail = false) => {
    const r = spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${d.socket}`, DOCKER_CONFIG: `${d.root}/docker-config` }, timeout: 30_000 });
    if (!allowFail && r.status !== 0) throw new Error(`docker ${args.join(' ')} → ${r.status}: ${r.stderr}`);
    return r;
  };

  before(async () => {
    assert.ok(dockerPath(), 'the docker CLI is installed (scripts/install.sh installs Debian\'s docker.io when it is missing)');
    d = await startDaemon({ tag: 'dkr' });
    d.cli(['run', '-d', '--name', 'web', '--', 'sleep', 'infinity']);
  });
  after(async () => {
    await d?.stop();
  });

  test('network ls lists the predefined networks', () => {
    const out = docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']).stdout.trim().split('\n').sort();
    assert.deepEqual(out, ['bridge bridge local', 'host host local', 'none null local']);
  });

  test('create, inspect, connect, disconnect, rm', () => {
    const id = docker(['network', 'create', '--subnet', '10.98.0.0/24', '--label', 'k=v', 'dnet']).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const n = JSON.parse(docker(['network', 'inspect', 'dnet']).stdout)[0];
    assert.equal(n.Id, id);
    assert.equal(n.IPAM.Config[0].Subnet, '10.98.0.0/24');
    assert.equal(n.Labels.k, 'v');
    docker(['network', 'connect', '--ip', '10.98.0.77', '--alias', 'www', 'dnet', 'web']);
    const after = JSON.parse(docker(['network', 'inspect', 'dnet']).stdout)[0];
    const eps = Object.values(after.Containers) as { Name: string; IPv4Address: string }[];
    assert.equal(eps.length, 1);
    assert.equal(eps[0]!.Name, 'web');
    assert.equal(eps[0]!.IPv4Address, '10.98.0.77/24');
    const inspect = JSON.parse(d.cli(['inspect', 'web']).stdout)[0];
    const eth1 = d.inSandbox(inspect.NetworkSettings.SandboxKey, 'ip', ['-o', 'addr', 'show', 'eth1']).stdout;
    assert.match(eth1, /10\.98\.0\.77\/24/, 'the interface really exists');
    const busy = docker(['network', 'rm', 'dnet'], true);
    assert.notEqual(busy.status, 0);
    assert.match(busy.stderr, /active endpoints/);
    docker(['network', 'disconnect', 'dnet', 'web']);
    assert.equal(docker(['network', 'rm', 'dnet']).stdout.trim(), 'dnet');
    assert.doesNotMatch(docker(['network', 'ls']).stdout, /dnet/);
  });

  test('errors come back as docker prints them', () => {
    const missing = docker(['network', 'inspect', 'nope'], true);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /network nope not found/);
    assert.doesNotMatch(missing.stderr, /\{"message"/, 'error decoded as JSON, not printed raw');
    const dup = docker(['network', 'create', 'bridge'], true);
    assert.notEqual(dup.status, 0);
    const bad = docker(['network', 'create', '--subnet', '10.99.0.1/24', 'x1'], true);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /10\.99\.0\.0\/24/);
    const rmForce = docker(['network', 'rm', '-f', 'nope'], true);
    assert.equal(rmForce.status, 0, 'rm -f ignores a missing network (relies on a 404)');
  });

  test('prune removes unused networks and prints their names', () => {
    docker(['network', 'create', 'p1']);
    docker(['network', 'create', 'p2']);
    const out = docker(['network', 'prune', '-f']).stdout;
    assert.match(out, /p1/);
    assert.match(out, /p2/);
    assert.doesNotMatch(docker(['network', 'ls']).stdout, /\bp1\b/);
  });

  test('routes Switchyard does not serve answer as Docker without that feature (swarm, plugins, images)', () => {
    const leave = docker(['swarm', 'leave'], true);
    assert.notEqual(leave.status, 0);
    assert.match(leave.stderr, /Error response from daemon: This node is not part of a swarm/);
    const svc = docker(['service', 'ls'], true);
    assert.notEqual(svc.status, 0);
    assert.match(svc.stderr, /This node is not a swarm manager/);
    assert.equal(docker(['plugin', 'ls', '--format', '{{.Name}}']).stdout.trim(), '', 'no plugins');
    const plugin = docker(['plugin', 'inspect', 'vieux/sshfs'], true);
    assert.notEqual(plugin.status, 0);
    assert.match(plugin.stderr, /not found/);
    assert.equal(docker(['image', 'ls', '-q']).stdout.trim(), '', 'no images');
    const rmi = docker(['image', 'rm', 'alpine'], true);
    assert.notEqual(rmi.status, 0);
    assert.match(rmi.stderr, /No such image: alpine:latest/);
    assert.equal(docker(['image', 'prune', '-f']).status, 0);
    assert.equal(docker(['volume', 'ls', '-q']).stdout.trim(), '');
    for (const r of [leave, svc, plugin, rmi]) assert.doesNotMatch(r.stderr, /page not found/);
  });
});
