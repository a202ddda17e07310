/**
 * End-to-end: JSON that Docker echoes back as the client sent it (null stays null, [] and {}
 * stay), and network names under Docker's rule (anything not blank), against a real daemon:
 * a name full of shell metacharacters is stored and shown byte for byte, works with the
 * docker CLI and the Switchyard CLI, and never reaches a shell.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

function api(socketPath: string, method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path: p, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, json: text.trim() ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Docker echoes and network names (e2e)', () => {
  let d: TestDaemon;
  let marker: string;
  before(async () => {
    d = await startDaemon({ tag: 'echo' });
    marker = path.join(d.root, 'pwned');
    d.cli(['run', '-d', '--name', 'echo-sb', '--', 'sleep', 'infinity']);
  });
  after(async () => {
    await d?.stop();
  });

  test('IPAM.Options: null when the request had none, {} when {} was sent', async () => {
    const none = await api(d.socket, 'POST', '/networks/create', { Name: 'echo-a', IPAM: null, Options: null, Labels: null });
    assert.equal(none.status, 201);
    const a = (await api(d.socket, 'GET', '/networks/echo-a')).json as Json;
    assert.equal(a['IPAM']['Options'], null);
    assert.deepEqual([a['Options'], a['Labels']], [{}, {}], 'Options and Labels are always maps in Docker');
    assert.ok(Array.isArray(a['IPAM']['Config']) && a['IPAM']['Config'].length === 1, 'a pool was allocated');
    assert.equal((await api(d.socket, 'POST', '/networks/create', { Name: 'echo-b', IPAM: { Options: {}, Config: [{ Subnet: '10.241.0.0/24' }] } })).status, 201);
    const b = (await api(d.socket, 'GET', '/networks/echo-b')).json as Json;
    assert.deepEqual(b['IPAM']['Options'], {});
    const host = (await api(d.socket, 'GET', '/networks/host')).json as Json;
    assert.deepEqual([host['IPAM']['Options'], host['IPAM']['Config']], [null, null], 'predefined network without pools');
  });

  test('EndpointConfig fields are echoed in inspect exactly as sent', async () => {
    assert.equal((await api(d.socket, 'POST', '/networks/echo-a/connect', { Container: 'echo-sb', EndpointConfig: { Aliases: [], Links: null, IPAMConfig: {}, DriverOpts: {} } })).status, 200);
    assert.equal((await api(d.socket, 'POST', '/networks/echo-b/connect', { Container: 'echo-sb', EndpointConfig: null })).status, 200);
    const nets = ((await api(d.socket, 'GET', '/containers/echo-sb/json')).json as Json)['NetworkSettings']['Networks'];
    const pick = (n: Json) => [n['IPAMConfig'], n['Aliases'], n['Links'], n['DriverOpts']];
    assert.deepEqual(pick(nets['echo-a']), [{}, [], null, {}]);
    assert.deepEqual(pick(nets['echo-b']), [null, null, null, null]);
    const bad = await api(d.socket, 'POST', '/networks/echo-b/connect', { Container: 'echo-sb', EndpointConfig: { Links: { length: 1 } } });
    assert.equal(bad.status, 400);
    assert.match((bad.json as Json)['message'], /EndpointConfig\.Links/);
    assert.equal((await api(d.socket, 'GET', '/containers/json?all=1')).status, 200, 'lists still answer');
  });

  test('a network name with spaces and shell metacharacters is data: stored, shown and used as sent', async () => {
    const name = `my net; touch ${marker} $(touch ${marker}) \`touch ${marker}\``;
    const created = await api(d.socket, 'POST', '/networks/create', { Name: name, IPAM: { Config: [{ Subnet: '10.242.0.0/24' }] } });
    assert.equal(created.status, 201);
    const id = (created.json as Json)['Id'] as string;
    const byName = (await api(d.socket, 'GET', `/networks/${encodeURIComponent(name)}`)).json as Json;
    assert.equal(byName['Name'], name);
    assert.equal(byName['Id'], id);
    // The Switchyard CLI and the docker CLI take it as one argument.
    d.cli(['run', '-d', '--name', 'spaced', '--network', name, '--', 'sleep', 'infinity']);
    const sb = JSON.parse(d.cli(['inspect', 'spaced']).stdout)[0];
    assert.match(sb.NetworkSettings.Networks[name].IPAddress, /^10\.242\.0\.\d+$/);
    const docker = spawnSync('docker', ['network', 'inspect', '--format', '{{.Name}}', name], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${d.socket}`, DOCKER_CONFIG: `${d.root}/docker-config` } });
    if (docker.error === undefined) assert.equal(docker.stdout.trim(), name);
    d.cli(['rm', '-f', 'spaced']);
    d.cli(['network', 'rm', name]);
    assert.equal(fs.existsSync(marker), false, 'no name ever reached a shell');
    const blank = await api(d.socket, 'POST', '/networks/create', { Name: '  ' });
    assert.equal(blank.status, 400, 'a blank name is refused, as in Docker');
  });
});
