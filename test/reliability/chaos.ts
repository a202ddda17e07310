/**
 * The chaos runner: N clients run a random mixed workload through the API (create and
 * remove networks, run sandboxes with and without published ports, connect, disconnect,
 * stop, start, rm) while the daemon is killed with SIGKILL at random moments and started
 * again. After every restart the acknowledged state (ledger.ts) and the invariants
 * (invariants.ts) are checked, and a sample of it is proven to work with real traffic.
 *
 * Used by test/reliability/chaos.test.ts (bounded, CI) and scripts/soak.mjs (long runs).
 */
import { spawnSync } from 'node:child_process';
import { SwitchyardClient } from '../../src/api/client.js';
import { SwitchyardError } from '../../src/errors.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { SeededRandom } from './seeded-random.js';
import { Ledger, type SandboxEntry } from './ledger.js';
import { bridgeOf, nameOf, settledProblems, type Observed } from './invariants.js';

export const SHARED_NET = 'chaos-shared';
const SHARED_SUBNET = '10.99.0.0/24';
const MAX_NETS = 3;
const MAX_SANDBOXES = 4;
/** A TCP server on port 80 that answers "ok": published ports are proven by a real connection. */
export const SERVER_CMD = ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo ok'];

export interface ChaosOptions {
  seed: number;
  kills: number;
  clients: number;
  /** Workload time between two kills, in ms (a random pick in the range). */
  runMs: [number, number];
  log: (line: string) => void;
}

export interface ChaosCounts {
  kills: number;
  /** Requests answered 2xx. */
  acknowledged: number;
  /** Requests answered with a clean 4xx (expected by the workload or not). */
  rejected: number;
  /** Requests cut by a kill (no answer): their effect was decided at the next restart. */
  inDoubt: number;
  /** Requests answered 5xx: defects. */
  serverErrors: number;
  /** Invariant checks run (one per restart, plus the final one). */
  checks: number;
  /** Traffic probes (ping between sandboxes, TCP to a published port) that passed. */
  probes: number;
  lost: number;
  duplicated: number;
  leaked: number;
}

export interface ChaosResult {
  counts: ChaosCounts;
  /** Every defect found: contradictions, invariant violations, 5xx, unexpected rejections. */
  defects: string[];
}

/** No answer: the connection failed or broke (the daemon died), so the outcome is in doubt. */
const isCut = (err: unknown): boolean => !(err instanceof SwitchyardError) || err.code.startsWith('DAEMON_');

class Client {
  readonly ledger = new Ledger();
  private seq = 0;
  constructor(
    readonly index: number,
    private readonly api: SwitchyardClient,
    private readonly rnd: SeededRandom,
    private readonly counts: ChaosCounts,
    private readonly defects: string[],
  ) {}

  get tag(): string {
    return `c${this.index}`;
  }

  private subnetOf(slot: number): string {
    return `10.${110 + this.index}.${slot}.0/28`;
  }

  private portPool(): number[] {
    return [0, 1, 2, 3].map((k) => 20000 + this.index * 10 + k);
  }

  /**
   * One API call. Returns 'ack' (2xx), 'cut' (no answer: the daemon died) or 'rejected'.
   * A rejection the ledger did not expect, and any 5xx, is a defect.
   */
  private async call(what: string, fn: () => Promise<unknown>, expectFail = false): Promise<'ack' | 'cut' | 'rejected'> {
    try {
      await fn();
      this.counts.acknowledged++;
      return 'ack';
    } catch (err) {
      if (isCut(err)) {
        this.counts.inDoubt++;
        return 'cut';
      }
      const e = err as SwitchyardError;
      if (e.kind === 'internal') {
        this.counts.serverErrors++;
        this.defects.push(`${this.tag} ${what}: server error ${e.code}: ${e.message}`);
      } else {
        this.counts.rejected++;
        if (!expectFail) this.defects.push(`${this.tag} ${what}: unexpected rejection ${e.code}: ${e.message}`);
      }
      return 'rejected';
    }
  }

  /** Picks and runs one operation the ledger says must succeed. */
  async step(): Promise<void> {
    const L = this.ledger;
    const ownNets = [...L.nets.values()];
    const sbs = [...L.sandboxes.values()];
    const running = sbs.filter((s) => s.state === 'running');
    const stopped = sbs.filter((s) => s.state !== 'running');
    const removableNets = ownNets.filter((n) => !running.some((s) => s.nets.has(n.name)));
    const op = this.rnd.weighted({
      netCreate: ownNets.length < MAX_NETS ? 3 : 0,
      netRemove: removableNets.length ? 1.5 : 0,
      run: sbs.length < MAX_SANDBOXES ? 4 : 0,
      connect: sbs.length ? 3 : 0,
      disconnect: sbs.some((s) => s.nets.size) ? 2 : 0,
      stop: running.length ? 1.5 : 0,
      start: stopped.length ? 2 : 0,
      rm: sbs.length ? 2 : 0,
      read: 1,
    });
    switch (op) {
      case 'netCreate':
        return this.netCreate();
      case 'netRemove':
        return this.netRemove(this.rnd.pick(removableNets).name);
      case 'run':
        return this.run();
      case 'connect':
        return this.connect(this.rnd.pick(sbs));
      case 'disconnect':
        return this.disconnect(this.rnd.pick(sbs.filter((s) => s.nets.size)));
      case 'stop':
        return this.stop(this.rnd.pick(running));
      case 'start':
        return this.start(this.rnd.pick(stopped));
      case 'rm':
        return this.rm(this.rnd.pick(sbs));
      default:
        await this.call('inspect', () => (sbs.length ? this.api.inspectSandbox(this.rnd.pick(sbs).name) : this.api.listNetworks()));
    }
  }

  private async netCreate(): Promise<void> {
    const used = new Set([...this.ledger.nets.values()].map((n) => n.slot));
    const slot = [0, 1, 2, 3].find((s) => !used.has(s))!;
    const name = `${this.tag}-n${slot}`;
    const subnet = this.subnetOf(slot);
    this.ledger.goneNets.delete(name);
    const entry = { name, subnet, slot, known: false };
    this.ledger.nets.set(name, entry);
    const r = await this.call(`network create ${name}`, () =>
      this.api.createNetwork({ Name: name, Driver: 'bridge', IPAM: { Config: [{ Subnet: subnet }] } }),
    );
    if (r === 'ack') entry.known = true;
    if (r === 'rejected') this.ledger.nets.delete(name);
  }

  private async netRemove(name: string): Promise<void> {
    const entry = this.ledger.nets.get(name)!;
    entry.known = false;
    const r = await this.call(`network rm ${name}`, () => this.api.removeNetwork(name));
    if (r === 'ack') {
      this.ledger.nets.delete(name);
      this.ledger.goneNets.add(name);
      this.ledger.dropNet(name);
    }
    if (r === 'rejected') entry.known = true;
  }

  private async run(): Promise<void> {
    const name = `${this.tag}-s${this.seq++}`;
    const choices = [...[...this.ledger.nets.values()].map((n) => n.name), SHARED_NET, SHARED_NET, 'bridge'];
    const net = this.rnd.pick(choices);
    const taken = new Set([...this.ledger.sandboxes.values()].map((s) => s.fixedPort));
    const free = this.portPool().filter((p) => !taken.has(p));
    const kind = this.rnd.weighted({ none: 1, ephemeral: 1, fixed: free.length ? 1 : 0 })!;
    const fixedPort = kind === 'fixed' ? this.rnd.pick(free) : undefined;
    const entry: SandboxEntry = { name, state: 'created', nets: new Set([net]), ephemeral: kind === 'ephemeral', known: false, ...(fixedPort ? { fixedPort } : {}) };
    this.ledger.sandboxes.set(name, entry);
    const portSpecs = kind === 'fixed' ? [`${fixedPort}:80`] : kind === 'ephemeral' ? ['0:80'] : [];
    const created = await this.call(`create ${name}`, () => this.api.createSandbox({ Name: name, Cmd: SERVER_CMD, NetworkMode: net, PortSpecs: portSpecs }));
    if (created === 'rejected') this.ledger.sandboxes.delete(name);
    if (created !== 'ack') return;
    entry.known = true;
    await this.start(entry);
  }

  private async start(s: SandboxEntry): Promise<void> {
    s.known = false;
    const r = await this.call(`start ${s.name}`, () => this.api.startSandbox(s.name));
    if (r === 'ack') s.state = 'running';
    if (r !== 'cut') s.known = true;
  }

  private async stop(s: SandboxEntry): Promise<void> {
    s.known = false;
    const r = await this.call(`stop ${s.name}`, () => this.api.stopSandbox(s.name, 2));
    if (r === 'ack') s.state = 'exited';
    if (r !== 'cut') s.known = true;
  }

  private async rm(s: SandboxEntry): Promise<void> {
    s.known = false;
    const r = await this.call(`rm -f ${s.name}`, () => this.api.removeSandbox(s.name, true));
    if (r === 'ack') {
      this.ledger.sandboxes.delete(s.name);
      this.ledger.goneSandboxes.add(s.name);
    }
    if (r === 'rejected') s.known = true;
  }

  private async connect(s: SandboxEntry): Promise<void> {
    const candidates = [...[...this.ledger.nets.values()].map((n) => n.name), SHARED_NET].filter((n) => !s.nets.has(n));
    if (!candidates.length || s.nets.has('bridge')) return this.disconnectOrRead(s);
    const net = this.rnd.pick(candidates);
    s.known = false;
    const r = await this.call(`connect ${net} ${s.name}`, () => this.api.connectNetwork(net, s.name));
    if (r === 'ack') s.nets.add(net);
    if (r !== 'cut') s.known = true;
  }

  private async disconnectOrRead(s: SandboxEntry): Promise<void> {
    await this.call('inspect', () => this.api.inspectSandbox(s.name));
  }

  private async disconnect(s: SandboxEntry): Promise<void> {
    const net = this.rnd.pick([...s.nets]);
    s.known = false;
    const r = await this.call(`disconnect ${net} ${s.name}`, () => this.api.disconnectNetwork(net, s.name));
    if (r === 'ack') s.nets.delete(net);
    if (r !== 'cut') s.known = true;
  }
}

/** Kills the daemon with SIGKILL by its pid and waits for the exit. */
export async function killDaemon(d: TestDaemon): Promise<void> {
  const proc = d.proc;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  process.kill(proc.pid!, 'SIGKILL');
  await exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Proves a sample of the state works: a ping between two running sandboxes on the same
 * network, and a TCP connection to each running sandbox's published port (from the host
 * namespace to a bridge gateway address, through the DNAT elements).
 */
function probeTraffic(d: TestDaemon, obs: Observed, rnd: SeededRandom): { passed: number; failures: string[] } {
  const failures: string[] = [];
  let passed = 0;
  const running = obs.sandboxes.filter((s) => s.State.Running);
  const byNet = new Map<string, { name: string; key: string; ip: string }[]>();
  for (const s of running) {
    for (const [net, ep] of Object.entries(s.NetworkSettings.Networks ?? {})) {
      if (!ep.IPAddress) continue;
      if (!byNet.has(net)) byNet.set(net, []);
      byNet.get(net)!.push({ name: nameOf(s), key: s.NetworkSettings.SandboxKey, ip: ep.IPAddress });
    }
  }
  const nets = [...byNet.entries()].filter(([, m]) => m.length >= 2);
  for (let i = 0; i < Math.min(2, nets.length); i++) {
    const [net, members] = rnd.pick(nets);
    const a = rnd.pick(members);
    const b = rnd.pick(members.filter((m) => m !== a));
    // Up to three echo requests: on a loaded 2-core machine one can be late (a broken path answers none).
    const r = spawnSync('nsenter', [`--net=${a.key}`, '--', 'ping', '-c3', '-i0.5', '-W2', b.ip], { encoding: 'utf8' });
    if (r.status === 0) passed++;
    else failures.push(`ping ${a.name} → ${b.name} (${b.ip}) on ${net} failed`);
  }
  const targets = dnatTargets(d);
  for (const s of running) {
    for (const b of s.NetworkSettings.Ports?.['80/tcp'] ?? []) {
      // From the host to the gateway address of the network the port leads to, as a client
      // outside would come in: the reply goes back the way the request came.
      const target = targets.get(Number(b.HostPort));
      const gateway = Object.values(s.NetworkSettings.Networks ?? {}).find((e) => e.IPAddress === target)?.Gateway;
      if (!gateway) {
        failures.push(`published port ${b.HostPort} of ${nameOf(s)} leads to ${target ?? 'nothing'}, not to one of its addresses`);
        continue;
      }
      const r = spawnSync('nsenter', [`--net=${d.host.path}`, '--', 'socat', '-T2', '-', `TCP:${gateway}:${b.HostPort},connect-timeout=2`], { encoding: 'utf8', input: '', timeout: 10_000 });
      if (r.stdout.trim() === 'ok') passed++;
      else {
        const mac = Object.values(s.NetworkSettings.Networks ?? {}).find((e) => e.IPAddress === target)?.MacAddress;
        const neigh = spawnSync('nsenter', [`--net=${d.host.path}`, '--', 'ip', 'neigh', 'show', target!], { encoding: 'utf8' }).stdout.trim();
        failures.push(`TCP to published port ${gateway}:${b.HostPort} of ${nameOf(s)} (${target}, MAC ${mac}; host neighbour entry: ${neigh}) failed: ${r.stderr.trim() || r.status}`);
      }
    }
  }
  return { passed, failures };
}

/** host port → container address, from the dnat4-any map. */
function dnatTargets(d: TestDaemon): Map<number, string> {
  const r = spawnSync('nsenter', [`--net=${d.host.path}`, '--', 'nft', 'list', 'map', 'inet', 'switchyard', 'dnat4-any'], { encoding: 'utf8' });
  const out = new Map<number, string>();
  for (const m of r.stdout.matchAll(/tcp \. (\d+) : ([0-9.]+) \. 80/g)) out.set(Number(m[1]), m[2]!);
  return out;
}

/** Host ports of the clients' pools that no running sandbox holds must be bindable by anyone. */
function probeFreePorts(d: TestDaemon, obs: Observed, pools: number[]): string[] {
  const held = new Set<number>();
  for (const s of obs.sandboxes) for (const b of s.NetworkSettings.Ports?.['80/tcp'] ?? []) held.add(Number(b.HostPort));
  const free = pools.filter((p) => !held.has(p));
  const script = `const net=require('net');let bad=[];let n=${free.length};if(!n)process.exit(0);for(const p of ${JSON.stringify(free)}){const s=net.createServer();s.once('error',()=>{bad.push(p);if(!--n){console.log(bad.join(','));process.exit(0)}});s.listen({port:p,host:'0.0.0.0',exclusive:true},()=>{s.close();if(!--n){console.log(bad.join(','));process.exit(0)}})}`;
  const r = spawnSync('nsenter', [`--net=${d.host.path}`, '--', process.execPath, '-e', script], { encoding: 'utf8' });
  const bad = r.stdout.trim();
  return bad ? bad.split(',').map((p) => `host port ${p} is held though no sandbox publishes it`) : [];
}

/** Counts each distinct problem once, however many checks saw it. */
function classify(problems: string[], counts: ChaosCounts, seen: Set<string>): void {
  for (const p of problems) {
    if (seen.has(p)) continue;
    seen.add(p);
    if (/held twice/.test(p)) counts.duplicated++;
    else if (/leaked|held though|stopped sandbox .* still|lists endpoint/.test(p)) counts.leaked++;
    else counts.lost++;
  }
}

/**
 * Runs the workload with `kills` SIGKILLs of the daemon. The daemon must be running; it
 * is running again at the end (with the chaos's sandboxes removed by the caller's stop()).
 */
export async function runChaos(d: TestDaemon, o: ChaosOptions): Promise<ChaosResult> {
  const counts: ChaosCounts = { kills: 0, acknowledged: 0, rejected: 0, inDoubt: 0, serverErrors: 0, checks: 0, probes: 0, lost: 0, duplicated: 0, leaked: 0 };
  const defects: string[] = [];
  const seenProblems = new Set<string>();
  const rnd = new SeededRandom(o.seed);
  const admin = new SwitchyardClient({ host: `unix://${d.socket}` });
  await admin.createNetwork({ Name: SHARED_NET, Driver: 'bridge', IPAM: { Config: [{ Subnet: SHARED_SUBNET }] } });
  const apis: SwitchyardClient[] = [];
  const clients: Client[] = [];
  for (let i = 0; i < o.clients; i++) {
    const api = new SwitchyardClient({ host: `unix://${d.socket}` });
    apis.push(api);
    clients.push(new Client(i, api, new SeededRandom(rnd.int(0, 2 ** 32 - 1)), counts, defects));
  }
  const pools = clients.flatMap((c) => [0, 1, 2, 3].map((k) => 20000 + c.index * 10 + k));

  let open = true;
  let done = false;
  let idle = 0;
  let reopen: () => void = () => {};
  let gate = Promise.resolve();
  const loops = clients.map(async (c) => {
    while (!done) {
      if (!open) {
        idle++;
        await gate;
        idle--;
        continue;
      }
      await c.step();
    }
  });

  const check = async (label: string): Promise<void> => {
    counts.checks++;
    let obs: Observed;
    let problems: string[];
    try {
      ({ problems, observed: obs } = await settledProblems(d, admin, 5000));
    } catch (err) {
      defects.push(`${label}: the daemon's state could not be read: ${String(err)}`);
      counts.lost++;
      return;
    }
    for (const c of clients) c.ledger.resolve(obs);
    const contradictions = clients.flatMap((c) => c.ledger.contradictions(obs, c.tag));
    const traffic = probeTraffic(d, obs, rnd);
    counts.probes += traffic.passed;
    const ports = probeFreePorts(d, obs, pools);
    const all = [...problems, ...contradictions, ...traffic.failures, ...ports];
    classify(all, counts, seenProblems);
    for (const p of all) defects.push(`${label}: ${p}`);
  };

  try {
    for (let k = 1; k <= o.kills; k++) {
      await sleep(rnd.int(o.runMs[0], o.runMs[1]));
      open = false;
      gate = new Promise<void>((r) => (reopen = r));
      await killDaemon(d);
      counts.kills++;
      while (idle < clients.length) await sleep(5);
      await d.restart();
      await check(`after kill ${k}`);
      if (k % 10 === 0 || k === o.kills) {
        o.log(`kill ${k}/${o.kills}: ${counts.acknowledged} acknowledged, ${counts.inDoubt} in doubt, ${counts.rejected} rejected, ${defects.length} defects`);
      }
      open = true;
      reopen();
    }
  } finally {
    done = true;
    open = true;
    reopen();
    await Promise.all(loops);
  }
  await check('final');
  for (const api of apis) api.close();
  admin.close();
  return { counts, defects };
}

export function bridgeNames(obs: Observed): string[] {
  return obs.networks.filter((n) => n.Driver === 'bridge').map(bridgeOf);
}
