/**
 * Sandboxes: create, start, stop, remove, rename, wait. A sandbox keeps its
 * endpoints (and so its addresses) while it exists, stopped or running, so a restart
 * gets the same addresses and no other sandbox can take them in between (Docker
 * releases them on stop: moby#26284, moby#49781). Its kernel side (namespace,
 * interfaces, DNS sockets, ports) exists only while it runs.
 */
import * as path from 'node:path';
import type { EngineContext, ProcessWatcher } from './context.js';
import { driverOf, timestamp, ZERO_TIME } from './context.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/records.js';
import type { EndpointSettings, SandboxDetails, SandboxSpec, TeardownReport } from './contract.js';
import type { AddressClaim } from './state.js';
import { endpointAddresses } from './state.js';
import { findNetwork, netLock } from './network-ops.js';
import { joinEndpoint, planEndpoint, sbLock, unsealPorts } from './endpoint-ops.js';
import { mayHoldNetAdmin } from '../model/namespace-seal.js';
import { ensureGatewayBridge, isGatewayBridge, needsGatewayBridge } from './gateway-bridge.js';
import { leavePartIfIdle } from './cluster-peers.js';
import { findSandbox } from './sandbox-lookup.js';
import { forgetSandboxFiles, writeSandboxFiles, usesEmbeddedDns } from './sandbox-files.js';
import { UndoLog } from './undo.js';
import { deleteSandboxNetns } from './sandbox-netns.js';
import { publishRequest } from './publish.js';
import { newId, shortId, validateHostname, validateSandboxName } from '../model/names.js';
import { parseMac } from '../model/ip.js';
import { asSwitchyardError, conflict, invalid, SwitchyardError } from '../errors.js';
import { randomName } from '../model/random-name.js';
import { RECORD_VERSION } from '../model/records.js';
import { parseLink } from '../model/etc-files.js';
import { effectiveCapabilities, normalizeCapabilities } from '../model/capabilities.js';

const SANDBOXES_LOCK = 'sandboxes';

/** Waiters and child handles: runtime facts that are not records. */
export class SandboxRuntime {
  readonly waiters = new Map<string, ((code: number) => void)[]>();
  /** Sandboxes whose process is the daemon's child (their exit is an event, not a poll). */
  readonly children = new Set<string>();
  poller: NodeJS.Timeout | undefined;
  /** The pidfds of the poller (startExitPoller). */
  watch: ProcessWatcher | undefined;
}

export function sandboxDetails(ctx: EngineContext, sb: SandboxRecord): SandboxDetails {
  return {
    sandbox: sb,
    endpoints: ctx.state.endpointsOfSandbox(sb.id).map((endpoint) => ({ endpoint, network: ctx.state.networks.get(endpoint.networkId)! })),
  };
}

interface NetworkChoice {
  mode: string;
  primary?: NetworkRecord;
  target?: SandboxRecord;
}

function chooseNetworkMode(ctx: EngineContext, spec: SandboxSpec): NetworkChoice {
  const mode = spec.networkMode || 'bridge';
  if (mode === 'host' || mode === 'none') return { mode };
  if (mode.startsWith('container:')) {
    const target = findSandbox(ctx, mode.slice('container:'.length));
    if (target.networkMode.startsWith('container:')) {
      return { mode: target.networkMode, target: ctx.state.sandboxes.get(target.networkMode.slice(10)) };
    }
    return { mode: `container:${target.id}`, target };
  }
  const primary = findNetwork(ctx, mode);
  const attach = driverOf(ctx, primary).capabilities.attach;
  if (attach === 'host-netns') return { mode: 'host' };
  if (attach === 'loopback-only') return { mode: 'none' };
  return { mode: primary.name, primary };
}

function checkSharedModeOptions(spec: SandboxSpec, mode: string): void {
  const shared = mode.startsWith('container:');
  if (!shared && mode !== 'host') return;
  const conflicts: [unknown, string][] = shared
    ? [[spec.hostname, 'hostname'], [spec.dns.servers.length, 'dns'], [spec.publish.length, 'publish'], [spec.publishAll, 'publish-all'], [spec.mac, 'mac-address'], [spec.links.length, 'link'], [spec.expose.length, 'expose']]
    : [[spec.links.length, 'link'], [spec.mac, 'mac-address']];
  for (const [v, name] of conflicts) {
    if (v) throw invalid('CONFLICTING_OPTIONS', `conflicting options: ${name} and the network mode ${mode}`, name);
  }
}

/** Creates a sandbox from a parsed spec (the Docker front end's parser: api/docker/sandbox-request.ts). */
export async function createSandbox(ctx: EngineContext, spec: SandboxSpec): Promise<{ id: string; warnings: string[] }> {
  const cmd = spec.command;
  if (!cmd.length) throw invalid('NO_COMMAND', 'no command given: a sandbox runs a host command', 'Cmd');
  const env = spec.env;
  const name = spec.name ? validateSandboxName(spec.name.replace(/^\//, ''), 'Name') : undefined;
  const hostname = spec.hostname ? validateHostname(spec.hostname, 'Hostname') : undefined;
  const choice = chooseNetworkMode(ctx, spec);
  checkSharedModeOptions(spec, choice.mode);
  const warnings: string[] = [];
  let publish = spec.publish;
  if (choice.mode === 'host' && (publish.length || spec.publishAll)) {
    warnings.push('Published ports are discarded when using host network mode');
    publish = [];
  }
  const expose = spec.expose;
  const mac = spec.mac ? parseMac(spec.mac, 'MacAddress') : undefined;
  const links = spec.links.map((l, i) => resolveLink(ctx, l, `Links[${i}]`));
  const privileges = sandboxPrivileges(spec);
  const extra = Object.entries(spec.endpoints);
  if (extra.length && (choice.mode === 'host' || choice.mode === 'none' || choice.target)) {
    throw invalid('CONFLICTING_OPTIONS', `a sandbox in ${choice.mode} mode cannot be connected to other networks`, 'EndpointsConfig');
  }
  const nets: { net: NetworkRecord; settings: EndpointSettings }[] = [];
  if (choice.primary) nets.push({ net: choice.primary, settings: spec.endpoints[choice.primary.name] ?? spec.endpoints[choice.primary.id] ?? {} });
  for (const [ref, settings] of extra) {
    const net = findNetwork(ctx, ref);
    if (net.id === choice.primary?.id) continue;
    if (driverOf(ctx, net).capabilities.attach !== 'endpoint') throw invalid('CONFLICTING_OPTIONS', `cannot combine network ${net.name} with others`, 'EndpointsConfig');
    nets.push({ net, settings: settings ?? {} });
  }
  // A non-internal overlay without a local network that routes: the gateway bridge too (gateway-bridge.ts).
  if (needsGatewayBridge(nets.map((n) => n.net)) && !nets.some((n) => isGatewayBridge(n.net))) {
    nets.push({ net: await ensureGatewayBridge(ctx), settings: {} });
  }
  const netLocks = nets.map((n) => `net:${n.net.id}`);
  return ctx.locks.withLocks([SANDBOXES_LOCK, ...netLocks], async () => {
    // The networks were resolved before the locks: one may have been removed meanwhile
    // (audit M3). Nothing is committed then, so no endpoint ever points at a missing network.
    for (const { net } of nets) {
      if (!ctx.state.networks.has(net.id)) throw conflict('NETWORK_GONE', `network ${net.name} was removed while the container was being created`);
    }
    const finalName = name ?? uniqueRandomName(ctx);
    const clash = ctx.state.sandboxByName(finalName);
    if (clash) {
      throw conflict('NAME_IN_USE', `Conflict. The container name "/${finalName}" is already in use by container "${clash.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    const id = newId(ctx.random(32));
    const sb: SandboxRecord = {
      v: RECORD_VERSION,
      id,
      owner: 'switchyard',
      name: finalName,
      hostname: hostname ?? (choice.mode === 'host' ? ctx.config.hostName : shortId(id)),
      created: timestamp(ctx.now()),
      command: cmd,
      env,
      networkMode: choice.mode,
      state: { status: 'created', pid: 0, exitCode: 0, startedAt: ZERO_TIME, finishedAt: ZERO_TIME, error: '' },
      dns: { servers: [...spec.dns.servers], search: [...spec.dns.search], options: [...spec.dns.options] },
      links,
      publish,
      publishAll: spec.publishAll && choice.mode !== 'host',
      expose,
      ports: [],
      autoRemove: spec.autoRemove,
      ...(mac ? { macAddress: mac } : {}),
      dir: path.join(ctx.config.dataRoot, 'sandboxes', id),
      ...privileges,
    };
    // A global network's dynamic address may lose its claim to another host whose endpoint
    // the watch has not brought yet: re-read that network's claims and plan again.
    for (let attempt = 1; ; attempt++) {
      const endpoints: EndpointRecord[] = [];
      const claims: AddressClaim[] = [];
      const planned = new Map<string, Set<bigint>>();
      for (const [i, { net, settings }] of nets.entries()) {
        const s = i === 0 && mac && !settings.mac ? { ...settings, mac } : settings;
        const p = planEndpoint(ctx, net, sb, s, endpoints, planned);
        endpoints.push(p.endpoint);
        claims.push(...p.claims);
      }
      try {
        await ctx.state.commit({ sandboxes: [sb], endpoints, claims });
        return { id, warnings };
      } catch (err) {
        const retriable = nets.filter(({ net, settings }) => net.scope === 'global' && !settings.ipv4 && !settings.ipv6);
        if (!retriable.length || attempt >= 5 || (err as { code?: string }).code !== 'ADDRESS_IN_USE') throw err;
        for (const { net } of retriable) await ctx.state.refreshSharedClaims(net.id);
      }
    }
  });
}

/** The privilege fields, validated (the Docker front end passes HostConfig's; absent = Docker's defaults). */
function sandboxPrivileges(spec: SandboxSpec): Pick<SandboxRecord, 'capAdd' | 'capDrop' | 'privileged' | 'pidMode'> {
  const capAdd = normalizeCapabilities(spec.capAdd ?? [], 'HostConfig.CapAdd');
  const capDrop = normalizeCapabilities(spec.capDrop ?? [], 'HostConfig.CapDrop');
  const pidMode = spec.pidMode ?? '';
  if (pidMode !== '' && pidMode !== 'host') throw invalid('INVALID_PID_MODE', `HostConfig.PidMode: "${String(pidMode)}" is not supported: use "host" or leave it empty`, 'HostConfig.PidMode');
  return {
    ...(capAdd.length ? { capAdd } : {}),
    ...(capDrop.length ? { capDrop } : {}),
    ...(spec.privileged ? { privileged: true } : {}),
    ...(pidMode === 'host' ? { pidMode: 'host' as const } : {}),
  };
}

function resolveLink(ctx: EngineContext, text: string, field: string): { name: string; alias: string } {
  const { name, alias } = parseLink(text, field);
  const target = findSandbox(ctx, name);
  return { name: target.name, alias: alias === name ? target.name : alias };
}

function uniqueRandomName(ctx: EngineContext): string {
  for (let i = 0; i < 20; i++) {
    const n = randomName(ctx.random(4));
    if (!ctx.state.sandboxByName(n)) return n;
  }
  return `sandbox_${Buffer.from(ctx.random(6)).toString('hex')}`;
}

const netnsPathOf = (ctx: EngineContext, id: string): string => path.join(ctx.config.execRoot, 'netns', shortId(id));

/**
 * Starts a sandbox under its lock and the `net:` locks of its networks (shared: starts on one
 * network stay concurrent), so that no network of it can be removed while the start is in
 * flight (removeNetwork takes the lock exclusively, then sees the running endpoint: audit M3). Its networks can change only under its own
 * lock (connect, disconnect), so the set read before the locks is checked under them, and
 * the locks are taken again in the rare case it changed.
 */
export async function startSandbox(ctx: EngineContext, runtime: SandboxRuntime, ref: string): Promise<void> {
  const sb0 = findSandbox(ctx, ref);
  const networksOf = () => [...new Set(ctx.state.endpointsOfSandbox(sb0.id).map((e) => e.networkId))].sort().join(',');
  for (;;) {
    const nets = networksOf();
    const netLocks = nets ? nets.split(',').map(netLock) : [];
    // Sharing another sandbox's namespace with CAP_NET_ADMIN: that sandbox's sealed ports are
    // joined again (unsealPorts), under its lock too.
    const sharing = sb0.networkMode.startsWith('container:') && mayHoldNetAdmin(sb0) ? [sbLock(sb0.networkMode.slice('container:'.length))] : [];
    const done = await ctx.locks.withLocks([sbLock(sb0.id), ...sharing], async () => {
      const sb = ctx.state.sandboxes.get(sb0.id);
      if (!sb) throw conflict('SANDBOX_GONE', `sandbox ${ref} was removed concurrently`);
      if (networksOf() !== nets) return false;
      if (sb.state.status === 'running') return true;
      await bringUp(ctx, runtime, sb);
      return true;
    }, { shared: netLocks });
    if (done) return;
  }
}

/** Creates the kernel side and the process of a sandbox, undoing all of it on failure. */
async function bringUp(ctx: EngineContext, runtime: SandboxRuntime, sb0: SandboxRecord): Promise<void> {
  const sb: SandboxRecord = { ...sb0, ports: [] };
  const endpoints = ctx.state.endpointsOfSandbox(sb.id);
  await new UndoLog((what, err) => ctx.log(`undo ${what}: ${String(err)}`)).run(async (undo) => {
    ctx.files.ensureDir(sb.dir); // 0700: root only (docs/SECURITY.md)
    forgetSandboxFiles(ctx, sb);
    let ownNetns = false;
    if (sb.networkMode.startsWith('container:')) {
      const target = ctx.state.sandboxes.get(sb.networkMode.slice('container:'.length));
      if (!target || target.state.status !== 'running' || !target.nsPath) {
        throw conflict('TARGET_NOT_RUNNING', `cannot join the network namespace of ${target?.name ?? sb.networkMode}: it is not running`);
      }
      sb.nsPath = target.nsPath;
      // security: before this sandbox's process exists (startSandbox holds the target's lock).
      if (mayHoldNetAdmin(sb)) unsealPorts(ctx, target);
    } else if (sb.networkMode === 'host') {
      delete sb.nsPath;
    } else {
      ownNetns = true;
      sb.nsPath = netnsPathOf(ctx, sb.id);
      ctx.host.ensureSandboxNetns(sb.nsPath);
      const nsPath = sb.nsPath;
      undo.push('sandbox netns', () => deleteSandboxNetns(ctx, nsPath));
      // A global network this start made this host take part in (its kernel state, routes to
      // other hosts' blocks) is left again when the start fails.
      undo.push('cluster', async () => {
        for (const id of new Set(endpoints.map((e) => e.networkId))) await leavePartIfIdle(ctx, id);
      });
      for (const ep of endpoints) joinEndpoint(ctx, sb, ep, endpoints);
    }
    writeSandboxFiles(ctx, sb);
    if (sb.nsPath && usesEmbeddedDns(ctx, sb)) {
      ctx.dns.attach(sb.id, sb.nsPath);
      undo.push('dns', () => ctx.dns.detach(sb.id));
    } else if (sb.nsPath && ownNetns && sb.networkMode !== 'none') {
      // Its first user-defined network may come later (connect): the resolver's sockets are
      // made now, answering REFUSED until then, so that connect does not pay for them.
      ctx.dns.park(sb.id, sb.nsPath);
      undo.push('dns', () => ctx.dns.detach(sb.id));
    }
    sb.state = { ...sb.state, status: 'running', pid: 0, exitCode: 0, error: '', startedAt: timestamp(ctx.now()) };
    await ctx.state.commit({ sandboxes: [sb] });
    undo.push('running state', () => ctx.state.commit({ sandboxes: [{ ...sb, state: { ...sb.state, status: 'exited', pid: 0, exitCode: 128 } }] }));
    const pub = ctx.ports && publishRequest(ctx, sb);
    if (ctx.ports && pub) {
      const ports = ctx.ports.publish(pub);
      undo.push('ports', () => ctx.ports!.unpublish(sb.id, ports));
      const cur = ctx.state.sandboxes.get(sb.id)!;
      await ctx.state.commit({ sandboxes: [{ ...cur, ports }] });
    }
    const proc = await ctx.processes.start({
      dir: sb.dir,
      nsPath: sb.nsPath,
      hostname: sb.hostname,
      command: sb.command,
      env: sb.env,
      logPath: path.join(sb.dir, 'output.log'),
      hiddenPaths: [ctx.config.dataRoot, ctx.config.execRoot], // docs/SECURITY.md
      hiddenFiles: ctx.config.hiddenFiles ?? [],
      capabilities: effectiveCapabilities(sb),
      privileged: !!sb.privileged,
      pidHost: sb.pidMode === 'host',
    });
    undo.push('process', () => ctx.processes.kill(proc.pid, proc.pidStart));
    const current = ctx.state.sandboxes.get(sb.id)!;
    const running: SandboxRecord = { ...current, state: { ...current.state, pid: proc.pid, pidStart: proc.pidStart } };
    await ctx.state.commit({ sandboxes: [running] });
    runtime.children.add(sb.id);
    void proc.exited.then((code) => {
      runtime.children.delete(sb.id);
      return onProcessExit(ctx, runtime, sb.id, proc.pid, code);
    });
  });
}

/** The process of a sandbox ended (event from the child, or found dead by the poller). */
export async function onProcessExit(ctx: EngineContext, runtime: SandboxRuntime, id: string, pid: number, code: number): Promise<void> {
  let autoRemove = false;
  await ctx.locks.withLocks([sbLock(id)], async () => {
    const sb = ctx.state.sandboxes.get(id);
    if (!sb || sb.state.status !== 'running' || sb.state.pid !== pid) return;
    logReport(ctx, await tearDown(ctx, runtime, sb, ctx.processes.readExitCode(sb.dir) ?? code));
    autoRemove = sb.autoRemove;
  });
  if (autoRemove) await removeSandbox(ctx, runtime, id, true).catch((err) => ctx.log(`auto-remove ${id.slice(0, 12)}: ${String(err)}`));
}

/**
 * Removes the kernel side of a stopped sandbox and records its exit. Every step is tried;
 * what failed comes back as coded errors (the sandbox is recorded as exited regardless, as
 * its process is gone). The callers log the report.
 */
export async function tearDown(ctx: EngineContext, runtime: SandboxRuntime, sb: SandboxRecord, exitCode: number): Promise<TeardownReport> {
  const report: TeardownReport = { errors: [] };
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      const e = asSwitchyardError(err);
      report.errors.push(new SwitchyardError(e.kind, e.code, `tear down ${sb.name}: ${what}: ${e.message}`, { cause: err }));
    }
  };
  await step('dns', () => ctx.dns.detach(sb.id));
  const bound = ctx.state.sandboxes.get(sb.id)?.ports ?? [];
  if (ctx.ports && bound.length) await step('ports', () => ctx.ports!.unpublish(sb.id, bound));
  if (sb.nsPath && !sb.networkMode.startsWith('container:') && sb.networkMode !== 'host') {
    // A global network's port goes now, not whenever the kernel gets round to the dead
    // namespace (its devices outlive the unmount for a while): an overlay port's MAC follows
    // its address on the network's VXLAN device, and the address, released below, may be
    // taken again on this host at once (before, its port then failed to come up: EADDRINUSE).
    for (const ep of ctx.state.endpointsOfSandbox(sb.id)) {
      const net = ctx.state.networks.get(ep.networkId);
      if (net?.scope === 'global') await step(`leave ${net.name}`, () => driverOf(ctx, net).leave(net, ep, { id: sb.id, nsPath: sb.nsPath! }));
    }
    await step('netns', () => deleteSandboxNetns(ctx, sb.nsPath!));
  }
  const done: SandboxRecord = {
    ...ctx.state.sandboxes.get(sb.id)!,
    ports: [],
    state: { ...sb.state, status: 'exited', pid: 0, exitCode, finishedAt: timestamp(ctx.now()) },
  };
  await ctx.state.commit({ sandboxes: [done] });
  for (const ep of ctx.state.endpointsOfSandbox(sb.id)) await step('cluster', () => leavePartIfIdle(ctx, ep.networkId));
  for (const resolve of runtime.waiters.get(sb.id) ?? []) resolve(exitCode);
  runtime.waiters.delete(sb.id);
  return report;
}

function logReport(ctx: EngineContext, report: TeardownReport): void {
  for (const e of report.errors) ctx.log(`${e.message} (${e.code})`);
}

export async function stopSandbox(ctx: EngineContext, runtime: SandboxRuntime, ref: string, timeoutSeconds = 10): Promise<void> {
  const sb0 = findSandbox(ctx, ref);
  let autoRemove = false;
  await ctx.locks.withLocks([sbLock(sb0.id)], async () => {
    const sb = ctx.state.sandboxes.get(sb0.id);
    if (!sb || sb.state.status !== 'running') return;
    await ctx.processes.stop(sb.state.pid, sb.state.pidStart, Math.max(0, timeoutSeconds) * 1000);
    logReport(ctx, await tearDown(ctx, runtime, sb, ctx.processes.readExitCode(sb.dir) ?? 137));
    autoRemove = sb.autoRemove;
  });
  if (autoRemove) await removeSandbox(ctx, runtime, sb0.id, true);
}

export async function removeSandbox(ctx: EngineContext, runtime: SandboxRuntime, ref: string, force: boolean): Promise<void> {
  const sb0 = findSandbox(ctx, ref);
  await ctx.locks.withLocks([sbLock(sb0.id)], async () => {
    const sb = ctx.state.sandboxes.get(sb0.id);
    if (!sb) return;
    if (sb.state.status === 'running') {
      if (!force) {
        throw conflict('SANDBOX_RUNNING', `cannot remove container "${sb.name}": container is running: stop the container before removing or force remove`);
      }
      ctx.processes.kill(sb.state.pid, sb.state.pidStart);
      logReport(ctx, await tearDown(ctx, runtime, sb, 137));
    }
    const endpoints = ctx.state.endpointsOfSandbox(sb.id);
    await ctx.state.commit({
      removeSandboxes: [sb.id],
      removeEndpoints: endpoints.map((e) => e.id),
      releases: endpoints.flatMap((e) => endpointAddresses(e).map((ip) => ({ networkId: e.networkId, ip }))),
    });
    ctx.files.removeDir(sb.dir);
    forgetSandboxFiles(ctx, sb);
    ctx.upstreams.delete(sb.id);
  });
}

export async function renameSandbox(ctx: EngineContext, ref: string, newName: string): Promise<void> {
  const name = validateSandboxName(newName.replace(/^\//, ''), 'name');
  const sb0 = findSandbox(ctx, ref);
  await ctx.locks.withLocks([SANDBOXES_LOCK, sbLock(sb0.id)], async () => {
    const sb = ctx.state.sandboxes.get(sb0.id)!;
    const clash = ctx.state.sandboxByName(name);
    if (clash && clash.id !== sb.id) throw conflict('NAME_IN_USE', `Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${clash.id}"`);
    const endpoints = ctx.state.endpointsOfSandbox(sb.id).map((e) => ({ ...e, dnsNames: e.dnsNames.map((n) => (n === sb.name ? name : n)) }));
    await ctx.state.commit({ sandboxes: [{ ...sb, name }], endpoints });
  });
}

/**
 * Resolves with the exit code once the sandbox stops. With `signal` (the API passes its
 * request's: the client left), the waiter is removed on abort and the promise rejects,
 * so a client that leaves a /wait or a followed /logs leaves nothing behind (audit L1).
 */
export async function waitSandbox(ctx: EngineContext, runtime: SandboxRuntime, ref: string, signal?: AbortSignal): Promise<{ exitCode: number }> {
  const sb = findSandbox(ctx, ref);
  if (sb.state.status !== 'running') return { exitCode: sb.state.exitCode };
  return new Promise((resolve, reject) => {
    const waiter = (exitCode: number): void => {
      signal?.removeEventListener('abort', leave);
      resolve({ exitCode });
    };
    const leave = (): void => {
      const list = (runtime.waiters.get(sb.id) ?? []).filter((w) => w !== waiter);
      if (list.length) runtime.waiters.set(sb.id, list);
      else runtime.waiters.delete(sb.id);
      reject(signal?.reason ?? new Error('the waiting client left'));
    };
    if (signal?.aborted) return leave();
    signal?.addEventListener('abort', leave, { once: true });
    const list = runtime.waiters.get(sb.id) ?? [];
    list.push(waiter);
    runtime.waiters.set(sb.id, list);
  });
}

/**
 * Sandboxes whose process is not the daemon's child (it was started before the daemon
 * restarted) are watched through pidfds (kernel/sandbox-process.ts ProcessWatch): every
 * `everyMs`, one poll() over all of them; an exit found here is handled like any other.
 */
export function startExitPoller(ctx: EngineContext, runtime: SandboxRuntime, everyMs = 250): void {
  const watch = ctx.processes.watcher();
  runtime.watch = watch;
  const exited = (sb: SandboxRecord): void => {
    void onProcessExit(ctx, runtime, sb.id, sb.state.pid!, ctx.processes.readExitCode(sb.dir) ?? 137);
  };
  runtime.poller = setInterval(() => {
    const wanted = new Set<string>();
    for (const sb of ctx.state.sandboxes.values()) {
      if (sb.state.status !== 'running' || runtime.children.has(sb.id) || !sb.state.pid) continue;
      wanted.add(sb.id);
      if (!watch.has(sb.id, sb.state.pid) && !watch.watch(sb.id, sb.state.pid, sb.state.pidStart)) exited(sb);
    }
    for (const id of watch.keys()) if (!wanted.has(id)) watch.unwatch(id);
    for (const id of watch.exited()) {
      const sb = ctx.state.sandboxes.get(id);
      if (sb && sb.state.status === 'running' && !runtime.children.has(id) && sb.state.pid) exited(sb);
    }
  }, everyMs);
  runtime.poller.unref();
}

/** Stops the poller and closes its pidfds. */
export function stopExitPoller(runtime: SandboxRuntime): void {
  if (runtime.poller) clearInterval(runtime.poller);
  runtime.poller = undefined;
  runtime.watch?.close();
}
