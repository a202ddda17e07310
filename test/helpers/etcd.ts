/**
 * A real etcd (Debian's etcd-server, installed by scripts/install.sh) for tests: one member
 * or a cluster of several, each a child process listening on 127.0.0.1 with free ports and
 * a private data dir under /tmp (prefix swy-etcd-). Members are stopped, killed, paused and
 * restarted by PID (never by name), and `stop()` removes everything the helper made.
 *
 *   const etcd = await startEtcd();            // one member
 *   const store = await openEtcdStore({ endpoints: etcd.endpoints, prefix: '/t/' });
 *   ...
 *   await etcd.stop();
 *
 * A test file that needs one etcd for all its tests: `const etcd = etcdPerFile();` at the
 * top, then `etcd().endpoints` inside the tests.
 */
import { after, before } from 'node:test';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as https from 'node:https';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from './netns.js';
import type { TestPki } from './test-pki.js';

export const ETCD_BIN = process.env.SWY_ETCD_BIN ?? 'etcd';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  /** PID of the running process, or undefined while it is stopped. */
  pid(): number | undefined;
  /** Every PID this member has run as (for the leak check). */
  readonly pids: number[];
  /** SIGTERM, waits for the exit (SIGKILL after 5 s). The data dir stays, so start() resumes. */
  stop(): Promise<void>;
  /** SIGKILL and waits for the exit: a crash. The data dir stays. */
  kill(): Promise<void>;
  /** SIGSTOP, and waits until every thread of the process is stopped: it hangs (connections stay open, nothing answers). */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Starts the member again on its data dir and ports; resolves once it answers. */
  start(): Promise<void>;
  log(): string;
}

export interface TestEtcd {
  members: EtcdMember[];
  /** The private directory holding every member's data dir and log. */
  root: string;
  /** Client URLs of every member (http://127.0.0.1:port). */
  endpoints: string[];
  /** The member that is the raft leader now (asked over etcd's HTTP gateway). */
  leader(): Promise<EtcdMember>;
  /** Stops every member and removes the data dirs. Idempotent. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** Members of the cluster (default 1). */
  size?: number;
  /** How long to wait for the cluster to answer (default 20 s). */
  readyTimeoutMs?: number;
  /** Extra command-line flags for every member. */
  args?: string[];
  /** Serve clients over TLS with client-certificate auth, with certificates from `makeTestPki` (test/helpers/test-pki.ts). */
  tls?: TestPki;
  /**
   * Run every member inside this network namespace, listening on `address` (ports 2379/2380
   * + 10 × member index: the namespace is private, so they are free), instead of on
   * 127.0.0.1 in the test's own namespace (the cluster lab: etcd on the underlay). Health is
   * then asked from inside the namespace; `leader()` asks from the test's namespace, so it
   * does not work with this option.
   */
  netns?: { path: string; address: string };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** True when the member's /health endpoint says it is healthy (it has a leader). */
export async function etcdHealthy(clientUrl: string, tls?: TestPki): Promise<boolean> {
  if (tls) return httpsHealthy(clientUrl, tls);
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** The scheduler state letter of every thread of `pid` (/proc/PID/task/TID/stat, field 3). */
function threadStates(pid: number): string[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
  } catch {
    return [];
  }
}

function httpsHealthy(clientUrl: string, tls: TestPki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      `${clientUrl}/health`,
      { servername: '', ca: fs.readFileSync(tls.caFile), cert: fs.readFileSync(tls.clientCertFile), key: fs.readFileSync(tls.clientKeyFile), timeout: 1000 },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** /health asked from inside a namespace (curl through nsenter). */
function healthyInNs(nsPath: string, clientUrl: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=${nsPath}`, '--', 'curl', '-s', '--max-time', '1', `${clientUrl}/health`], (err, stdout) => resolve(!err && stdout.includes('"health":"true"')));
  });
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

class Member implements EtcdMember {
  private proc: ChildProcess | undefined;
  readonly pids: number[] = [];
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;

  constructor(
    readonly name: string,
    root: string,
    clientPort: number,
    peerPort: number,
    private readonly cluster: () => string,
    private readonly token: string,
    private readonly extraArgs: string[],
    private readonly tls: TestPki | undefined,
    private readonly netns?: { path: string; address: string },
  ) {
    const host = netns ? (netns.address.includes(':') ? `[${netns.address}]` : netns.address) : '127.0.0.1';
    this.clientUrl = `${tls ? 'https' : 'http'}://${host}:${clientPort}`;
    this.peerUrl = `http://${host}:${peerPort}`;
    this.dataDir = path.join(root, name);
    this.logFile = path.join(root, `${name}.log`);
  }

  pid(): number | undefined {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  /** Spawns the process; does not wait for it to answer. */
  spawn(): void {
    if (this.pid() !== undefined) return;
    const out = fs.openSync(this.logFile, 'a');
    const args = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', this.cluster(),
      '--initial-cluster-token', this.token,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      ...(this.tls
        ? ['--cert-file', this.tls.serverCertFile, '--key-file', this.tls.serverKeyFile, '--trusted-ca-file', this.tls.caFile, '--client-cert-auth']
        : []),
      ...this.extraArgs,
    ];
    try {
      // nsenter execs etcd (no --fork): the PID is etcd's own.
      this.proc = this.netns
        ? spawn('nsenter', [`--net=${this.netns.path}`, '--', ETCD_BIN, ...args], { stdio: ['ignore', out, out] })
        : spawn(ETCD_BIN, args, { stdio: ['ignore', out, out] });
    } finally {
      fs.closeSync(out);
    }
    if (this.proc.pid) this.pids.push(this.proc.pid);
    this.proc.on('error', () => {}); // a missing binary shows up as the wait timing out, with the log
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (this.pid() === undefined) throw new Error(`etcd ${this.name} exited: ${this.log().slice(-2000)}`);
        return this.netns ? healthyInNs(this.netns.path, this.clientUrl) : etcdHealthy(this.clientUrl, this.tls);
      },
      `etcd ${this.name} at ${this.clientUrl} to answer`,
      timeoutMs,
      50,
    );
  }

  async start(): Promise<void> {
    this.spawn();
    await this.waitHealthy(20_000);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || this.pid() === undefined) return;
    proc.kill('SIGCONT');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited(proc);
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || this.pid() === undefined) return;
    proc.kill('SIGKILL');
    await exited(proc);
  }

  async pause(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    this.proc!.kill('SIGSTOP');
    await waitFor(() => threadStates(pid).every((st) => st === 'T' || st === 't'), `etcd ${this.name} (pid ${pid}) to stop`, 5_000, 5);
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

/**
 * Leak check after `stop()`: no member process is left (by every PID the helper started) and the
 * private directory is gone.
 */
export function assertEtcdGone(etcd: TestEtcd): void {
  const pids = etcd.members.flatMap((m) => m.pids);
  const alive = pids.filter((pid) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readStatus(pid)));
  const problems: string[] = [];
  if (alive.length) problems.push(`etcd processes left: ${alive.join(', ')}`);
  if (fs.existsSync(etcd.root)) problems.push(`directory left: ${etcd.root}`);
  if (problems.length) throw new Error(`etcd leak check failed: ${problems.join('; ')}`);
}

/**
 * One etcd for every test of the calling file: started in a `before` hook (options computed
 * then, so they may use what an earlier hook made) and stopped with the leak check in an
 * `after` hook. Returns the running etcd.
 */
export function etcdPerFile(opts: StartEtcdOptions | (() => StartEtcdOptions) = {}): () => TestEtcd {
  let etcd: TestEtcd | undefined;
  before(async () => {
    etcd = await startEtcd(typeof opts === 'function' ? opts() : opts);
  });
  after(async () => {
    if (!etcd) return;
    await etcd.stop();
    assertEtcdGone(etcd);
  });
  return () => {
    if (!etcd) throw new Error('etcd is not running (etcdPerFile starts it in a before hook)');
    return etcd;
  };
}

function readStatus(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

interface StatusReply {
  header?: { member_id?: string };
  leader?: string;
}

async function status(clientUrl: string): Promise<StatusReply | undefined> {
  try {
    const res = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
    return res.ok ? ((await res.json()) as StatusReply) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts an etcd of `size` members (default 1) and waits until every member answers. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<TestEtcd> {
  const size = opts.size ?? 1;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-etcd-'));
  const token = `swy-${randomBytes(4).toString('hex')}`;
  const members: Member[] = [];
  const cluster = () => members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (let i = 0; i < size; i++) {
    const ports = opts.netns ? [2379 + 10 * i, 2380 + 10 * i] : [await freePort(), await freePort()];
    members.push(new Member(`swy-e${i}`, root, ports[0]!, ports[1]!, cluster, token, opts.args ?? [], opts.tls, opts.netns));
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((m) => m.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    for (const m of members) m.spawn();
    await Promise.all(members.map((m) => m.waitHealthy(opts.readyTimeoutMs ?? 20_000)));
  } catch (err) {
    await stop();
    throw err;
  }
  const leader = async (): Promise<EtcdMember> => {
    return waitFor(
      async () => {
        const replies = await Promise.all(members.map(async (m) => (m.pid() === undefined ? undefined : status(m.clientUrl))));
        const leaderId = replies.find((r) => r?.leader && r.leader !== '0')?.leader;
        const i = replies.findIndex((r) => r?.header?.member_id === leaderId);
        return i >= 0 ? members[i] : undefined;
      },
      'an etcd leader',
      10_000,
      50,
    );
  };
  return { members, root, endpoints: members.map((m) => m.clientUrl), leader, stop };
}

export interface TcpCut {
  /** http://127.0.0.1:port of the proxy: give it to a client as its etcd endpoint. */
  url: string;
  /** Drops every proxied connection and refuses new ones (the client sees etcd vanish). */
  cut(): Promise<void>;
  /** Accepts connections again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one etcd member, so a test can cut one client off
 * while others keep talking to etcd (e.g. history moves on and is compacted while a watcher
 * is away).
 */
export async function tcpCut(targetUrl: string): Promise<TcpCut> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const port = await freePort();
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = net.createServer((client) => {
        const upstream = net.connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
      server = srv;
    });
  const cut = async () => {
    const srv = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };
  await listen();
  return { url: `http://127.0.0.1:${port}`, cut, restore: listen, close: cut };
}
