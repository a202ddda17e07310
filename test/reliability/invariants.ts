/**
 * The invariants every state of a daemon must satisfy, checked from the outside: what
 * the API reports (networks, every sandbox's inspect) against what the kernel holds
 * (links of the host namespace, namespace pins, mounts, interfaces and DNS listeners
 * inside each sandbox, nftables port elements). Used after every restart of the chaos
 * runner and at the end of the concurrency test.
 *
 * Kernel object ↔ record, both ways:
 *   - every running sandbox has its namespace pin, a live process, one interface per
 *     network with the MAC and address inspect reports, and (on a user-defined network)
 *     the embedded DNS listening on 127.0.0.11:53;
 *   - every `sy*` link of the host namespace is a network's bridge or the host end of
 *     a running sandbox's endpoint (enslaved to the right bridge);
 *   - every namespace pin and every mount under the daemon's roots belongs to a running
 *     sandbox; a stopped sandbox has neither, nor published ports;
 *   - every nftables DNAT/published element is a port a running sandbox publishes, and
 *     every published port has its elements;
 *   - no address is held twice on a network, and `network inspect` and `inspect` agree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { SwitchyardClient } from '../../src/api/client.js';
import type { DockerNetwork, SandboxInspect } from '../../src/api/docker-views.js';
import type { TestDaemon } from '../helpers/daemon.js';

export interface Observed {
  networks: DockerNetwork[];
  sandboxes: SandboxInspect[];
}

/** Reads the whole API view: every network (with containers) and every sandbox's inspect. */
export async function observe(client: SwitchyardClient): Promise<Observed> {
  try {
    return await observeOnce(client);
  } catch {
    // A kept-alive connection the server closed at the same moment (EPIPE): once more.
    return observeOnce(client);
  }
}

async function observeOnce(client: SwitchyardClient): Promise<Observed> {
  const networks: DockerNetwork[] = [];
  for (const n of await client.listNetworks()) {
    try {
      networks.push(await client.inspectNetwork(n.Id));
    } catch (err) {
      throw new Error(`network ${n.Name} listed but not inspectable: ${String(err)}`);
    }
  }
  const sandboxes: SandboxInspect[] = [];
  for (const s of await client.listSandboxes(true)) sandboxes.push(await client.inspectSandbox(s.Id));
  return { networks, sandboxes };
}

export const bridgeOf = (n: DockerNetwork): string => n.Options['com.docker.network.bridge.name'] ?? `sy-${n.Id.slice(0, 12)}`;
export const nameOf = (s: SandboxInspect): string => s.Name.replace(/^\//, '');
const hostIfnameOf = (endpointId: string): string => `syv${endpointId.slice(0, 10)}`;

interface IpLink {
  ifname: string;
  ifindex: number;
  master?: string;
  address?: string;
  operstate?: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

function run(cmd: string, args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function ipJson(nsPath: string, what: 'link' | 'addr'): IpLink[] | undefined {
  const r = run('nsenter', [`--net=${nsPath}`, '--', 'ip', '-j', what, 'show']);
  if (!r.ok) return undefined;
  return JSON.parse(r.out) as IpLink[];
}

/** `proto . port` → `ip . port` of one nftables map, or undefined when the map is absent. */
function nftElements(hostNs: string, kind: 'map' | 'set', name: string): string[] | undefined {
  const r = run('nsenter', [`--net=${hostNs}`, '--', 'nft', '-j', 'list', kind, 'inet', 'switchyard', name]);
  if (!r.ok) return undefined;
  const parsed = JSON.parse(r.out) as { nftables: Record<string, { elem?: unknown[] }>[] };
  const out: string[] = [];
  for (const entry of parsed.nftables) {
    const obj = entry[kind];
    for (const e of obj?.elem ?? []) out.push(elementText(e));
  }
  return out.sort();
}

/** nft JSON elements as flat text: `["tcp", 8080] → ["10.0.0.2", 80]` becomes `tcp . 8080 : 10.0.0.2 . 80`. */
function elementText(e: unknown): string {
  const flat = (v: unknown): string => {
    if (Array.isArray(v)) {
      if (v.length === 2 && !Array.isArray(v[0]) && typeof v[0] === 'object' && v[0] !== null && 'concat' in (v[0] as object)) {
        return `${flat(v[0])} : ${flat(v[1])}`;
      }
      return v.map(flat).join(' : ');
    }
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('concat' in o) return (o.concat as unknown[]).map(flat).join(' . ');
      if ('elem' in o) return flat((o.elem as Record<string, unknown>).val);
      if ('val' in o) return flat(o.val);
      return JSON.stringify(o);
    }
    return String(v);
  };
  return flat(e);
}

function pidAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

/** Links that are on their way out (buried in the graveyard group, renamed syd…) are not leaks yet. */
const transitional = (l: IpLink): boolean => l.ifname.startsWith('syd');

/**
 * Every problem found, as a sentence naming the object; [] when the state is consistent.
 * `d` gives the roots and the host namespace; `obs` is the API's view at the same moment.
 */
export function checkInvariants(d: TestDaemon, obs: Observed): string[] {
  const problems: string[] = [];
  const bridges = new Map<string, DockerNetwork>();
  for (const n of obs.networks) if (n.Driver === 'bridge') bridges.set(bridgeOf(n), n);
  const netById = new Map(obs.networks.map((n) => [n.Id, n]));

  // --- addresses: held once per network; network inspect agrees with sandbox inspect.
  const holders = new Map<string, string>();
  const runningOn = new Map<string, Map<string, string>>(); // netId → endpointId → sandbox name
  for (const s of obs.sandboxes) {
    for (const [netName, ep] of Object.entries(s.NetworkSettings.Networks ?? {})) {
      const net = netById.get(ep.NetworkID);
      if (!net) {
        problems.push(`sandbox ${nameOf(s)} has an endpoint on network ${netName} (${ep.NetworkID.slice(0, 12)}) that does not exist`);
        continue;
      }
      if (ep.IPAddress) {
        const key = `${net.Id}/${ep.IPAddress}`;
        const other = holders.get(key);
        if (other) problems.push(`address ${ep.IPAddress} on ${net.Name} held twice: by ${other} and ${nameOf(s)}`);
        holders.set(key, nameOf(s));
      }
      if (s.State.Running) {
        if (!runningOn.has(net.Id)) runningOn.set(net.Id, new Map());
        runningOn.get(net.Id)!.set(ep.EndpointID, nameOf(s));
      }
    }
  }
  for (const n of obs.networks) {
    const want = runningOn.get(n.Id) ?? new Map<string, string>();
    const listed = new Map(Object.values(n.Containers ?? {}).map((c) => [c.EndpointID, c.Name]));
    for (const [epId, sb] of want) if (!listed.has(epId)) problems.push(`network inspect ${n.Name} misses the endpoint of running ${sb}`);
    for (const [epId, sb] of listed) if (!want.has(epId)) problems.push(`network inspect ${n.Name} lists endpoint ${epId.slice(0, 12)} of ${sb}, which no running sandbox has`);
  }

  // --- host links: bridges of networks, host ends of running sandboxes' endpoints.
  const hostLinks = ipJson(d.host.path, 'link') ?? [];
  const byName = new Map(hostLinks.map((l) => [l.ifname, l]));
  const wantedLinks = new Map<string, string | undefined>(); // link → its bridge (for veths)
  for (const b of bridges.keys()) wantedLinks.set(b, undefined);
  for (const s of obs.sandboxes) {
    if (!s.State.Running) continue;
    for (const ep of Object.values(s.NetworkSettings.Networks ?? {})) {
      const net = netById.get(ep.NetworkID);
      if (net && net.Driver === 'bridge') wantedLinks.set(hostIfnameOf(ep.EndpointID), bridgeOf(net));
    }
  }
  for (const [name, bridge] of wantedLinks) {
    const link = byName.get(name);
    if (!link) problems.push(bridge ? `host end ${name} of an endpoint on ${bridge} is missing` : `bridge ${name} is missing`);
    else if (bridge && link.master !== bridge) problems.push(`host end ${name} is enslaved to ${link.master ?? 'nothing'}, not ${bridge}`);
  }
  for (const l of hostLinks) {
    if (!l.ifname.startsWith('sy') || wantedLinks.has(l.ifname) || transitional(l)) continue;
    problems.push(`leaked link ${l.ifname} in the host namespace (no network or running endpoint explains it)`);
  }

  // --- namespace pins and mounts: one per running sandbox with its own namespace.
  const nsDir = path.join(d.execRoot, 'netns');
  const pins = new Set(safeReaddir(nsDir));
  const wantedPins = new Set<string>();
  for (const s of obs.sandboxes) {
    const key = s.NetworkSettings.SandboxKey;
    if (s.State.Running && key && key.startsWith(nsDir)) wantedPins.add(path.basename(key));
    if (!s.State.Running) {
      const ports = Object.values(s.NetworkSettings.Ports ?? {}).filter((b) => b && b.length);
      if (ports.length) problems.push(`stopped sandbox ${nameOf(s)} still reports published ports`);
    }
  }
  for (const p of wantedPins) if (!pins.has(p)) problems.push(`namespace pin ${p} of a running sandbox is missing`);
  for (const p of pins) if (!wantedPins.has(p)) problems.push(`leaked namespace pin ${p} (no running sandbox)`);
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(d.root + '/'));
  for (const m of mounts) {
    if (m === nsDir) continue; // the pins' directory is itself a (private) mount point
    if (path.dirname(m) !== nsDir || !wantedPins.has(path.basename(m))) problems.push(`leaked mount ${m}`);
  }
  const counts = new Map<string, number>();
  for (const m of mounts) counts.set(m, (counts.get(m) ?? 0) + 1);
  for (const [m, c] of counts) if (c > 1) problems.push(`mount ${m} stacked ${c} times`);

  // --- inside each running sandbox: process, interfaces, DNS listener.
  for (const s of obs.sandboxes) {
    if (!s.State.Running) continue;
    const name = nameOf(s);
    if (!pidAlive(s.State.Pid)) problems.push(`running sandbox ${name} has no live process (pid ${s.State.Pid})`);
    const key = s.NetworkSettings.SandboxKey;
    if (!key || !key.startsWith(nsDir)) continue;
    const links = ipJson(key, 'addr');
    if (!links) {
      problems.push(`running sandbox ${name}: cannot enter its namespace ${key}`);
      continue;
    }
    const eps = Object.entries(s.NetworkSettings.Networks ?? {});
    const matched = new Set<string>();
    for (const [netName, ep] of eps) {
      const link = links.find((l) => l.address?.toLowerCase() === ep.MacAddress.toLowerCase());
      if (!link) {
        problems.push(`sandbox ${name}: no interface with MAC ${ep.MacAddress} for network ${netName}`);
        continue;
      }
      matched.add(link.ifname);
      const has = (link.addr_info ?? []).some((a) => a.family === 'inet' && a.local === ep.IPAddress && a.prefixlen === ep.IPPrefixLen);
      if (ep.IPAddress && !has) problems.push(`sandbox ${name}: interface ${link.ifname} lacks ${ep.IPAddress}/${ep.IPPrefixLen} (network ${netName})`);
      if (!(link.flags ?? []).includes('UP')) problems.push(`sandbox ${name}: interface ${link.ifname} is down`);
    }
    for (const l of links) {
      if (l.ifname === 'lo' || matched.has(l.ifname) || l.ifname.startsWith('syd')) continue;
      problems.push(`sandbox ${name}: interface ${l.ifname} that no endpoint explains`);
    }
    const userNet = eps.some(([, ep]) => {
      const n = netById.get(ep.NetworkID);
      return n && n.Name !== 'bridge';
    });
    const routes = run('nsenter', [`--net=${key}`, '--', 'ip', '-j', '-4', 'route', 'show', 'default']);
    const defaults = routes.ok ? (JSON.parse(routes.out) as { gateway?: string; dev?: string }[]) : [];
    const gateways = eps.map(([, ep]) => ep.Gateway).filter(Boolean);
    if (gateways.length && defaults.length !== 1) problems.push(`sandbox ${name}: ${defaults.length} default routes, want 1 (via one of ${gateways.join(', ')})`);
    if (!gateways.length && defaults.length) problems.push(`sandbox ${name}: a default route without a network`);
    for (const r of defaults) if (!gateways.includes(r.gateway ?? '')) problems.push(`sandbox ${name}: default route via ${r.gateway} (${r.dev}), not one of its gateways`);
    const dns = run('nsenter', [`--net=${key}`, '--', 'ss', '-lnuH', 'src', '127.0.0.11', 'sport', '=', ':53']);
    const listening = dns.ok && dns.out.trim() !== '';
    if (userNet && !listening) problems.push(`sandbox ${name}: no DNS listener on 127.0.0.11:53`);
    if (!userNet && listening) {
      // Parked (docs/DNS.md): held open, but it must refuse to answer.
      const q = run('nsenter', [`--net=${key}`, '--', 'dig', '+tries=1', '+time=2', '@127.0.0.11', 'probe.invalid', 'A']);
      if (!/status: REFUSED/.test(q.out)) problems.push(`sandbox ${name}: the DNS listener answers without a user-defined network: ${q.out.split('\n').find((l) => l.includes('status:')) ?? q.out.trim().slice(-120)}`);
    }
  }

  // --- processes: a sandbox's wrapper (its argv names the sandbox's directory) runs only
  // for a running sandbox, and is the process inspect reports.
  const sbDir = path.join(d.dataRoot, 'sandboxes') + '/';
  const wantedPids = new Map(obs.sandboxes.filter((s) => s.State.Running).map((s) => [s.State.Pid, nameOf(s)]));
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const dir = argv.find((a) => a.startsWith(sbDir));
    // nsenter and unshare (by absolute path since the tools are never looked up in a PATH) lead to the wrapper.
    const tool = path.basename(argv[0] ?? '');
    if (!dir || tool === 'nsenter' || tool === 'unshare' || argv.includes('unshare') || !pidAlive(Number(entry))) continue;
    // The wrapper and its command are descendants of the recorded (outer) process.
    if (!wantedPids.has(Number(entry)) && !ancestors(Number(entry)).some((p) => wantedPids.has(p))) problems.push(`leaked sandbox process ${entry} (${path.basename(dir).slice(0, 12)}) that no running sandbox owns`);
  }

  // --- nftables: port elements ↔ running sandboxes' published ports.
  problems.push(...checkPortElements(d, obs, netById));
  return problems;
}

function checkPortElements(d: TestDaemon, obs: Observed, netById: Map<string, DockerNetwork>): string[] {
  const problems: string[] = [];
  const any = nftElements(d.host.path, 'map', 'dnat4-any');
  const specific = nftElements(d.host.path, 'map', 'dnat4');
  const published = nftElements(d.host.path, 'set', 'published4');
  if (!any || !specific || !published) return ['nftables maps of table inet switchyard are missing'];
  const wantAny = new Set<string>();
  const wantSpecific = new Set<string>();
  const wantPublished = new Set<string>();
  for (const s of obs.sandboxes) {
    if (!s.State.Running) continue;
    // The gateway endpoint publishes: the first network (v4) of the sandbox in our workloads.
    const eps = Object.values(s.NetworkSettings.Networks ?? {}).filter((e) => netById.get(e.NetworkID)?.Internal === false);
    for (const [key, bindings] of Object.entries(s.NetworkSettings.Ports ?? {})) {
      if (!bindings) continue;
      const [port, proto] = key.split('/') as [string, string];
      for (const b of bindings) {
        if (b.HostIp.includes(':')) continue;
        const target = eps.map((e) => e.IPAddress).filter(Boolean);
        const match = (elements: string[], host: string): boolean => target.some((ip) => elements.includes(`${host} : ${ip} . ${port}`));
        const host = b.HostIp === '0.0.0.0' || b.HostIp === '' ? `${proto} . ${b.HostPort}` : `${b.HostIp} . ${proto} . ${b.HostPort}`;
        (b.HostIp === '0.0.0.0' || b.HostIp === '' ? wantAny : wantSpecific).add(host);
        if (!match(b.HostIp === '0.0.0.0' || b.HostIp === '' ? any : specific, host)) {
          problems.push(`sandbox ${nameOf(s)} publishes ${b.HostIp}:${b.HostPort}->${port}/${proto} but no DNAT element leads there`);
        }
        for (const ip of target) wantPublished.add(`${ip} . ${proto} . ${port}`);
      }
    }
  }
  for (const e of any) if (!wantAny.has(e.split(' : ')[0]!)) problems.push(`leaked DNAT element ${e} in dnat4-any`);
  for (const e of specific) if (!wantSpecific.has(e.split(' : ')[0]!)) problems.push(`leaked DNAT element ${e} in dnat4`);
  for (const e of published) if (!wantPublished.has(e)) problems.push(`leaked published element ${e}`);
  return problems;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Polls until the state is consistent (buried links and async veth deletions settle
 * within a moment) and returns the problems still there at the deadline.
 */
export async function settledProblems(d: TestDaemon, client: SwitchyardClient, timeoutMs = 5000): Promise<{ problems: string[]; observed: Observed }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const observed = await observe(client);
    const problems = checkInvariants(d, observed);
    if (!problems.length || Date.now() > deadline) return { problems, observed };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Parent, grandparent, … of pid (a few levels: the sandbox's tree is shallow). */
function ancestors(pid: number): number[] {
  const out: number[] = [];
  let cur = pid;
  for (let i = 0; i < 4; i++) {
    try {
      const stat = fs.readFileSync(`/proc/${cur}/stat`, 'utf8');
      cur = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
    if (!cur) break;
    out.push(cur);
  }
  return out;
}
