/**
 * Docker's own multi-host overlay as an anchor (issues 11 and 12, "Speed"): three dockerd
 * (Debian's docker.io 20.10), each in a "host" network namespace of its own on one underlay
 * bridge, joined as a swarm, measured on this machine:
 *
 *   1. overlay `network create -d overlay --attachable` / `network rm` on the manager;
 *   2. propagation: from `run -d --network NET` returning on host A to the first ping answered
 *      from a container already running on host B (warm: A already has a container on NET;
 *      cold: a fresh network, A's first container on it);
 *   3. `network connect` / `disconnect` of a running container to/from the overlay;
 *   4. data path across two hosts (iperf3 throughput, ping RTT): Docker's overlay between two
 *      containers, a hand-built VXLAN pair between the same two host namespaces (the kernel's
 *      limit for this encapsulation), and the plain underlay.
 *
 * Everything runs in namespaces made here (`swy-dsw*`); each dockerd has private data and exec
 * roots, socket and pidfile, and its own UTS namespace (so the three nodes have distinct
 * hostnames). Timed operations go through the Engine API (v1.41, raw HTTP over the unix socket,
 * exactly the calls the docker CLI makes) so the CLI's own start-up is not in the figures; the
 * CLI's floor is measured beside them. Teardown removes the containers, stops each dockerd by
 * PID, deletes the namespaces and state, and checks the main namespace is as it was.
 *
 *   bench/anchors/docker-swarm.sh [--hosts 3] [--reps 30] [--cold-reps 20] [--seconds 5] [--rounds 3] [--quick] [--out bench/results]
 *
 * `npm run bench` runs it too when SWY_BENCH_DOCKER_SWARM=1 (docs/BENCHMARKS.md, "Multi-host anchors").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { Agent, request } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { makeNs, removeNs, waitFor, type TestNs } from '../../test/helpers/netns.js';
import { dpkgVersion, run, runIn } from '../host-tools.js';
import { round, summarize, type Summary } from '../stats.js';

export const DOCKERD = '/usr/sbin/dockerd';
/** The docker.io 20.10 client (a newer CLI elsewhere on PATH is not used). */
export const DOCKER_CLI = '/usr/bin/docker';
const API = '/v1.41';
const IMAGE = 'swybench/busybox:1';
/** Underlay: outside Docker's default overlay pool (10.0.0.0/8) and its bridges' (172.17+/16). */
const UNDERLAY = '192.168.231';
/** The hand-built VXLAN pair: its own VNI and UDP port, so it never meets Docker's (4789). */
const VXLAN = { vni: 4242, port: 4790, net: '192.168.232' };

export function dockerSwarmInstalled(): boolean {
  return fs.existsSync(DOCKERD) && fs.existsSync(DOCKER_CLI) && fs.existsSync('/usr/bin/iperf3');
}

export const SWARM_INSTALL_HINT = 'apt-get install -y --no-install-recommends docker.io iperf3   (or SWY_BENCH_DOCKER_SWARM=1 scripts/install.sh; no service is started)';

const nowMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One dockerd in a host namespace, with private roots, socket, pidfile and hostname. */
class SwarmNode {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  proc?: ChildProcess;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly logFile: string;

  constructor(readonly index: number, readonly ns: TestNs, readonly addr: string) {
    const tag = `swy-dsw-${ns.name.slice(-6)}`;
    this.dataRoot = `/var/lib/${tag}`;
    this.execRoot = `/run/${tag}`;
    this.socket = `/run/${tag}.sock`;
    this.pidFile = `/run/${tag}.pid`;
    this.logFile = `/tmp/${tag}-dockerd.log`;
  }

  get hostname(): string {
    return `dsw${this.index}`;
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dataRoot, { recursive: true });
    fs.mkdirSync(this.execRoot, { recursive: true });
    const log = fs.openSync(this.logFile, 'w');
    // nsenter → unshare → sh all exec: the child's PID is dockerd's. --dns 127.0.0.1 keeps any
    // forwarded query on loopback (these namespaces have no uplink).
    const dockerd = [DOCKERD, '--data-root', this.dataRoot, '--exec-root', this.execRoot, '-H', `unix://${this.socket}`, '--pidfile', this.pidFile, '--storage-driver', 'overlay2', '--log-level', 'warn', '--dns', '127.0.0.1'];
    this.proc = spawn('nsenter', [`--net=${this.ns.path}`, '--', 'unshare', '--uts', '--', 'sh', '-c', `hostname ${this.hostname} && exec "$@"`, 'sh', ...dockerd], { stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    this.proc.once('exit', (code, sig) => {
      if (!this.stopping) console.error(`[docker-swarm] dockerd on ${this.hostname} exited (${code ?? sig}); log: ${this.logFile}`);
    });
    await waitFor(() => this.api('GET', '/_ping').then(() => true, () => false), `dockerd on ${this.hostname}`, 60_000, 100);
  }

  private stopping = false;

  /** One Engine API call; resolves with the parsed JSON body (or the text), rejects on ≥ 400. */
  api(method: string, p: string, body?: unknown, timeoutMs = 120_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request({ socketPath: this.socket, path: p.startsWith('/_ping') ? p : API + p, method, agent: this.agent, timeout: timeoutMs, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 400) reject(new Error(`docker@${this.hostname} ${method} ${p} → ${res.statusCode}: ${text.trim()}`));
          else resolve(text && res.headers['content-type']?.includes('json') ? JSON.parse(text) : text);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`docker@${this.hostname} ${method} ${p}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** The docker.io 20.10 CLI against this node (untimed set-up steps only). */
  cli(args: string[], allowFail = false): ReturnType<typeof run> {
    return run(DOCKER_CLI, ['-H', `unix://${this.socket}`, ...args], { allowFail, timeoutMs: 120_000 });
  }

  /** `docker run -d --network NET [--ip IP] IMAGE sleep 1d`, as the CLI does it: create then start. */
  async runContainer(name: string, network: string, ip?: string): Promise<string> {
    const { Id } = await this.api('POST', `/containers/create?name=${name}`, this.containerSpec(network, ip));
    await this.api('POST', `/containers/${Id}/start`);
    return Id as string;
  }

  containerSpec(network: string, ip?: string): object {
    const endpoints = ip ? { [network]: { IPAMConfig: { IPv4Address: ip } } } : {};
    return { Image: IMAGE, Cmd: ['sleep', '1d'], HostConfig: { NetworkMode: network }, NetworkingConfig: { EndpointsConfig: endpoints } };
  }

  removeContainer(id: string): Promise<unknown> {
    return this.api('DELETE', `/containers/${id}?force=1`);
  }

  /** The container's netns, usable with nsenter --net. */
  async netnsOf(id: string): Promise<string> {
    const j = await this.api('GET', `/containers/${id}/json`);
    return `/proc/${j.State.Pid}/ns/net`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    try {
      for (const c of (await this.api('GET', '/containers/json?all=1', undefined, 10_000)) as Array<{ Id: string }>) await this.removeContainer(c.Id).catch(() => {});
    } catch {
      /* daemon already gone */
    }
    this.agent.destroy();
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    // Anything still running from this node's roots (containerd, shims) was started by this dockerd.
    for (const pid of processesUnder([this.execRoot, this.dataRoot])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(this.dataRoot) || m.startsWith(this.execRoot)).sort().reverse();
    for (const m of mounts) run('umount', ['-l', m], { allowFail: true });
    for (const f of [this.dataRoot, this.execRoot, this.socket, this.pidFile]) fs.rmSync(f, { recursive: true, force: true });
  }
}

/** PIDs whose command line names one of the given roots. */
function processesUnder(roots: string[]): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let cmd = '';
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (roots.some((r) => cmd.includes(r))) pids.push(Number(d));
  }
  return pids;
}

/** What a run must leave as it found it in the machine's own namespace and file system. */
function mainSnapshot(): Record<string, string[]> {
  const lines = (s: string) => s.split('\n').filter(Boolean).sort();
  return {
    netns: lines(run('ip', ['netns'], { allowFail: true }).stdout).map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('swy-dsw')),
    links: lines(run('ip', ['-o', 'link'], { allowFail: true }).stdout).map((l) => l.split(': ')[1]!.split('@')[0]!),
    routes: lines(run('ip', ['route', 'show', 'table', 'all'], { allowFail: true }).stdout),
    nftTables: lines(run('nft', ['list', 'tables'], { allowFail: true }).stdout),
    iptables: lines(run('iptables-save', [], { allowFail: true }).stdout).filter((l) => !l.startsWith('#') && !/^:/.test(l)),
    processes: processesUnder(['swy-dsw-']).map(String),
    etcDocker: fs.existsSync('/etc/docker') ? fs.readdirSync('/etc/docker') : [],
  };
}

function diff(a: Record<string, string[]>, b: Record<string, string[]>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a)) {
    const added = b[k]!.filter((x) => !a[k]!.includes(x));
    const gone = a[k]!.filter((x) => !b[k]!.includes(x));
    if (added.length) out.push(`${k} added: ${added.join(', ')}`);
    if (gone.length) out.push(`${k} removed: ${gone.join(', ')}`);
  }
  return out;
}

/** The lab: an underlay namespace with a bridge, N host namespaces on it, a dockerd in each. */
export class SwarmLab {
  readonly made: TestNs[] = [];
  readonly nodes: SwarmNode[] = [];
  underlay?: TestNs;
  info: Record<string, unknown> = {};
  private createdKeyJson = false;
  private createdPluginDir = false;

  async start(hosts = 3): Promise<void> {
    this.createdKeyJson = !fs.existsSync('/etc/docker/key.json');
    this.createdPluginDir = !fs.existsSync('/var/run/docker');
    const u = (this.underlay = makeNs('dswu'));
    this.made.push(u);
    run('ip', ['-n', u.name, 'link', 'add', 'sydswbr', 'type', 'bridge']);
    run('ip', ['-n', u.name, 'link', 'set', 'sydswbr', 'up']);
    for (let i = 1; i <= hosts; i++) {
      const h = makeNs(`dsw${i}`);
      this.made.push(h);
      run('ip', ['-n', u.name, 'link', 'add', `sydsw${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.name]);
      run('ip', ['-n', u.name, 'link', 'set', `sydsw${i}`, 'master', 'sydswbr', 'up']);
      run('ip', ['-n', h.name, 'addr', 'add', `${UNDERLAY}.${i}/24`, 'dev', 'eth0']);
      run('ip', ['-n', h.name, 'link', 'set', 'eth0', 'up']);
      this.nodes.push(new SwarmNode(i, h, `${UNDERLAY}.${i}`));
    }
    const t0 = nowMs();
    await Promise.all(this.nodes.map((n) => n.start()));
    this.info.dockerdStartMs = round(nowMs() - t0, 1);
    const v = await this.nodes[0]!.api('GET', '/version');
    this.info.dockerVersion = v.Version;
    this.importImage();
    const [mgr, ...workers] = this.nodes;
    let t = nowMs();
    mgr!.cli(['swarm', 'init', '--advertise-addr', mgr!.addr, '--listen-addr', `${mgr!.addr}:2377`]);
    this.info.swarmInitMs = round(nowMs() - t, 1);
    const token = mgr!.cli(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const joins: number[] = [];
    for (const w of workers) {
      t = nowMs();
      w.cli(['swarm', 'join', '--advertise-addr', w.addr, '--listen-addr', `${w.addr}:2377`, '--token', token, `${mgr!.addr}:2377`]);
      joins.push(round(nowMs() - t, 1));
    }
    this.info.swarmJoinMs = joins;
    await waitFor(async () => ((await mgr!.api('GET', '/nodes')) as Array<{ Status: { State: string } }>).filter((n) => n.Status.State === 'ready').length === this.nodes.length, 'all swarm nodes ready', 60_000, 200);
    this.info.nodes = ((await mgr!.api('GET', '/nodes')) as Array<{ Description: { Hostname: string }; Status: { Addr: string; State: string }; Spec: { Role: string } }>)
      .map((n) => `${n.Description.Hostname} ${n.Spec.Role} ${n.Status.Addr} ${n.Status.State}`).sort();
  }

  /** A busybox-static rootfs imported on every node: no registry involved. */
  private importImage(): void {
    const dir = fs.mkdtempSync('/tmp/swy-dsw-rootfs-');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(`${dir}/${d}`);
    fs.copyFileSync('/bin/busybox', `${dir}/bin/busybox`);
    fs.chmodSync(`${dir}/bin/busybox`, 0o755);
    for (const a of ['sh', 'sleep', 'ping', 'ip']) fs.symlinkSync('busybox', `${dir}/bin/${a}`);
    fs.writeFileSync(`${dir}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\n');
    const tar = `${dir}.tar`;
    try {
      run('tar', ['-C', dir, '-cf', tar, '.']);
      for (const n of this.nodes) n.cli(['import', tar, IMAGE]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(tar, { force: true });
    }
  }

  async stop(): Promise<void> {
    // Networks first (on the manager: swarm-scoped), then every daemon by PID.
    const mgr = this.nodes[0];
    if (mgr?.proc) {
      for (const n of this.nodes) {
        try {
          for (const c of (await n.api('GET', '/containers/json?all=1', undefined, 10_000)) as Array<{ Id: string }>) await n.removeContainer(c.Id).catch(() => {});
        } catch {
          /* gone */
        }
      }
      try {
        for (const net of (await mgr.api('GET', '/networks', undefined, 10_000)) as Array<{ Id: string; Name: string }>) {
          if (net.Name.startsWith('dsw')) await mgr.api('DELETE', `/networks/${net.Id}`).catch(() => {});
        }
      } catch {
        /* gone */
      }
    }
    await Promise.all(this.nodes.map((n) => n.stop().catch((e) => console.error(`[docker-swarm] stop ${n.hostname}: ${e}`))));
    for (const ns of this.made.reverse()) removeNs(ns);
    if (this.createdKeyJson) fs.rmSync('/etc/docker/key.json', { force: true });
    if (this.createdPluginDir) for (const d of ['/var/run/docker/plugins', '/var/run/docker']) { try { fs.rmdirSync(d); } catch { /* not empty: not ours */ } }
  }
}

/**
 * Pings `ip` from the netns at `fromNs` every `intervalMs` and resolves with the wall-clock time
 * (ms since the epoch, from ping -D) of the first reply. Before the target exists, B's ARP for it
 * goes unanswered; the neighbour retransmit time of B's interface is lowered to 10 ms (in B's own
 * container namespace) so that an unanswered ARP does not hide the moment the target appears
 * behind a 1 s retry.
 */
export class PingProbe {
  private proc: ChildProcess;
  readonly firstReply: Promise<number>;

  constructor(fromNs: string, ip: string, intervalMs: number, timeoutMs: number) {
    const t0 = performance.now();
    this.proc = spawn('nsenter', [`--net=${fromNs}`, '--', 'ping', '-D', '-n', '-i', String(intervalMs / 1000), ip], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    this.proc.stderr!.on('data', (c: Buffer) => {
      err = (err + c.toString('utf8')).slice(-2000);
    });
    this.firstReply = new Promise((resolve, reject) => {
      let buf = '';
      this.proc.stdout!.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(buf);
        if (m) {
          resolve(Number(m[1]) * 1000);
          this.stop();
        }
        if (buf.length > 1 << 16) buf = buf.slice(-4096);
      });
      // No -w: with a deadline, iputils ping exits at the first error (the unanswered ARP's
      // "Destination Host Unreachable"); the timeout is ours.
      const timer = setTimeout(() => this.stop(), timeoutMs);
      this.proc.once('exit', () => clearTimeout(timer));
      this.proc.once('exit', (code, sig) => reject(new Error(`no reply from ${ip} (ping exited ${code ?? sig} after ${Math.round(performance.now() - t0)} ms): ${err.trim()} ${buf.slice(-500).trim()}`)));
    });
    this.firstReply.catch(() => {});
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
  }
}

/** Lowers `dev`'s ARP retransmit time to 10 ms inside the namespace at nsPath (the probe's side). */
export function fastArp(nsPath: string, dev = 'eth0'): void {
  for (const [k, v] of [['retrans_time_ms', '10'], ['mcast_solicit', '3'], ['ucast_solicit', '3']]) {
    runIn(nsPath, 'sysctl', ['-qw', `net.ipv4.neigh.${dev}.${k}=${v}`]);
  }
}

export interface SwarmBenchOptions {
  /** dockerd hosts in the swarm (≥ 3): host 1 is the manager, A is host 2, B host 3. */
  hosts: number;
  reps: number;
  coldReps: number;
  seconds: number;
  rounds: number;
  pingIntervalMs: number;
  settleMs: number;
  /** Parts left out (bench/overlay.ts at 20 hosts measures only the warm propagation). */
  skip?: Array<'create' | 'connect' | 'datapath' | 'cold'>;
  /** Also run a container on the warm network on every other node, so that every node is a member of it (bench/overlay.ts: as many hosts on the network as Switchyard's lab). */
  fillAllNodes?: boolean;
  log?: (msg: string) => void;
}

export const DEFAULT_OPTIONS: SwarmBenchOptions = { hosts: 3, reps: 30, coldReps: 20, seconds: 5, rounds: 3, pingIntervalMs: 5, settleMs: 250 };
export const QUICK_OPTIONS: SwarmBenchOptions = { hosts: 3, reps: 10, coldReps: 5, seconds: 2, rounds: 1, pingIntervalMs: 5, settleMs: 250 };

interface Propagation {
  afterReturn: number[];
  afterCall: number[];
  afterStartCall: number[];
  run: number[];
  start: number[];
  /** From start called on A to A's endpoint in A's overlay sandbox (kernel event). */
  endpointOnA: number[];
  /** From start called on A to B's neighbour entry for it (kernel event). */
  appliedOnB: number[];
  /** From A's endpoint appearing on A to B's neighbour entry: Docker's own propagation. */
  gossipAtoB: number[];
}

const newPropagation = (): Propagation => ({ afterReturn: [], afterCall: [], afterStartCall: [], run: [], start: [], endpointOnA: [], appliedOnB: [], gossipAtoB: [] });
const samples = (p: Propagation) => Object.fromEntries(Object.entries(p).map(([k, v]: [string, number[]]) => [k, v.map((x) => round(x, 1))]));

/**
 * `ip -ts monitor OBJ` inside a namespace (an overlay network's sandbox namespace of a dockerd):
 * resolves with the wall-clock time (ms since the epoch) of the first event line that matches.
 */
export class KernelMonitor {
  private proc: ChildProcess;
  private lines: Array<[number, string]> = [];
  private waiters: Array<{ match: (l: string) => boolean; resolve: (t: number) => void }> = [];

  constructor(nsPath: string, obj: string) {
    this.proc = spawn('nsenter', [`--net=${nsPath}`, '--', 'ip', '-ts', 'monitor', obj], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, TZ: 'UTC' } });
    let buf = '';
    this.proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (.*)$/.exec(line);
        if (!m) continue;
        const t = Date.parse(`${m[1]}Z`) + Number(m[2]) / 1000;
        this.lines.push([t, m[3]!]);
        for (const w of [...this.waiters]) if (w.match(m[3]!)) { w.resolve(t); this.waiters.splice(this.waiters.indexOf(w), 1); }
      }
    });
  }

  /** The time of the first matching line (already seen or still to come), or undefined after timeoutMs. */
  first(match: (l: string) => boolean, timeoutMs: number): Promise<number | undefined> {
    const seen = this.lines.find(([, l]) => match(l));
    if (seen) return Promise.resolve(seen[0]);
    return new Promise((resolve) => {
      const w = { match, resolve: (t: number) => { clearTimeout(timer); resolve(t); } };
      const timer = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); resolve(undefined); }, timeoutMs);
      this.waiters.push(w);
    });
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
  }
}

/** Where a node keeps a swarm network's sandbox namespace (`<exec-root>/netns/<n>-<network id[:10]>`), once it has one. */
function overlaySandbox(node: SwarmNode, networkId: string): string | undefined {
  const dir = `${node.execRoot}/netns`;
  const f = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => n.endsWith(`-${networkId.slice(0, 10)}`)) : undefined;
  return f ? `${dir}/${f}` : undefined;
}

/**
 * One propagation sample: run a container with a fixed address on `a`, ping it from `bNs` on
 * host B. With the network's sandbox namespaces on A and B, also the kernel's view: when A's
 * endpoint appears in A's overlay sandbox (its veth end moved in), and when B programs the
 * neighbour entry for the new address on its VXLAN device (what Docker's gossip delivered).
 */
async function propagationSample(a: SwarmNode, bNs: string, net: string, name: string, ip: string, o: SwarmBenchOptions, into: Propagation, sboxes: { a?: string; b?: string } = {}): Promise<string> {
  const probe = new PingProbe(bNs, ip, o.pingIntervalMs, 30_000);
  const monA = sboxes.a ? new KernelMonitor(sboxes.a, 'link') : undefined;
  const monB = sboxes.b ? new KernelMonitor(sboxes.b, 'neigh') : undefined;
  try {
    await sleep(50); // the probe is pinging (and failing), the monitors listening, before the container exists
    // `docker run -d` is create then start; Docker attaches a container to a swarm network at start.
    const t0 = nowMs();
    const { Id } = await a.api('POST', `/containers/create?name=${name}`, a.containerSpec(net, ip));
    const tStart = nowMs();
    await a.api('POST', `/containers/${Id}/start`);
    const t1 = nowMs();
    const tPing = await probe.firstReply;
    into.run.push(t1 - t0);
    into.start.push(t1 - tStart);
    into.afterReturn.push(tPing - t1);
    into.afterCall.push(tPing - t0);
    into.afterStartCall.push(tPing - tStart);
    const tA = await monA?.first((l) => /^\d+: \S+: </.test(l), 2000);
    const tB = await monB?.first((l) => l.startsWith(`${ip} dev `) && l.includes('lladdr'), 2000);
    if (tA !== undefined) into.endpointOnA.push(tA - tStart);
    if (tB !== undefined) into.appliedOnB.push(tB - tStart);
    if (tA !== undefined && tB !== undefined) into.gossipAtoB.push(tB - tA);
    return Id as string;
  } finally {
    probe.stop();
    monA?.stop();
    monB?.stop();
  }
}

async function iperf(serverNs: string, clientNs: string, addr: string, seconds: number): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => runIn(serverNs, 'ss', ['-ltn']).stdout.includes(':5201'), 'iperf3 server', 10_000, 20);
    const out = runIn(clientNs, 'iperf3', ['-c', addr, '-p', '5201', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 }).stdout;
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

/** Per-reply RTTs (ms) of `count` pings at 10 ms intervals. */
function rtts(fromNs: string, addr: string, count: number): number[] {
  runIn(fromNs, 'ping', ['-n', '-q', '-c', '1', '-W', '2', addr], { allowFail: true }); // warm ARP/FDB
  const r = runIn(fromNs, 'ping', ['-n', '-i', '0.01', '-c', String(count), '-W', '2', addr], { timeoutMs: 60_000 });
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

/** The hand-built VXLAN pair between the first two host namespaces (no bridge, no veth). */
function buildVxlanPair(h1: SwarmNode, h2: SwarmNode): { addr1: string; addr2: string; remove: () => void } {
  const pairs: Array<[SwarmNode, SwarmNode, string]> = [[h1, h2, `${VXLAN.net}.1`], [h2, h1, `${VXLAN.net}.2`]];
  for (const [me, peer, addr] of pairs) {
    runIn(me.ns.path, 'ip', ['link', 'add', 'sydswvx', 'type', 'vxlan', 'id', String(VXLAN.vni), 'local', me.addr, 'remote', peer.addr, 'dstport', String(VXLAN.port), 'dev', 'eth0']);
    runIn(me.ns.path, 'ip', ['addr', 'add', `${addr}/24`, 'dev', 'sydswvx']);
    runIn(me.ns.path, 'ip', ['link', 'set', 'sydswvx', 'up']);
  }
  return {
    addr1: `${VXLAN.net}.1`,
    addr2: `${VXLAN.net}.2`,
    remove: () => {
      for (const [me] of pairs) runIn(me.ns.path, 'ip', ['link', 'del', 'sydswvx'], { allowFail: true });
    },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return round(s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2, 3);
};
const sum = (xs: number[]): Summary => summarize(xs.map((x) => round(x, 3)));

function propSummary(p: Propagation): Record<string, Summary> {
  return Object.fromEntries(Object.entries(p).map(([k, v]: [string, number[]]) => [k, sum(v)]));
}

/**
 * Starts the lab, measures, tears it down. Returns the result object (JSON-safe) whatever
 * happens; a failure is recorded as `error` with what was measured before it.
 */
export async function dockerSwarmBench(o: SwarmBenchOptions = DEFAULT_OPTIONS): Promise<Record<string, any>> {
  const log = o.log ?? ((m: string) => console.error(`[docker-swarm ${new Date().toISOString().slice(11, 19)}] ${m}`));
  const before = mainSnapshot();
  const result: Record<string, any> = {
    started: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, kernel: os.release(), node: process.version },
    load: { before: os.loadavg().map((x) => round(x, 2)) },
    versions: { 'docker.io': dpkgVersion('docker.io'), containerd: dpkgVersion('containerd'), runc: dpkgVersion('runc'), iperf3: dpkgVersion('iperf3'), 'iputils-ping': dpkgVersion('iputils-ping') },
    settings: o,
    via: 'Engine API v1.41 over each dockerd\'s unix socket (the calls the docker 20.10 CLI makes)',
  };
  const lab = new SwarmLab();
  const onSignal = () => {
    log('interrupted: tearing down');
    void lab.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!(o.hosts >= 3)) throw new Error(`hosts: ${o.hosts}: the anchor needs at least 3 (a manager, A and B)`);
    log(`starting ${o.hosts} dockerd in ${o.hosts} host namespaces, joining them as a swarm`);
    await lab.start(o.hosts);
    result.lab = { underlay: `${UNDERLAY}.0/24 on a bridge in its own netns`, ...lab.info };
    const [mgr, hA, hB] = lab.nodes as [SwarmNode, SwarmNode, SwarmNode];

    // The CLI's floor on this machine (one `docker network ls -q` round trip): add it to any API figure
    // to compare with CLI timings.
    const floor: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = nowMs();
      mgr.cli(['network', 'ls', '-q']);
      floor.push(nowMs() - t);
    }
    result.cliFloor = sum(floor);

    // A worker cannot create a swarm network: record Docker's own answer.
    result.createOnWorker = await hA.api('POST', '/networks/create', { Name: 'dswworker', Driver: 'overlay', Attachable: true, CheckDuplicate: true })
      .then(() => 'accepted', (e: Error) => e.message);

    const skip = new Set(o.skip ?? []);
    log(`overlay network create/rm on the manager, ${o.reps} reps`);
    const create: number[] = [];
    const remove: number[] = [];
    for (let i = 0; i < (skip.has('create') ? 0 : o.reps); i++) {
      let t = nowMs();
      const { Id } = await mgr.api('POST', '/networks/create', { Name: `dswcr${i}`, Driver: 'overlay', Attachable: true, CheckDuplicate: true });
      create.push(nowMs() - t);
      t = nowMs();
      await mgr.api('DELETE', `/networks/${Id}`);
      remove.push(nowMs() - t);
    }
    if (create.length) result.networkCreate = sum(create);
    if (remove.length) result.networkRemove = sum(remove);

    log(`propagation (warm: A and B already on the network), ${o.reps} reps`);
    // Fixed addresses outside the IPAM range: swarm hands each node an address of its own on the
    // network (its load-balancer endpoint) from the range, which a fixed address inside it can hit
    // ("could not allocate IP from IPAM: Address already in use").
    const { Id: warmNet } = await mgr.api('POST', '/networks/create', { Name: 'dswnet', Driver: 'overlay', Attachable: true, CheckDuplicate: true, IPAM: { Config: [{ Subnet: '10.231.0.0/16', IPRange: '10.231.0.0/24' }] } });
    const bId = await hB.runContainer('dswb', 'dswnet', '10.231.200.2');
    const aId = await hA.runContainer('dswa', 'dswnet', '10.231.200.3');
    const bNs = await hB.netnsOf(bId);
    const aNs = await hA.netnsOf(aId);
    const fill: Array<[SwarmNode, string]> = [];
    if (o.fillAllNodes) {
      const t = nowMs();
      for (const n of lab.nodes) if (n !== hA && n !== hB) fill.push([n, await n.runContainer(`dswf${n.index}`, 'dswnet', `10.231.200.${10 + n.index}`)]);
      result.fillMs = round(nowMs() - t, 1);
      result.nodesOnNetwork = fill.length + 2;
    }
    fastArp(bNs);
    runIn(bNs, 'ping', ['-c', '1', '-W', '5', '10.231.200.3']); // the pair talks before anything is timed
    const warm = newPropagation();
    for (let i = 0; i < o.reps; i++) {
      const id = await propagationSample(hA, bNs, 'dswnet', `dswp${i}`, `10.231.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`, o, warm, { a: overlaySandbox(hA, warmNet), b: overlaySandbox(hB, warmNet) });
      await hA.removeContainer(id);
      await sleep(o.settleMs);
    }
    result.propagationWarm = propSummary(warm);
    result.propagationWarmSamples = samples(warm);

    log(`attach/detach (network connect/disconnect of a running container), ${o.reps} reps`);
    const cId = await hA.runContainer('dswc', 'bridge');
    const connect: number[] = [];
    const disconnect: number[] = [];
    for (let i = 0; i < (skip.has('connect') ? 0 : o.reps); i++) {
      let t = nowMs();
      await hA.api('POST', '/networks/dswnet/connect', { Container: cId });
      connect.push(nowMs() - t);
      t = nowMs();
      await hA.api('POST', '/networks/dswnet/disconnect', { Container: cId, Force: false });
      disconnect.push(nowMs() - t);
      await sleep(o.settleMs);
    }
    await hA.removeContainer(cId);
    if (connect.length) result.connect = sum(connect);
    if (disconnect.length) result.disconnect = sum(disconnect);
    for (const [n, id] of fill) await n.removeContainer(id);

    log(`data path: overlay vs hand-built VXLAN vs underlay, ${o.rounds} rounds of ${o.seconds} s`);
    if (!skip.has('datapath')) {
    const vx = buildVxlanPair(hA, hB);
    const paths: Record<string, { server: string; client: string; addr: string; dev: string }> = {
      'docker overlay (container ↔ container)': { server: aNs, client: bNs, addr: '10.231.200.3', dev: 'eth0' },
      'hand-built VXLAN (host ns ↔ host ns)': { server: hA.ns.path, client: hB.ns.path, addr: vx.addr1, dev: 'sydswvx' },
      'underlay (host ns ↔ host ns)': { server: hA.ns.path, client: hB.ns.path, addr: hA.addr, dev: 'eth0' },
    };
    const gbps: Record<string, number[]> = {};
    const rtt: Record<string, number[]> = {};
    try {
      for (const p of Object.values(paths)) runIn(p.client, 'ping', ['-c', '1', '-W', '5', p.addr]);
      for (let r = 0; r < o.rounds; r++) {
        for (const [k, p] of Object.entries(paths)) (gbps[k] ??= []).push(round(await iperf(p.server, p.client, p.addr, o.seconds), 2));
        for (const [k, p] of Object.entries(paths)) (rtt[k] ??= []).push(...rtts(p.client, p.addr, 200));
      }
      result.mtu = Object.fromEntries(Object.entries(paths).map(([k, p]) => [k, Number(/ mtu (\d+)/.exec(runIn(p.client, 'ip', ['-o', 'link', 'show', p.dev]).stdout)?.[1])]));
    } finally {
      vx.remove();
    }
    result.throughputGbps = Object.fromEntries(Object.entries(gbps).map(([k, v]) => [k, { runs: v, median: median(v) }]));
    // Each round measured every path back to back: the ratio within a round shares that round's load.
    const [ov, vxl, ul] = Object.values(gbps) as [number[], number[], number[]];
    result.throughputPairedRatios = {
      'overlay / hand-built VXLAN': median(ov.map((x, i) => x / vxl[i]!)),
      'overlay / underlay': median(ov.map((x, i) => x / ul[i]!)),
      'hand-built VXLAN / underlay': median(vxl.map((x, i) => x / ul[i]!)),
    };
    result.rttMs = Object.fromEntries(Object.entries(rtt).map(([k, v]) => [k, sum(v)]));
    }
    await hA.removeContainer(aId);
    await hB.removeContainer(bId);
    await mgr.api('DELETE', '/networks/dswnet');

    log(`propagation (cold: a fresh network, A's first container on it), ${o.coldReps} reps`);
    const cold = newPropagation();
    for (let i = 0; i < (skip.has('cold') ? 0 : o.coldReps); i++) {
      const net = `dswcold${i}`;
      const { Id: netId } = await mgr.api('POST', '/networks/create', { Name: net, Driver: 'overlay', Attachable: true, CheckDuplicate: true, IPAM: { Config: [{ Subnet: `10.232.${i}.0/24`, IPRange: `10.232.${i}.0/25` }] } });
      const b = await hB.runContainer(`dswcb${i}`, net, `10.232.${i}.200`);
      const bn = await hB.netnsOf(b);
      fastArp(bn);
      const a = await propagationSample(hA, bn, net, `dswca${i}`, `10.232.${i}.201`, o, cold, { b: overlaySandbox(hB, netId) });
      await hA.removeContainer(a);
      await hB.removeContainer(b);
      await mgr.api('DELETE', `/networks/${netId}`).catch(async () => {
        await sleep(1000); // the workers' detach reaches the manager asynchronously
        await mgr.api('DELETE', `/networks/${netId}`);
      });
      await sleep(o.settleMs);
    }
    if (cold.run.length) {
      result.propagationCold = propSummary(cold);
      result.propagationColdSamples = samples(cold);
    }
  } catch (err) {
    result.error = String((err as Error).stack ?? err);
    log(`failed: ${result.error}`);
  } finally {
    log('teardown');
    const t = nowMs();
    await lab.stop();
    result.teardownMs = round(nowMs() - t, 1);
    // Each dockerd's log (/tmp/swy-dsw-<id>-dockerd.log) is kept only when the run failed.
    if (result.error) result.dockerdLogs = lab.nodes.map((n) => n.logFile);
    else for (const n of lab.nodes) fs.rmSync(n.logFile, { force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  result.load.after = os.loadavg().map((x) => round(x, 2));
  result.leftovers = diff(before, mainSnapshot());
  return result;
}

const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));
const row = (label: string, s: Summary | undefined) => (s?.n ? `| ${label} | ${s.n} | ${f(s.p50)} | ${f(s.p99)} | ${f(s.min)} – ${f(s.max)} |` : `| ${label} | — | — | — | — |`);

/** The result as Markdown tables (the same layout as docs/BENCHMARKS.md's "Multi-host anchors"). */
export function renderSwarmMarkdown(r: Record<string, any>): string {
  const out: string[] = [];
  const n = r.settings?.hosts ?? 3;
  out.push(`### Docker ${r.lab?.dockerVersion ?? ''} swarm overlay, ${n} dockerd in ${n} host namespaces (${r.started})`, '');
  if (r.error) out.push(`**The run failed:** \`${String(r.error).split('\n')[0]}\``, '');
  out.push(`Load ${r.load?.before?.join(' ')} → ${r.load?.after?.join(' ')} (1/5/15 min); ${r.machine?.cpus} CPUs; kernel ${r.machine?.kernel}. Timed through ${r.via}; the CLI's own round trip (\`docker network ls -q\`) is ${f(r.cliFloor?.p50)} ms p50 on top of any figure below.`, '');
  out.push('| measurement | n | p50 (ms) | p99 (ms) | min – max (ms) |', '|---|---|---|---|---|');
  out.push(row('overlay `network create -d overlay --attachable` (manager)', r.networkCreate));
  out.push(row('overlay `network rm` (manager)', r.networkRemove));
  out.push(row('`network connect` running container → overlay (worker)', r.connect));
  out.push(row('`network disconnect` (worker)', r.disconnect));
  for (const [k, label] of [['propagationWarm', 'warm: A already has a container on the network'], ['propagationCold', 'cold: fresh network, A\'s first container on it']] as const) {
    const p = r[k];
    out.push(row(`${label}: \`run -d\` on A (create + start)`, p?.run));
    out.push(row(`${label}: first ping from B, after \`run -d\` returned on A`, p?.afterReturn));
    out.push(row(`${label}: first ping from B, after \`run -d\` was called on A`, p?.afterCall));
    out.push(row(`${label}: of which container start (the attach)`, p?.start));
    out.push(row(`${label}: first ping from B, after start was called on A`, p?.afterStartCall));
    out.push(row(`${label}: kernel: A's endpoint in A's overlay sandbox, after start was called`, p?.endpointOnA));
    out.push(row(`${label}: kernel: B's neighbour entry for it, after start was called on A`, p?.appliedOnB));
    out.push(row(`${label}: kernel: from A's endpoint to B's neighbour entry (Docker's propagation)`, p?.gossipAtoB));
  }
  out.push('');
  if (r.throughputGbps) {
    out.push('| path (host 2 ↔ host 3, one TCP stream) | Gbit/s, median (runs) | RTT p50 / p99 (ms) | MTU |', '|---|---|---|---|');
    for (const [k, v] of Object.entries(r.throughputGbps as Record<string, { runs: number[]; median: number }>)) {
      out.push(`| ${k} | ${f(v.median, 2)} (${v.runs.join(', ')}) | ${f(r.rttMs?.[k]?.p50, 3)} / ${f(r.rttMs?.[k]?.p99, 3)} | ${r.mtu?.[k] ?? '—'} |`);
    }
    out.push('');
    if (r.throughputPairedRatios) out.push(`Throughput, median of the per-round ratios: ${Object.entries(r.throughputPairedRatios as Record<string, number>).map(([k, v]) => `${k} ${f(v * 100, 0)} %`).join(', ')}.`, '');
  }
  out.push(`Swarm: init ${f(r.lab?.swarmInitMs)} ms, joins ${(r.lab?.swarmJoinMs ?? []).join(' / ')} ms; nodes: ${(r.lab?.nodes ?? []).join('; ')}. A worker's own \`network create -d overlay\`: ${r.createOnWorker ?? '—'}.`);
  out.push(`Teardown ${f(r.teardownMs)} ms; main namespace afterwards: ${r.leftovers?.length ? r.leftovers.join('; ') : 'unchanged (netns, links, routes, nft tables, iptables rules, processes, /etc/docker)'}.`);
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      hosts: { type: 'string' },
      reps: { type: 'string' },
      'cold-reps': { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      'ping-interval-ms': { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
    },
  });
  if (!dockerSwarmInstalled()) {
    console.error(`docker-swarm: ${DOCKERD}, ${DOCKER_CLI} or iperf3 missing. Install them with:\n  ${SWARM_INSTALL_HINT}`);
    process.exit(2);
  }
  const base = values.quick ? QUICK_OPTIONS : DEFAULT_OPTIONS;
  const o: SwarmBenchOptions = {
    ...base,
    hosts: Number(values.hosts ?? base.hosts),
    reps: Number(values.reps ?? base.reps),
    coldReps: Number(values['cold-reps'] ?? base.coldReps),
    seconds: Number(values.seconds ?? base.seconds),
    rounds: Number(values.rounds ?? base.rounds),
    pingIntervalMs: Number(values['ping-interval-ms'] ?? base.pingIntervalMs),
  };
  const r = await dockerSwarmBench(o);
  r.command = `bench/anchors/docker-swarm.sh ${process.argv.slice(2).join(' ')}`.trim();
  fs.mkdirSync(values.out!, { recursive: true });
  const file = path.join(values.out!, `docker-swarm-${String(r.started).replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${file}.json`, JSON.stringify(r, null, 2));
  const md = renderSwarmMarkdown(r);
  fs.writeFileSync(`${file}.md`, md);
  console.log(md);
  console.log(`Results written to ${file}.json and ${file}.md`);
  if (r.leftovers.length) console.error(`WARNING: main namespace changed: ${r.leftovers.join('; ')}`);
  if (r.error || r.leftovers.length) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
