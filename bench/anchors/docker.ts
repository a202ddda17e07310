/**
 * Docker 20.10 (Debian's docker.io) as an anchor: a private dockerd started inside a netns of
 * its own with private data/exec roots and socket (as ../shared/anchors/20-docker-up.sh does),
 * driven through its Engine API over the unix socket with raw HTTP (not the docker CLI, whose
 * own start-up would dominate the figures). Stopped by PID, its state removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { Agent, request } from 'node:http';
import { makeNs, removeNs, waitFor, type TestNs } from '../../test/helpers/netns.js';
import { run } from '../host-tools.js';

export const DOCKERD = '/usr/sbin/dockerd';
const DOCKER_CLI = '/usr/bin/docker'; // the 20.10 client from docker.io, used once to import the image
const API = '/v1.41';
export const IMAGE = 'swybench/busybox:1';

export interface DockerPaths {
  dataRoot: string;
  execRoot: string;
  socket: string;
  pidFile: string;
}

const PATHS: DockerPaths = {
  dataRoot: '/var/lib/swy-bench-docker',
  execRoot: '/run/swy-bench-docker',
  socket: '/run/swy-bench-docker.sock',
  pidFile: '/run/swy-bench-docker.pid',
};

export function dockerInstalled(): boolean {
  return fs.existsSync(DOCKERD) && fs.existsSync(DOCKER_CLI);
}

export class DockerAnchor {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private constructor(readonly host: TestNs, readonly proc: ChildProcess, readonly paths: DockerPaths, readonly version: string) {}

  /** Starts dockerd inside a fresh netns; --dns 127.0.0.1 keeps any forwarded query on loopback. */
  static async start(): Promise<DockerAnchor> {
    const host = makeNs('dock');
    const p = PATHS;
    fs.mkdirSync(p.dataRoot, { recursive: true });
    fs.mkdirSync(p.execRoot, { recursive: true });
    const log = fs.openSync('/tmp/swy-bench-dockerd.log', 'w');
    const proc = spawn('nsenter', [`--net=${host.path}`, '--', DOCKERD, '--data-root', p.dataRoot, '--exec-root', p.execRoot, '-H', `unix://${p.socket}`, '--pidfile', p.pidFile, '--storage-driver', 'overlay2', '--log-level', 'warn', '--dns', '127.0.0.1'], { stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    const d0 = new DockerAnchor(host, proc, p, '');
    await waitFor(() => d0.api('GET', '/_ping').then(() => true, () => false), 'dockerd ready', 60_000, 100);
    const v = (await d0.api('GET', '/version')) as { Version: string };
    const d = new DockerAnchor(host, proc, p, v.Version);
    d0.agent.destroy();
    await d.ensureImage();
    return d;
  }

  /** One Engine API call; resolves with the parsed JSON body (or undefined), rejects on ≥ 400. */
  api(method: string, path: string, body?: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request({ socketPath: this.paths.socket, path: path.startsWith('/_ping') ? path : API + path, method, agent: this.agent, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 400) reject(new Error(`docker ${method} ${path} → ${res.statusCode}: ${text}`));
          else resolve(text && res.headers['content-type']?.includes('json') ? JSON.parse(text) : undefined);
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A busybox-static rootfs imported as an image: no registry involved. */
  private async ensureImage(): Promise<void> {
    if (await this.api('GET', `/images/${IMAGE}/json`).then(() => true, () => false)) return;
    const dir = fs.mkdtempSync('/tmp/swy-bench-rootfs-');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(`${dir}/${d}`);
    fs.copyFileSync('/bin/busybox', `${dir}/bin/busybox`);
    fs.chmodSync(`${dir}/bin/busybox`, 0o755);
    for (const a of ['sh', 'sleep']) fs.symlinkSync('busybox', `${dir}/bin/${a}`);
    fs.writeFileSync(`${dir}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\n');
    const tar = `${dir}.tar`;
    run('tar', ['-C', dir, '-cf', tar, '.']);
    run(DOCKER_CLI, ['-H', `unix://${this.paths.socket}`, 'import', tar, IMAGE]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(tar, { force: true });
  }

  createNetwork(name: string, subnet?: string): Promise<{ Id: string }> {
    return this.api('POST', '/networks/create', { Name: name, Driver: 'bridge', CheckDuplicate: true, ...(subnet ? { IPAM: { Config: [{ Subnet: subnet }] } } : {}) }) as Promise<{ Id: string }>;
  }

  removeNetwork(id: string): Promise<unknown> {
    return this.api('DELETE', `/networks/${id}`);
  }

  /** `docker run -d --network NET [-p hostPort:containerPort…] IMAGE sleep 1d`; returns the id. */
  async runContainer(name: string, network: string, ports: Array<[number, number]> = []): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostPort: string }>> = {};
    for (const [h, c] of ports) {
      exposed[`${c}/tcp`] = {};
      bindings[`${c}/tcp`] = [{ HostPort: String(h) }];
    }
    const { Id } = (await this.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '1d'], ExposedPorts: exposed, HostConfig: { NetworkMode: network, PortBindings: bindings } })) as { Id: string };
    await this.api('POST', `/containers/${Id}/start`);
    return Id;
  }

  connect(network: string, container: string): Promise<unknown> {
    return this.api('POST', `/networks/${network}/connect`, { Container: container });
  }

  disconnect(network: string, container: string): Promise<unknown> {
    return this.api('POST', `/networks/${network}/disconnect`, { Container: container, Force: false });
  }

  /** The container's netns as a path usable with nsenter --net. */
  async netnsOf(container: string): Promise<{ path: string; ip: (net: string) => string }> {
    const j = (await this.api('GET', `/containers/${container}/json`)) as { State: { Pid: number }; NetworkSettings: { Networks: Record<string, { IPAddress: string }> } };
    return { path: `/proc/${j.State.Pid}/ns/net`, ip: (net) => j.NetworkSettings.Networks[net]!.IPAddress };
  }

  /** Removes containers and networks, stops dockerd by PID, unmounts and deletes its state. */
  async stop(): Promise<void> {
    try {
      for (const c of (await this.api('GET', '/containers/json?all=1')) as Array<{ Id: string }>) await this.api('DELETE', `/containers/${c.Id}?force=1`).catch(() => {});
      for (const n of (await this.api('GET', '/networks')) as Array<{ Id: string; Name: string }>) {
        if (!['bridge', 'host', 'none'].includes(n.Name)) await this.removeNetwork(n.Id).catch(() => {});
      }
    } catch {
      /* daemon already gone */
    }
    this.agent.destroy();
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(this.paths.dataRoot) || m.startsWith(this.paths.execRoot)).sort().reverse();
    for (const m of mounts) run('umount', ['-l', m], { allowFail: true });
    for (const p of [this.paths.dataRoot, this.paths.execRoot, this.paths.socket, this.paths.pidFile]) fs.rmSync(p, { recursive: true, force: true });
    for (const d of ['/var/run/docker/plugins', '/var/run/docker']) { try { fs.rmdirSync(d); } catch { /* not empty or absent: not ours */ } }
    removeNs(this.host);
  }
}
