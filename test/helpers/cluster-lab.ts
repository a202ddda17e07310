/**
 * A cluster of simulated hosts (docs/CLUSTER.md, docs/TESTING.md): an underlay namespace
 * with a bridge, N host namespaces each joined to it by a veth (10.X.0.<i+1>/24 and
 * fd00:X::<i+1>/64, forwarding on inside them), etcd in a namespace of its own on the
 * underlay (10.X.0.250), and a Switchyard daemon per host started inside its namespace with
 * private roots and `--cluster-store etcd://10.X.0.250:2379 --cluster-advertise <its
 * address> --node-name hostI`. `close()` stops everything by PID and runs the leak check.
 * Names start `swy-cl…` (namespaces) and `sycl…` (links) so that parallel files do not collide.
 *
 * Options for routed networks (docs/drivers/routed.md): `dataPath6` gives every daemon its
 * IPv6 underlay address as a second `--data-path-addr`; `segments` puts hosts on a second
 * underlay segment (a second bridge, 10.X.1.0/24 and fd00:X:1::/64) joined to the first by
 * a router namespace (10.X.0.254 / 10.X.1.254, forwarding on; every namespace routes the
 * other segment through it), so that hosts on different subnets can reach each other and
 * etcd only through the router.
 */
import { randomBytes } from 'node:crypto';
import type { SpawnSyncReturns } from 'node:child_process';
import { makeNs, removeNs, sh, assertNoLeaks, type TestNs } from './netns.js';
import { startDaemon, type TestDaemon } from './daemon.js';
import { assertEtcdGone, startEtcd, type TestEtcd } from './etcd.js';

export interface ClusterLabOptions {
  hosts: number;
  /** etcd members (default 1), all in the etcd namespace. */
  etcdMembers?: 1 | 3;
  /** Extra daemon flags for every host. */
  daemonArgs?: string[];
  /** Each daemon also gets `--data-path-addr <its IPv6 underlay address>` (after its IPv4 one). */
  dataPath6?: boolean;
  /** The underlay segment (0 or 1) of each host (default all 0); any 1 → a second segment and a router. */
  segments?: (0 | 1)[];
  /** Extra daemon flags per host (after daemonArgs), given the lab's addresses. */
  hostArgs?: (i: number, at: { address: string; address6: string; segment: 0 | 1; router?: LabRouter }) => string[];
  /** Daemons started (and stopped by close()) at once (default 4): a 20-host lab starts in batches, not one by one. */
  startConcurrency?: number;
}

/** The router between the two segments (when `segments` uses segment 1). */
export interface LabRouter {
  ns: TestNs;
  /** Its addresses on segment 0 and 1. */
  address: [string, string];
  address6: [string, string];
}

export interface LabHost {
  name: string;
  address: string;
  address6: string;
  segment: 0 | 1;
  ns: TestNs;
  daemon: TestDaemon;
}

export interface ClusterLab {
  hosts: LabHost[];
  etcd: TestEtcd;
  router?: LabRouter;
  /** etcd://A:P[,…] as the daemons were given it. */
  store: string;
  /** Runs the CLI against host i (from inside its namespace). */
  cli(i: number, args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): SpawnSyncReturns<string>;
  /** kill -9 of host i's daemon (it stays down until `restart(i)`). */
  kill(i: number): Promise<void>;
  /** Starts host i's daemon again (after kill), or restarts it. */
  restart(i: number): Promise<void>;
  stopEtcd(): Promise<void>;
  startEtcd(): Promise<void>;
  /** One more namespace on the underlay (address 10.X.0.<200+n>), removed by close(): e.g. for a daemon started by the test. */
  addNamespace(tag: string): { ns: TestNs; address: string };
  /** Stops the daemons, etcd and the namespaces by PID / name, then checks for leaks. */
  close(): Promise<void>;
}

function ipIn(ns: TestNs, ...args: string[]): void {
  sh('ip', ['-n', ns.name, ...args]);
}

export async function startClusterLab(opts: ClusterLabOptions): Promise<ClusterLab> {
  const x = 100 + (randomBytes(1)[0]! % 100);
  const made: TestNs[] = [];
  const hosts: LabHost[] = [];
  let etcd: TestEtcd | undefined;
  const underlay = makeNs('clu');
  made.push(underlay);
  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    // The daemons `startConcurrency` at a time too (a 20-host lab with 1,000 sandboxes took
    // minutes to stop one by one).
    const queue = [...hosts];
    const stopper = async (): Promise<void> => {
      for (let h = queue.shift(); h; h = queue.shift()) await h.daemon.stop().catch((e) => errors.push(e));
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.startConcurrency ?? 4, queue.length)) }, stopper));
    if (etcd) {
      await etcd.stop();
      try {
        assertEtcdGone(etcd);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const ns of made) removeNs(ns);
    assertNoLeaks(made.map((n) => n.name));
    if (errors.length) throw errors[0];
  };
  try {
    const segments = opts.segments ?? [];
    const twoSegments = segments.includes(1);
    const bridges = twoSegments ? ['syclbr', 'syclbr1'] : ['syclbr'];
    for (const br of bridges) {
      ipIn(underlay, 'link', 'add', br, 'type', 'bridge');
      ipIn(underlay, 'link', 'set', br, 'up');
    }
    const seg4 = (seg: 0 | 1) => `10.${x}.${seg}`;
    const seg6 = (seg: 0 | 1) => (seg ? `fd00:${x}:1:` : `fd00:${x}:`);
    const routerHost = 254;
    /** A veth from segment `seg`'s bridge to `ns` (named `ifname` there), addressed .`host`; other segment via the router. */
    const plug = (ns: TestNs, i: number | string, host: number, seg: 0 | 1 = 0, ifname = 'uplink'): { v4: string; v6: string } => {
      const v4 = `${seg4(seg)}.${host}`;
      const v6 = `${seg6(seg)}:${host}`;
      ipIn(underlay, 'link', 'add', `sycl${i}`, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns.name);
      ipIn(underlay, 'link', 'set', `sycl${i}`, 'master', bridges[seg]!, 'up');
      ipIn(ns, 'addr', 'add', `${v4}/24`, 'dev', ifname);
      ipIn(ns, 'addr', 'add', `${v6}/64`, 'dev', ifname, 'nodad');
      ipIn(ns, 'link', 'set', ifname, 'up');
      if (twoSegments && host !== routerHost) {
        const other = (1 - seg) as 0 | 1;
        ipIn(ns, 'route', 'add', `${seg4(other)}.0/24`, 'via', `${seg4(seg)}.${routerHost}`);
        ipIn(ns, '-6', 'route', 'add', `${seg6(other)}:/64`, 'via', `${seg6(seg)}:${routerHost}`);
      }
      return { v4, v6 };
    };
    let router: LabRouter | undefined;
    if (twoSegments) {
      const ns = makeNs('clr');
      made.push(ns);
      const a = plug(ns, 'r0', routerHost, 0, 'seg0');
      const b = plug(ns, 'r1', routerHost, 1, 'seg1');
      sh('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      router = { ns, address: [a.v4, b.v4], address6: [a.v6, b.v6] };
    }
    const etcdNs = makeNs('cle');
    made.push(etcdNs);
    const etcdAddr = plug(etcdNs, 99, 250).v4;
    etcd = await startEtcd({ size: opts.etcdMembers ?? 1, netns: { path: etcdNs.path, address: etcdAddr } });
    const store = `etcd://${etcd.endpoints.map((u) => u.replace(/^https?:\/\//, '')).join(',')}`;
    // The namespaces one by one (quick), then the daemons `startConcurrency` at a time: each
    // daemon's start is mostly node's own start-up, which overlaps well.
    const planned: { name: string; ns: TestNs; v4: string; v6: string; segment: 0 | 1 }[] = [];
    for (let i = 0; i < opts.hosts; i++) {
      const ns = makeNs(`clh${i}`);
      made.push(ns);
      const segment = segments[i] ?? 0;
      const { v4, v6 } = plug(ns, i, i + 1, segment);
      sh('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      sh('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
      planned.push({ name: `host${i}`, ns, v4, v6, segment });
    }
    const started: (LabHost | undefined)[] = planned.map(() => undefined);
    let next = 0;
    let failed: unknown;
    const worker = async (): Promise<void> => {
      while (failed === undefined && next < planned.length) {
        const i = next++;
        const p = planned[i]!;
        try {
          const daemon = await startDaemon({
            host: p.ns,
            args: [
              '--cluster-store', store, '--cluster-advertise', p.v4, '--node-name', p.name,
              ...(opts.dataPath6 ? ['--data-path-addr', p.v4, '--data-path-addr', p.v6] : []),
              ...(opts.daemonArgs ?? []),
              ...(opts.hostArgs?.(i, { address: p.v4, address6: p.v6, segment: p.segment, ...(router ? { router } : {}) }) ?? []),
            ],
          });
          started[i] = { name: p.name, address: p.v4, address6: p.v6, segment: p.segment, ns: p.ns, daemon };
        } catch (err) {
          failed ??= err;
        }
      }
    };
    const width = Math.max(1, Math.min(opts.startConcurrency ?? 4, planned.length));
    await Promise.all(Array.from({ length: width }, worker));
    // In host order, so close() stops every daemon that did start (also after a failure).
    hosts.push(...started.filter((h): h is LabHost => !!h));
    if (failed !== undefined) throw failed;
    return {
      hosts,
      etcd,
      ...(router ? { router } : {}),
      store,
      cli: (i, args, o) => hosts[i]!.daemon.cli(args, o),
      async kill(i) {
        const proc = hosts[i]!.daemon.proc;
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      },
      restart: (i) => hosts[i]!.daemon.restart(),
      addNamespace(tag) {
        const ns = makeNs(tag);
        made.push(ns);
        const n = made.length;
        return { ns, address: plug(ns, 50 + n, 200 + n).v4 };
      },
      stopEtcd: async () => {
        for (const m of etcd!.members) await m.stop();
      },
      startEtcd: async () => {
        await Promise.all(etcd!.members.map((m) => m.start()));
      },
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
