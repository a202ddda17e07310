/**
 * A cluster of simulated hosts (docs/CLUSTER.md, docs/TESTING.md): an underlay namespace
 * with a bridge, N host namespaces each joined to it by a veth (10.X.0.<i+1>/24 and
 * fd00:X::<i+1>/64, forwarding on inside them), etcd in a namespace of its own on the
 * underlay (10.X.0.250), and a Switchyard daemon per host started inside its namespace with
 * private roots and `--cluster-store etcd://10.X.0.250:2379 --cluster-advertise <its
 * address> --node-name hostI`. `close()` stops everything by PID and runs the leak check.
 * Names start `swy-cl…` (namespaces) and `sycl…` (links) so that parallel files do not collide.
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
  /**
   * How many daemons start at once (default 1: one after the other). The namespaces are made
   * first, one after the other; the daemons then start in batches of this size (a large lab,
   * e.g. 20 hosts for a benchmark, spends most of its set-up in node's start-up).
   */
  startConcurrency?: number;
}

export interface LabHost {
  name: string;
  address: string;
  address6: string;
  ns: TestNs;
  daemon: TestDaemon;
}

export interface ClusterLab {
  hosts: LabHost[];
  etcd: TestEtcd;
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
    for (const h of hosts) await h.daemon.stop().catch((e) => errors.push(e));
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
    ipIn(underlay, 'link', 'add', 'syclbr', 'type', 'bridge');
    ipIn(underlay, 'link', 'set', 'syclbr', 'up');
    /** A veth from the underlay bridge to `ns` (named `uplink` there), addressed .`host`. */
    const plug = (ns: TestNs, i: number, host: number): { v4: string; v6: string } => {
      const v4 = `10.${x}.0.${host}`;
      const v6 = `fd00:${x}::${host}`;
      ipIn(underlay, 'link', 'add', `sycl${i}`, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', ns.name);
      ipIn(underlay, 'link', 'set', `sycl${i}`, 'master', 'syclbr', 'up');
      ipIn(ns, 'addr', 'add', `${v4}/24`, 'dev', 'uplink');
      ipIn(ns, 'addr', 'add', `${v6}/64`, 'dev', 'uplink', 'nodad');
      ipIn(ns, 'link', 'set', 'uplink', 'up');
      return { v4, v6 };
    };
    const etcdNs = makeNs('cle');
    made.push(etcdNs);
    const etcdAddr = plug(etcdNs, 99, 250).v4;
    etcd = await startEtcd({ size: opts.etcdMembers ?? 1, netns: { path: etcdNs.path, address: etcdAddr } });
    const store = `etcd://${etcd.endpoints.map((u) => u.replace(/^https?:\/\//, '')).join(',')}`;
    const planned: Omit<LabHost, 'daemon'>[] = [];
    for (let i = 0; i < opts.hosts; i++) {
      const ns = makeNs(`clh${i}`);
      made.push(ns);
      const { v4, v6 } = plug(ns, i, i + 1);
      sh('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      sh('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
      planned.push({ name: `host${i}`, address: v4, address6: v6, ns });
    }
    const batch = Math.max(1, opts.startConcurrency ?? 1);
    for (let i = 0; i < planned.length; i += batch) {
      const started = await Promise.allSettled(
        planned.slice(i, i + batch).map((h) =>
          startDaemon({
            host: h.ns,
            args: ['--cluster-store', store, '--cluster-advertise', h.address, '--node-name', h.name, ...(opts.daemonArgs ?? [])],
          }),
        ),
      );
      // Every daemon that came up is in `hosts` before a failure is thrown, so close() stops it.
      for (const [k, r] of started.entries()) if (r.status === 'fulfilled') hosts.push({ ...planned[i + k]!, daemon: r.value });
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return {
      hosts,
      etcd,
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
