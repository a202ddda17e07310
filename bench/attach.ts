/**
 * Control-plane latency, interleaved A/B round by round across the systems of one run:
 *  - network create / remove (Switchyard API vs Docker API; netavark and CNI have no such step);
 *  - attach / detach of one running sandbox with 0, 1 and 32 published ports
 *    (Switchyard connect/disconnect over its socket, Docker's API connect/disconnect over its
 *    socket, `netavark setup/teardown`, CNI bridge+portmap ADD/DEL);
 *  - the same attach/detach (1 port) with 10, 100 … endpoints already on the host.
 * Every network being attached to already has one other endpoint (warm: bridge up, DNS up).
 */
import { makeNs, removeNs, type TestNs } from '../test/helpers/netns.js';
import type { NetavarkNetwork } from './anchors/netavark.js';
import { Rounds } from './stats.js';
import type { Systems } from './systems.js';

export const PORT_COUNTS = [0, 1, 32] as const;

/** k published ports: host 20000+base+i → container 8000+i (one spec each, as 32 `-p` flags). */
export function portsFor(k: number, base: number): Array<[number, number]> {
  return Array.from({ length: k }, (_, i) => [20000 + base + i, 8000 + i] as [number, number]);
}
const specsOf = (ports: Array<[number, number]>) => ports.map(([h, c]) => `${h}:${c}`);

/** One system's attach/detach of a prepared sandbox ("lane"). */
interface Lane {
  system: string;
  attach(): Promise<void> | void;
  detach(): Promise<void> | void;
  /** removes what prepare made (sandbox namespaces); networks go with the system */
  release(): Promise<void> | void;
}

export async function networkCreateRemove(s: Systems, count: number): Promise<Rounds> {
  const r = new Rounds();
  const sy: string[] = [];
  const dk: string[] = [];
  // All creates, then all removes: a create right after a remove would measure the kernel
  // still reclaiming the previous bridge (it holds the RTNL lock for part of that).
  for (let i = 0; i < count; i++) {
    sy.push((await r.timed('switchyard create', () => s.sy.client.createNetwork({ Name: `nc${i}`, IPAM: { Config: [{ Subnet: `10.150.${i}.0/24` }] } }))).Id);
    if (s.docker) dk.push((await r.timed('docker create', () => s.docker!.createNetwork(`nc${i}`, `10.150.${i}.0/24`))).Id);
  }
  for (let i = 0; i < count; i++) {
    await r.timed('switchyard remove', () => s.sy.client.removeNetwork(sy[i]!));
    if (s.docker) await r.timed('docker remove', () => s.docker!.removeNetwork(dk[i]!));
  }
  return r;
}

// --- lanes, one per system ------------------------------------------------------------

async function switchyardLane(s: Systems, net: string, name: string, ports: Array<[number, number]>): Promise<Lane> {
  const { Id } = await s.sy.client.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: net, PortSpecs: specsOf(ports) });
  await s.sy.client.startSandbox(Id);
  await s.sy.client.disconnectNetwork(net, Id);
  return {
    system: 'switchyard',
    attach: () => s.sy.client.connectNetwork(net, Id),
    detach: () => s.sy.client.disconnectNetwork(net, Id),
    release: () => s.sy.client.removeSandbox(Id, true),
  };
}

async function dockerLane(s: Systems, net: string, name: string, ports: Array<[number, number]>): Promise<Lane> {
  const d = s.docker!;
  const id = await d.runContainer(name, net, ports);
  await d.disconnect(net, id);
  return {
    system: 'docker',
    attach: async () => void (await d.connect(net, id)),
    detach: async () => void (await d.disconnect(net, id)),
    release: async () => void (await d.api('DELETE', `/containers/${id}?force=1`)),
  };
}

function netavarkLane(s: Systems, net: NetavarkNetwork, index: number, ports: Array<[number, number]>): Lane {
  const nv = s.netavark!;
  const ns = makeNs('nvs');
  return {
    system: 'netavark',
    attach: () => nv.setup(ns, net, index, ports),
    detach: () => nv.teardown(ns, net, index, ports),
    release: () => removeNs(ns),
  };
}

function cniLane(s: Systems, ports: Array<[number, number]>): Lane {
  const cni = s.cni!;
  const ns = makeNs('cns');
  return {
    system: 'cni',
    attach: () => cni.add(ns, ports),
    detach: () => cni.del(ns, ports),
    release: () => removeNs(ns),
  };
}

/** The warm network each system attaches to, with one keeper endpoint on it. */
export interface Warm {
  syNet: string;
  dockerNet?: string;
  nvNet?: NetavarkNetwork;
  release(): Promise<void>;
}

export async function warmNetworks(s: Systems): Promise<Warm> {
  const keepers: Array<() => Promise<void> | void> = [];
  await s.sy.client.createNetwork({ Name: 'att', IPAM: { Config: [{ Subnet: '10.160.0.0/16' }] } });
  const { Id } = await s.sy.client.createSandbox({ Name: 'keeper', Cmd: ['sleep', 'infinity'], NetworkMode: 'att' });
  await s.sy.client.startSandbox(Id);
  const w: Warm = { syNet: 'att', release: async () => { for (const k of keepers.reverse()) await k(); } };
  keepers.push(() => s.sy.client.removeSandbox(Id, true));
  if (s.docker) {
    await s.docker.createNetwork('att', '10.161.0.0/16');
    const k = await s.docker.runContainer('keeper', 'att');
    w.dockerNet = 'att';
    keepers.push(async () => void (await s.docker!.api('DELETE', `/containers/${k}?force=1`)));
  }
  if (s.netavark) {
    const net: NetavarkNetwork = { name: 'att', bridge: 'nvbr0', prefix: '10.162', dns: true };
    const ns = makeNs('nvk0');
    s.netavark.setup(ns, net, 0);
    w.nvNet = net;
    keepers.push(() => { s.netavark!.teardown(ns, net, 0); removeNs(ns); });
  }
  if (s.cni) {
    const ns = makeNs('cnk0');
    s.cni.add(ns);
    keepers.push(() => { s.cni!.del(ns); removeNs(ns); });
  }
  return w;
}

async function lanesFor(s: Systems, w: Warm, tag: string, index: number, ports: Array<[number, number]>): Promise<Lane[]> {
  const lanes = [await switchyardLane(s, w.syNet, `sy${tag}`, ports)];
  if (s.docker) lanes.push(await dockerLane(s, w.dockerNet!, `dk${tag}`, ports));
  if (s.netavark) lanes.push(netavarkLane(s, w.nvNet!, index, ports));
  if (s.cni) lanes.push(cniLane(s, ports));
  return lanes;
}

/**
 * The untimed pause after each detach: a detach's asynchronous kernel work (veth and
 * namespace teardown, RCU grace periods under the RTNL lock; Switchyard's batched link
 * deletion 100 ms later) would otherwise land in the next system's timed attach.
 */
const settle = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** Attach/detach with 0, 1 and 32 published ports; rounds alternate systems and port counts. */
export async function attachByPorts(s: Systems, w: Warm, rounds: number, settleMs = 0): Promise<Rounds> {
  const r = new Rounds();
  const byK = new Map<number, Lane[]>();
  for (const k of PORT_COUNTS) byK.set(k, await lanesFor(s, w, `p${k}`, 100 + k, portsFor(k, k * 100)));
  try {
    for (let i = 0; i < rounds; i++) {
      for (const k of PORT_COUNTS) {
        for (const lane of byK.get(k)!) {
          await r.timed(`${lane.system} attach ${k}p`, lane.attach);
          await r.timed(`${lane.system} detach ${k}p`, lane.detach);
          await settle(settleMs);
        }
      }
    }
  } finally {
    for (const lanes of byK.values()) for (const l of lanes) await l.release();
  }
  return r;
}

/** Attach/detach (1 port) with the given number of endpoints on the host, interleaved across systems. */
export async function attachAtScale(s: Systems, w: Warm, label: string, rounds: number, lanes: Lane[], r: Rounds, settleMs = 0): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    for (const lane of lanes) {
      await r.timed(`${lane.system} attach @${label}`, lane.attach);
      await r.timed(`${lane.system} detach @${label}`, lane.detach);
      await settle(settleMs);
    }
  }
}

export async function scaleProbes(s: Systems, w: Warm, systems: string[]): Promise<Lane[]> {
  const all = await lanesFor(s, w, 'probe', 90, portsFor(1, 9000));
  const keep = all.filter((l) => systems.includes(l.system));
  for (const l of all) if (!keep.includes(l)) await l.release();
  return keep;
}

/**
 * Background endpoints per anchor (no ports), added up to a target count on the anchor's warm
 * network. Switchyard's are sandboxes created by the caller (they also count for RSS).
 */
export class AnchorFiller {
  private nv: TestNs[] = [];
  private cn: TestNs[] = [];
  private dk = 0;
  constructor(private readonly s: Systems, private readonly w: Warm) {}

  async growTo(n: number, which: string[]): Promise<void> {
    if (this.s.docker && which.includes('docker')) while (this.dk < n) await this.s.docker.runContainer(`bg${this.dk++}`, this.w.dockerNet!);
    if (this.s.netavark && which.includes('netavark')) while (this.nv.length < n) { const ns = makeNs('nvb'); this.s.netavark.setup(ns, this.w.nvNet!, 1000 + this.nv.length); this.nv.push(ns); }
    if (this.s.cni && which.includes('cni')) while (this.cn.length < n) { const ns = makeNs('cnb'); this.s.cni.add(ns); this.cn.push(ns); }
  }

  release(): void {
    this.nv.forEach((ns, i) => { try { this.s.netavark!.teardown(ns, this.w.nvNet!, 1000 + i); } catch { /* best effort */ } removeNs(ns); });
    this.cn.forEach((ns) => { try { this.s.cni!.del(ns); } catch { /* best effort */ } removeNs(ns); });
    this.nv = [];
    this.cn = [];
  }
}
