/**
 * `switchyard daemon`: the one place that builds concrete classes and wires them
 * together. Start-up order: flags → root check → threadpool warm-up (before any
 * setns) → directories → store → kernel handles → reconcile → API socket.
 */
import { recordForwardingEnabled } from './forwarding-marker.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseDaemonFlags, type DaemonFlags } from './flags.js';
import { makeHostPorts } from './host-ports.js';
import { hostSandboxFiles, kernelSandboxProcesses } from './sandbox-ports.js';
import { assertRoot, ensureNetnsDir, warmThreadpool } from '../kernel/netns.js';
import { Rtnl } from '../kernel/netlink/index.js';
import { Nft } from '../kernel/nftables.js';
import { NftElements } from '../kernel/nft-elements.js';
import { closeOnExecAll, ifNameToIndex, openFileLimit } from '../kernel/libc.js';
import { pinProcessNetns } from '../kernel/netns-pin.js';
import { Firewall } from '../services/firewall/firewall.js';
import { NoFirewall } from '../services/firewall/no-firewall.js';
import { DnsService } from '../services/dns/service.js';
import { elementOf, PortsService } from '../services/ports/service.js';
import { openLmdbStore } from '../store/lmdb-store.js';
import type { Store } from '../store/contract.js';
import { ClusterNodes } from '../engine/cluster-nodes.js';
import { startClusterSync } from '../engine/cluster-sync.js';
import { startRoutedBgp } from './routed-bgp.js';
import { startKeyRotation } from '../engine/cluster-keys.js';
import { EngineState } from '../engine/state.js';
import { KeyedMutex } from '../engine/locks.js';
import type { EngineContext } from '../engine/context.js';
import { SwitchyardEngine } from '../engine/engine.js';
import { EngineDnsDirectory } from '../engine/dns-directory.js';
import { ensurePredefinedNetworks } from '../engine/network-ops.js';
import { reconcile } from '../engine/reconcile.js';
import { rebuildDriverFirewalls } from '../engine/firewall-reload.js';
import { startExitPoller, stopExitPoller } from '../engine/sandbox-ops.js';
import { startLogCap } from '../engine/log-cap.js';
import { builtinDrivers } from '../drivers/registry.js';
import { Graveyard } from '../drivers/graveyard.js';
import type { DriverRegistry } from '../drivers/contract.js';
import { createApiServer } from '../api/server.js';
import { SwitchyardError, asSwitchyardError } from '../errors.js';

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

function makeLogger(level: DaemonFlags['logLevel']) {
  const min = LEVELS[level];
  return (lvl: keyof typeof LEVELS, msg: string) => {
    if (LEVELS[lvl] >= min) process.stderr.write(`${new Date().toISOString()} ${lvl} ${msg}\n`);
  };
}

function readHostId(dataRoot: string): string {
  const file = path.join(dataRoot, 'host-id');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const id = randomBytes(16).toString('hex');
    fs.writeFileSync(file, `${id}\n`, { mode: 0o600 });
    return id;
  }
}

/** `--group`: a name from /etc/group, or a number. */
function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  const line = fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === group);
  const gid = line ? Number(line.split(':')[2]) : NaN;
  if (!Number.isInteger(gid)) throw new SwitchyardError('invalid', 'UNKNOWN_GROUP', `--group ${group}: no such group in /etc/group`, { field: '--group' });
  return gid;
}

/** One daemon per data root: a second one would fight over the same kernel objects. */
function takePidFile(execRoot: string): string {
  const file = path.join(execRoot, 'switchyard.pid');
  try {
    const pid = Number(fs.readFileSync(file, 'utf8'));
    if (pid && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new SwitchyardError('conflict', 'DAEMON_RUNNING', `another switchyard daemon (pid ${pid}) uses ${execRoot}`);
      } catch (err) {
        if (err instanceof SwitchyardError) throw err;
      }
    }
  } catch (err) {
    if (err instanceof SwitchyardError) throw err;
  }
  fs.writeFileSync(file, `${process.pid}\n`);
  return file;
}

export async function runDaemon(argv: string[]): Promise<void> {
  let flags: DaemonFlags;
  try {
    flags = parseDaemonFlags(argv);
    assertRoot();
  } catch (err) {
    process.stderr.write(`Error: ${asSwitchyardError(err).message}\n`);
    process.exit(2);
  }
  const log = makeLogger(flags.logLevel);
  try {
    await startDaemon(flags, log);
  } catch (err) {
    log('error', `daemon failed to start: ${asSwitchyardError(err).message}`);
    process.exit(1);
  }
}

export async function startDaemon(flags: DaemonFlags, log: ReturnType<typeof makeLogger>): Promise<() => Promise<void>> {
  await warmThreadpool();
  // Two DNS sockets and a pidfd per sandbox: 1,000 sandboxes need more than 1,024 fds.
  const nofile = openFileLimit();
  if (nofile < 8192) log('warn', `open files limit is ${nofile}: raise the hard limit (ulimit -Hn) to run thousands of sandboxes`);
  secureRoots(flags.dataRoot, flags.execRoot);
  const pidFile = takePidFile(flags.execRoot);
  ensureNetnsDir(path.join(flags.execRoot, 'netns'));

  const store = await openLmdbStore({ path: path.join(flags.dataRoot, 'store') });
  secureStoreFiles(path.join(flags.dataRoot, 'store'));
  // LMDB leaves its data file inheritable on purpose; no daemon fd may reach a sandbox
  // (docs/SECURITY.md "Daemon file descriptors").
  closeOnExecAll();
  const rtnl = Rtnl.open();
  const openRtnl = (nsPath: string) => Rtnl.open(nsPath);
  const firewall = flags.firewall ? new Firewall(() => Nft.open(), { elements: () => NftElements.open() }) : new NoFirewall();
  firewall.ensureBase();

  const info = (m: string) => log('info', m);
  const hostId = readHostId(flags.dataRoot);
  // Cluster mode (docs/CLUSTER.md): the shared store and this host's node, before anything
  // is served, so a node name taken by another host is a clear error at start.
  let shared: Store | undefined;
  let nodes: ClusterNodes | undefined;
  if (flags.cluster) {
    const c = flags.cluster;
    // Loaded only with --cluster-store: etcd3 (gRPC, protobufjs parsing its .proto files) is the
    // daemon's costliest import, 1.5 s here and most of a start under the VM lane's emulation (docs/TESTING.md).
    const { openEtcdStore } = await import('../store/etcd-store.js');
    shared = await openEtcdStore({ endpoints: c.endpoints, ...(c.tls ? { tls: c.tls } : {}), probe: false, onBackgroundError: (e) => log('warn', `cluster store: ${e.message}`) });
    nodes = new ClusterNodes(shared, { id: hostId, name: c.nodeName, address: c.advertiseAddress, dataPathAddress: c.dataPathAddress, ...(c.dataPathAddress6 ? { dataPathAddress6: c.dataPathAddress6 } : {}), dataPathPort: c.dataPathPort }, { log: info });
    try {
      await nodes.join();
      info(`cluster: joined as node ${c.nodeName} (${hostId.slice(0, 12)}) through ${c.store}`);
    } catch (err) {
      const e = asSwitchyardError(err);
      if (e.code !== 'STORE_UNREACHABLE') {
        await nodes.close();
        await shared.close().catch(() => {});
        await store.close().catch(() => {});
        fs.rmSync(pidFile, { force: true });
        throw e;
      }
      log('warn', `cluster: the cluster store is unreachable (${e.message}); local networks work, this node registers when it is back`);
    }
  }
  const state = new EngineState(store, shared ? { store: shared, nodeId: hostId } : undefined);
  const ctx: EngineContext = {
    config: {
      dataRoot: flags.dataRoot,
      execRoot: flags.execRoot,
      ...(flags.bip ? { bip: flags.bip } : {}),
      defaultPools: flags.pools,
      mtu: flags.mtu,
      defaultBindIp: flags.ip,
      firewall: flags.firewall,
      ipForward: flags.ipForward,
      dns: flags.dns,
      hostId,
      hostName: os.hostname(),
      ...(flags.cluster
        ? { cluster: { store: flags.cluster.store, advertise: flags.cluster.advertise, nodeName: flags.cluster.nodeName, dataPathAddress: flags.cluster.dataPathAddress, dataPathPort: flags.cluster.dataPathPort } }
        : {}),
      ...(flags.tls ? { hiddenFiles: [flags.tls.keyFile] } : {}),
    },
    state,
    locks: new KeyedMutex(),
    drivers: undefined as unknown as DriverRegistry,
    host: makeHostPorts({ rtnl, openRtnl, ipForward: flags.ipForward, onForwardingEnabled: (f) => { firewall.guardForwarding(f); recordForwardingEnabled(flags.execRoot, f); }, log: info }),
    dns: undefined as unknown as EngineContext['dns'],
    upstreams: new Map(),
    processes: kernelSandboxProcesses,
    files: hostSandboxFiles,
    filesWritten: new Map(),
    random: (n) => randomBytes(n),
    now: () => new Date(),
    log: info,
  };
  const dns = new DnsService({ directory: new EngineDnsDirectory(ctx), log: (m) => log('debug', `dns: ${m}`) });
  ctx.dns = dns;
  const ports = new PortsService({ firewall, enabled: flags.firewall, log: info });
  ctx.ports = ports;
  const graveyard = new Graveyard(rtnl, Rtnl.open(), info);
  await graveyard.flush(); // leftovers of a crash
  const drivers = builtinDrivers({
    rtnl, openRtnl, firewall, antiSpoof: firewall, graveyard, defaultMtu: flags.mtu, log: info, execRoot: flags.execRoot,
    ...(flags.cluster ? { cluster: { dataPathAddress: flags.cluster.dataPathAddress, dataPathPort: flags.cluster.dataPathPort } } : {}),
  });
  ctx.drivers = drivers;

  const engine = new SwitchyardEngine(ctx);

  /** Port elements a crash left behind (Firewall.removeStalePorts), after reconcile restored the live ones. */
  const removeStalePorts = () => {
    try {
      const stale = firewall.removeStalePorts([...state.sandboxes.values()].filter((sb) => sb.state.status === 'running').flatMap((sb) => sb.ports.map(elementOf)));
      if (stale.ports.length || stale.published.length) info(`removed ${stale.ports.length} stale DNAT and ${stale.published.length} stale published elements`);
    } catch (err) {
      log('warn', `stale port elements: ${String(err)}`);
    }
  };

  const { strayClaims, refused } = await state.load();
  for (const r of refused) log('warn', `store record ${r.key} refused and left untouched (${r.error.code}): ${r.error.message}`);
  if (state.sharedLoadError) log('warn', `cluster: the shared state could not be read (${state.sharedLoadError.message}): global networks appear once the cluster store is reachable`);
  const report = await reconcile(ctx, engine.runtime, {
    links: () => rtnl.listLinks().map((l) => ({ name: l.name, ...(l.alias !== undefined ? { alias: l.alias } : {}), ...(l.group !== undefined ? { group: l.group } : {}) })),
    deleteLink: async (name) => {
      const index = ifNameToIndex(name);
      if (index) graveyard.bury(index);
    },
    pinNetnsFromProcess: (pid, nsPath) => pinProcessNetns(pid, nsPath),
  }, strayClaims);
  await graveyard.flush(); // what reconcile took out of service is gone before we serve
  removeStalePorts();
  await ensurePredefinedNetworks(ctx);
  rebuildDriverFirewalls(ctx);
  info(`reconciled: ${JSON.stringify(report)}`);
  // Cluster mode: follow the shared store from the revision load() read (docs/CLUSTER.md).
  const clusterSync = shared ? await startClusterSync(ctx) : undefined;
  // Routed networks over BGP (--bgp-asn/--bgp-peer): BIRD announces this host's blocks.
  const routedBgp = flags.bgp && flags.cluster ? await startRoutedBgp(ctx, flags.bgp, { routerId: flags.cluster.dataPathAddress, ...(flags.cluster.dataPathAddress6 ? { nextHop6: flags.cluster.dataPathAddress6 } : {}), log: info }) : undefined;
  // Encrypted overlays: the leader of each rotates its keys (engine/cluster-keys.ts).
  const keyRotation = shared && flags.cluster ? startKeyRotation(ctx, { intervalMs: flags.cluster.keyRotationMs }) : undefined;
  startExitPoller(ctx, engine.runtime);
  const stopLogCap = flags.logMaxSize > 0 ? startLogCap(ctx, flags.logMaxSize) : () => undefined;

  // The table is ours to keep: if someone flushes or deletes it, put it back within seconds,
  // through the engine's reload (under its lock, like POST /firewall/reload).
  let restoring = false;
  const watchdog = setInterval(() => {
    if (restoring) return;
    try {
      // The host namespace's tables, then what drivers keep elsewhere (overlay namespaces' tables).
      if (flags.firewall && (!firewall.complete() || ctx.drivers.all().some((d) => d.firewallComplete?.() === false))) {
        log('warn', 'an nftables table of switchyard is missing: restoring it');
        restoring = true;
        engine
          .firewallReload()
          .catch((err) => log('warn', `firewall restore: ${String(err)}`))
          .finally(() => (restoring = false));
      }
    } catch (err) {
      log('warn', `firewall check: ${String(err)}`);
    }
  }, 2000);
  watchdog.unref();

  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const api = createApiServer({
    engine,
    ...(nodes ? { nodes } : {}),
    version: { version: pkg.version },
    log: (e) => {
      if (e.error && e.status >= 500) log('error', `${e.method} ${e.url} → ${e.status}: ${e.error.message}`);
      else log('debug', `${e.method} ${e.url} → ${e.status} (${e.durationMs.toFixed(2)} ms)`);
    },
  });
  // security: socket group and the mutual-TLS TCP listener (docs/SECURITY.md)
  await api.listen(flags.socket, flags.group !== undefined ? { gid: groupId(flags.group) } : {});
  if (flags.tcp && flags.tls) {
    const port = await api.listenTls(flags.tcp, flags.tls);
    info(`switchyard daemon also listening on tcp://${flags.tcp.host}:${port} (TLS, client certificates required)`);
  }
  info(`switchyard daemon ready on unix://${flags.socket} (data root ${flags.dataRoot}, exec root ${flags.execRoot}, firewall ${flags.firewall})`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(watchdog);
    stopExitPoller(engine.runtime);
    stopLogCap();
    await api.close().catch(() => {});
    await dns.close().catch(() => {});
    for (const driver of drivers.all()) await driver.close?.();
    graveyard.close();
    ports.close();
    keyRotation?.close();
    await clusterSync?.close();
    await routedBgp?.stop().catch((err) => log('warn', `bgp: stop: ${String(err)}`));
    await nodes?.close({ leave: true }); // shows down at once; its endpoints stay
    await shared?.close().catch(() => {});
    await store.close().catch(() => {});
    rtnl.close();
    fs.rmSync(pidFile, { force: true });
    info('stopped; sandboxes keep running and keep their networking');
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      void stop().then(() => process.exit(0));
    });
  }
  return stop;
}

/**
 * Root-only files (docs/SECURITY.md "Files"): the data root stays traversable (0711) but
 * the store and the sandbox directories are 0700 and what is in them 0600 (a sandbox's
 * hosts/hostname/resolv.conf stay 0644: they are bind-mounted into the sandbox, where a
 * non-root process reads them). Existing roots of an older version are fixed at start.
 */
function secureRoots(dataRoot: string, execRoot: string): void {
  for (const [dir, mode] of [[dataRoot, 0o711], [path.join(dataRoot, 'store'), 0o700], [path.join(dataRoot, 'sandboxes'), 0o700], [execRoot, 0o711]] as const) {
    fs.mkdirSync(dir, { recursive: true, mode });
    fs.chmodSync(dir, mode);
  }
  const sandboxes = path.join(dataRoot, 'sandboxes');
  for (const entry of fs.readdirSync(sandboxes)) {
    const dir = path.join(sandboxes, entry);
    try {
      fs.chmodSync(dir, 0o700);
      for (const f of ['output.log', 'output.log.1']) if (fs.existsSync(path.join(dir, f))) fs.chmodSync(path.join(dir, f), 0o600);
    } catch {
      // removed meanwhile
    }
  }
}

function secureStoreFiles(storeDir: string): void {
  for (const f of fs.readdirSync(storeDir)) fs.chmodSync(path.join(storeDir, f), 0o600);
}
