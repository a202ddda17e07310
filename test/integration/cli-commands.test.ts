/**
 * The CLI's output and exit statuses, through main() and the real API server on a
 * temporary socket, in front of an in-test engine that plays one sandbox's life (the real
 * engine is exercised by the lead's end-to-end tests).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/cli-io.js';
import type {
  Engine,
  NetworkDetails,
  NetworkRecord,
  SandboxDetails,
  SandboxSpec,
  SandboxRecord,
} from '../../src/engine/types.js';
import { conflict, notFound } from '../../src/errors.js';
import { parseBridgeOptions } from '../../src/model/driver-options.js';

function network(name: string, id: string, driver = 'bridge'): NetworkRecord {
  return {
    v: 1,
    state: (driver === 'bridge' ? { driver, bridge: name, options: parseBridgeOptions({}) } : { driver }) as NetworkRecord['state'],
    id: id.repeat(64).slice(0, 64), name, driver, created: '2025-01-01T12:00:00Z', scope: 'local', enableIPv4: true,
    enableIPv6: false, ipamDriver: 'default', ipamOptions: {}, pools: [], internal: false, attachable: false,
    ingress: false, options: {}, labels: {}, predefined: name === 'bridge',
  };
}

/** Sandboxes that "run" by writing their log and exiting when told to. */
class PlayEngine implements Partial<Engine> {
  networks = [network('bridge', 'b'), network('alpha-network', 'a'), network('host', 'c', 'host')];
  sandboxes = new Map<string, SandboxRecord>();
  exits = new Map<string, (code: number) => void>();
  exited = new Map<string, Promise<number>>();
  calls: string[] = [];
  constructor(private readonly dir: string) {}

  private find(ref: string): SandboxRecord {
    for (const s of this.sandboxes.values()) if (s.name === ref || s.id === ref || s.id.startsWith(ref)) return s;
    throw notFound('SANDBOX_NOT_FOUND', `No such sandbox: ${ref}`);
  }
  async listNetworks(): Promise<NetworkDetails[]> {
    return this.networks.map((network) => ({ network, endpoints: [] }));
  }
  async inspectNetwork(ref: string): Promise<NetworkDetails> {
    const n = this.networks.find((x) => x.name === ref || x.id === ref);
    if (!n) throw notFound('NETWORK_NOT_FOUND', `network ${ref} not found`);
    return { network: n, endpoints: [] };
  }
  async removeNetwork(ref: string): Promise<void> {
    await this.inspectNetwork(ref);
    this.networks = this.networks.filter((n) => n.name !== ref);
  }
  async createSandbox(spec: SandboxSpec) {
    const req = { Name: spec.name, NetworkMode: spec.networkMode || undefined, AutoRemove: spec.autoRemove, Cmd: spec.command };
    const id = (this.sandboxes.size + 1).toString(16).repeat(64).slice(0, 64);
    const name = req.Name ?? `sbx${this.sandboxes.size + 1}`;
    if (req.NetworkMode === 'nonet') throw notFound('NETWORK_NOT_FOUND', 'network nonet not found');
    this.calls.push(`create ${name} rm=${String(req.AutoRemove)}`);
    this.sandboxes.set(id, {
      v: 1,
      owner: 'switchyard',
      id, name, hostname: id.slice(0, 12), created: new Date().toISOString(), command: req.Cmd, env: [],
      networkMode: req.NetworkMode ?? 'bridge', nsPath: `/run/netns/${id.slice(0, 12)}`,
      state: { status: 'created', pid: 0, exitCode: 0, startedAt: '', finishedAt: '', error: '' },
      dns: { servers: [], search: [], options: [] }, links: [], publish: [], publishAll: false, expose: [],
      ports: [], autoRemove: req.AutoRemove ?? false, dir: this.dir,
    });
    return { id, warnings: [] };
  }
  async startSandbox(ref: string) {
    const s = this.find(ref);
    this.calls.push(`start ${s.name}`);
    s.state = { ...s.state, status: 'running', pid: 4321, startedAt: new Date().toISOString() };
    s.ports = [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '172.17.0.2' }];
    let finish!: (code: number) => void;
    this.exited.set(s.id, new Promise<number>((r) => (finish = r)));
    this.exits.set(s.id, (code) => {
      s.state = { ...s.state, status: 'exited', pid: 0, exitCode: code, finishedAt: new Date().toISOString() };
      finish(code);
    });
    await writeFile(join(this.dir, `${s.id}.log`), `hello from ${s.command.join(' ')}\n`);
    // "echo" commands end by themselves; anything else waits for stop.
    if (s.command[0] === 'echo') setTimeout(() => this.exits.get(s.id)!(Number(s.command[2] ?? 0)), 50);
  }
  async stopSandbox(ref: string) {
    const s = this.find(ref);
    this.calls.push(`stop ${s.name}`);
    this.exits.get(s.id)?.(143);
  }
  async removeSandbox(ref: string, force: boolean) {
    const s = this.find(ref);
    if (s.state.status === 'running' && !force) throw conflict('SANDBOX_RUNNING', `cannot remove running sandbox ${s.name}: stop it first or use -f`);
    this.calls.push(`rm ${s.name}`);
    this.sandboxes.delete(s.id);
  }
  async listSandboxes(all: boolean): Promise<SandboxDetails[]> {
    return [...this.sandboxes.values()].filter((s) => all || s.state.status === 'running').map((sandbox) => ({ sandbox, endpoints: [] }));
  }
  async inspectSandbox(ref: string): Promise<SandboxDetails> {
    return { sandbox: this.find(ref), endpoints: [] };
  }
  async waitSandbox(ref: string) {
    const s = this.find(ref);
    if (s.state.status !== 'running') return { exitCode: s.state.exitCode };
    return { exitCode: await this.exited.get(s.id)! };
  }
  async sandboxLogPath(ref: string) {
    return join(this.dir, `${this.find(ref).id}.log`);
  }
}

let dir: string;
let host: string;
let engine: PlayEngine;
let server: ApiServer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swy-cli-'));
  engine = new PlayEngine(dir);
  server = createApiServer({ engine: engine as unknown as Engine, version: { version: '1.2.3' } });
  await server.listen(join(dir, 'api.sock'));
  host = `unix://${join(dir, 'api.sock')}`;
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

async function cli(args: string[], stdinText?: string): Promise<{ status: number | undefined; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const stdin = new PassThrough();
  if (stdinText !== undefined) stdin.end(stdinText);
  else stdin.end();
  const io: CliIo = { stdout: out.stream, stderr: err.stream, stdin };
  const status = await main(['-H', host, ...args], io);
  return { status, out: out.text(), err: err.text() };
}

test('network ls prints docker\'s table, sorted by name, 12-character IDs', { timeout: 10_000 }, async () => {
  const r = await cli(['network', 'ls']);
  assert.equal(r.status, 0);
  assert.equal(
    r.out,
    'NETWORK ID     NAME            DRIVER    SCOPE\n' +
      'aaaaaaaaaaaa   alpha-network   bridge    local\n' +
      'bbbbbbbbbbbb   bridge          bridge    local\n' +
      'cccccccccccc   host            host      local\n',
  );
  assert.equal((await cli(['network', 'ls', '-q'])).out, 'aaaaaaaaaaaa\nbbbbbbbbbbbb\ncccccccccccc\n');
  assert.equal((await cli(['network', 'ls', '--format', '{{.Name}}:{{.Driver}}'])).out, 'alpha-network:bridge\nbridge:bridge\nhost:host\n');
  const json = (await cli(['network', 'ls', '--format', 'json'])).out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(json[0].Name, 'alpha-network');
  assert.equal(json[0].ID, 'aaaaaaaaaaaa');
});

test('network inspect prints a 4-space-indented JSON array; a missing name is reported and fails', { timeout: 10_000 }, async () => {
  const r = await cli(['network', 'inspect', 'bridge']);
  assert.equal(r.status, 0);
  assert.ok(r.out.startsWith('[\n    {\n        "Name": "bridge",\n        "Id": "bbbb'));
  const mixed = await cli(['network', 'inspect', '-f', '{{.Driver}}', 'host', 'nope']);
  assert.equal(mixed.status, 1);
  assert.equal(mixed.out, 'host\n');
  assert.equal(mixed.err, 'Error: network nope not found\n');
});

test('network rm prints each name, goes on after a failure, and -f ignores missing ones', { timeout: 10_000 }, async () => {
  engine.networks.push(network('gone1', 'd'), network('gone2', 'e'));
  const r = await cli(['network', 'rm', 'gone1', 'missing', 'gone2']);
  assert.equal(r.status, 1);
  assert.equal(r.out, 'gone1\ngone2\n');
  assert.equal(r.err, 'Error: network missing not found\n');
  assert.equal((await cli(['network', 'rm', '-f', 'missing'])).status, 0);
});

test('network prune without -f and without a "y" on stdin removes nothing', { timeout: 10_000 }, async () => {
  const r = await cli(['network', 'prune']);
  assert.equal(r.status, 0);
  assert.match(r.out, /Are you sure you want to continue\? \[y\/N\]/);
  assert.doesNotMatch(r.out, /Deleted Networks/);
});

test('run without -d streams the output and exits with the command\'s status; --rm removes it', { timeout: 10_000 }, async () => {
  const r = await cli(['run', '--rm', '--name', 'once', '--', 'echo', 'hi', '3']);
  assert.equal(r.status, 3);
  assert.equal(r.out, 'hello from echo hi 3\n');
  assert.deepEqual(engine.calls.slice(-3), ['create once rm=false', 'start once', 'rm once']);
  assert.equal([...engine.sandboxes.values()].some((s) => s.name === 'once'), false);
});

test('run -d prints the ID; ps, port, logs, stop, rm behave like docker', { timeout: 10_000 }, async () => {
  const started = await cli(['run', '-d', '--name', 'bg', 'sleep', '100']);
  assert.equal(started.status, 0);
  assert.match(started.out, /^[0-9a-f]{64}\n$/);
  const id = started.out.trim();

  const ps = await cli(['ps']);
  const lines = ps.out.trimEnd().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID   NAMES     COMMAND       CREATED\s+STATUS\s+PORTS\s+NETWORKS$/);
  assert.match(lines[1]!, new RegExp(`^${id.slice(0, 12)}   bg        "sleep 100"   .* ago\\s+Up .*0\\.0\\.0\\.0:8080->80/tcp`));
  assert.equal((await cli(['ps', '-q'])).out, `${id.slice(0, 12)}\n`);
  assert.equal((await cli(['ps', '--format', '{{.Names}} {{.State}}'])).out, 'bg running\n');

  assert.equal((await cli(['port', 'bg'])).out, '80/tcp -> 0.0.0.0:8080\n');
  assert.equal((await cli(['inspect', '-f', '{{.State.Pid}} {{.Name}}', 'bg'])).out, '4321 /bg\n');
  assert.equal((await cli(['logs', 'bg'])).out, 'hello from sleep 100\n');

  // logs -f ends when the sandbox stops.
  const follow = cli(['logs', '-f', 'bg']);
  await appendFile(join(dir, `${id}.log`), 'more\n');
  setTimeout(() => engine.exits.get(id)!(0), 100);
  assert.equal((await follow).out, 'hello from sleep 100\nmore\n');

  assert.equal((await cli(['ps'])).out.trimEnd().split('\n').length, 1, 'stopped sandboxes leave ps');
  assert.match((await cli(['ps', '-a'])).out, /Exited \(0\)/);
  const removed = await cli(['rm', 'bg', 'nosuch']);
  assert.equal(removed.out, 'bg\n');
  assert.equal(removed.err, 'Error: No such sandbox: nosuch\n');
  assert.equal(removed.status, 1);
});

test('run failures before the command starts exit with 125; an absent daemon is one clear line', { timeout: 10_000 }, async () => {
  const r = await cli(['run', '--name', 'x', '--network', 'nonet', '--', 'true']);
  assert.equal(r.status, 125);
  assert.equal(r.err, 'Error: network nonet not found\n');
  const out = sink();
  const err = sink();
  const stdin = new PassThrough();
  stdin.end();
  const status = await main(['-H', `unix://${join(dir, 'none.sock')}`, 'run', '--', 'true'], { stdout: out.stream, stderr: err.stream, stdin });
  assert.equal(status, 125);
  assert.match(err.text(), /^Error: Cannot connect to the Switchyard daemon at unix:\/\/.*none\.sock\. Is the daemon running\?\n$/);
  const ls = await main(['-H', `unix://${join(dir, 'none.sock')}`, 'network', 'ls'], { stdout: out.stream, stderr: err.stream, stdin });
  assert.equal(ls, 1);
});

test('exec refuses a sandbox that is not running', { timeout: 10_000 }, async () => {
  await cli(['run', '-d', '--name', 'ex', 'echo', 'x', '0']);
  const s = [...engine.sandboxes.values()].find((x) => x.name === 'ex')!;
  await engine.waitSandbox(s.id);
  const r = await cli(['exec', 'ex', '--', 'true']);
  assert.equal(r.status, 1);
  assert.equal(r.err, 'Error: sandbox ex is not running\n');
});
