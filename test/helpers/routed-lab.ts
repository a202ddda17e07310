/**
 * A lab for the routed driver (test/integration/routed-*.test.ts): "host" namespaces on
 * underlay segments (a segment is a namespace holding a bridge; each host has a veth
 * `sywan0` into it), each host with forwarding on and its own RoutedDriver, sandboxes
 * joined by the driver, and a packet capture on an underlay link (python3 AF_PACKET: no
 * tcpdump needed). Everything is named swy-* and removed by `destroy`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { Nft } from '../../src/kernel/nftables.js';
import { withNetns } from '../../src/kernel/netns.js';
import { RoutedDriver } from '../../src/drivers/routed.js';
import { parseRoutedOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { inNs, makeNs, removeNs, sh, type TestNs } from './netns.js';
import { NETNS_DIR } from './netns.js';

export interface LabHost {
  ns: TestNs;
  rtnl: Rtnl;
  nft: Nft | undefined;
  driver: RoutedDriver;
  /** Runs a driver call inside the host's namespace. */
  run<T>(fn: () => T): T;
}

export class RoutedLab {
  readonly namespaces: TestNs[] = [];
  readonly hosts: LabHost[] = [];

  /** A segment: a namespace with bridge `syseg0` (and, optionally, addresses on it for a router). */
  segment(tag = 'seg'): TestNs {
    const seg = this.ns(tag);
    sh('ip', ['-n', seg.name, 'link', 'add', 'syseg0', 'type', 'bridge']);
    sh('ip', ['-n', seg.name, 'link', 'set', 'syseg0', 'up']);
    return seg;
  }

  ns(tag: string): TestNs {
    const n = makeNs(tag);
    this.namespaces.push(n);
    return n;
  }

  /** Plugs `ns` into segment `seg` as `ifname` with the given addresses (CIDRs). */
  plug(ns: TestNs, seg: TestNs, ifname: string, addrs: string[]): void {
    const port = `syp${randomBytes(4).toString('hex')}`;
    sh('ip', ['-n', ns.name, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', port, 'netns', seg.name]);
    sh('ip', ['-n', seg.name, 'link', 'set', port, 'master', 'syseg0', 'up']);
    inNs(ns.name, 'sysctl', ['-qw', `net.ipv6.conf.${ifname}.accept_dad=0`]);
    for (const a of addrs) sh('ip', ['-n', ns.name, 'addr', 'add', a, 'dev', ifname, ...(a.includes(':') ? ['nodad'] : [])]);
    sh('ip', ['-n', ns.name, 'link', 'set', ifname, 'up']);
  }

  /** A host of routed networks: forwarding on (both families), a driver with the firewall in its namespace. */
  host(tag = 'rth', o: { firewall?: boolean; log?: (msg: string) => void } = {}): LabHost {
    const ns = this.ns(tag);
    inNs(ns.name, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const rtnl = Rtnl.open(ns.path);
    const nft = o.firewall === false ? undefined : Nft.open(ns.path);
    const driver = new RoutedDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), ...(nft ? { nft: () => nft } : {}), defaultMtu: 1500, log: o.log ?? (() => {}) });
    const h: LabHost = { ns, rtnl, nft, driver, run: <T>(fn: () => T): T => { let out: T; withNetns(ns.path, () => void (out = fn())); return out!; } };
    this.hosts.push(h);
    return h;
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts) {
      await h.driver.close();
      h.nft?.close();
      h.rtnl.close();
    }
    for (const n of this.namespaces.reverse()) removeNs(n);
  }

  names(): string[] {
    return this.namespaces.map((n) => n.name);
  }
}

export function routedNetwork(id: string, subnets: string[], o: { internal?: boolean; options?: Record<string, string>; name?: string } = {}): NetworkRecord {
  const options = o.options ?? {};
  const driver = new RoutedDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, defaultMtu: 1500, log: () => {} });
  return {
    v: 1, id, name: o.name ?? `rt-${id.slice(0, 4)}`, driver: 'routed', created: '', scope: 'global', enableIPv4: true, enableIPv6: subnets.some((s) => s.includes(':')),
    ipamDriver: 'default', ipamOptions: {},
    pools: subnets.map((subnet) => ({ subnet, userSubnet: true })),
    internal: !!o.internal, attachable: true, ingress: false, options, labels: {}, predefined: false,
    state: driver.planNetwork({ id, name: 'rt', options: parseRoutedOptions(options), predefined: false, others: [] }),
  };
}

/** An endpoint of `net` with the given addresses (bare), host link planned. */
export function routedEndpoint(net: NetworkRecord, ipv4?: string, ipv6?: string): EndpointRecord {
  const id = randomBytes(32).toString('hex');
  const pool4 = net.pools.find((p) => !p.subnet.includes(':'));
  const pool6 = net.pools.find((p) => p.subnet.includes(':'));
  return {
    v: 1, id, networkId: net.id, sandboxId: randomBytes(32).toString('hex'), ifname: 'eth0', hostLink: `syr${id.slice(0, 10)}`,
    mac: `02:52:${randomBytes(4).toString('hex').match(/../g)!.join(':')}`,
    ...(ipv4 && pool4 ? { ipv4: `${ipv4}/${pool4.subnet.split('/')[1]}` } : {}),
    ...(ipv6 && pool6 ? { ipv6: `${ipv6}/${pool6.subnet.split('/')[1]}` } : {}),
    aliases: [], links: [], dnsNames: [], order: 0,
  };
}

/** Three echo requests (one answer is enough: a first contact may lose one). */
export const ping = (ns: string, dst: string, extra: string[] = []): boolean =>
  inNs(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ...extra, dst], { allowFail: true }).status === 0;

/** One frame seen by a capture: EtherType, IP protocol (next header), addresses, UDP ports. */
export interface CapturedFrame {
  ethertype: number;
  proto?: number;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  len: number;
}

const CAPTURE = String.raw`
import socket, sys, time, json, ipaddress
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.1)
end = time.time() + float(sys.argv[2])
print("ready", flush=True)
while time.time() < end:
    try:
        pkt, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    et = int.from_bytes(pkt[12:14], "big")
    f = {"ethertype": et, "len": len(pkt)}
    l4 = None
    if et == 0x0800 and len(pkt) >= 34:
        ihl = (pkt[14] & 15) * 4
        f.update(proto=pkt[23], src=str(ipaddress.ip_address(pkt[26:30])), dst=str(ipaddress.ip_address(pkt[30:34])))
        l4 = 14 + ihl
    elif et == 0x86dd and len(pkt) >= 54:
        f.update(proto=pkt[20], src=str(ipaddress.ip_address(pkt[22:38])), dst=str(ipaddress.ip_address(pkt[38:54])))
        l4 = 54
    if l4 is not None and f.get("proto") == 17 and len(pkt) >= l4 + 4:
        f.update(sport=int.from_bytes(pkt[l4:l4+2], "big"), dport=int.from_bytes(pkt[l4+2:l4+4], "big"))
    print(json.dumps(f), flush=True)
`;

/** Captures every frame on `ifname` in `ns` for `seconds`; resolves once the socket is bound, with `frames` (resolved at the end). */
export async function capture(ns: string, ifname: string, seconds: number): Promise<{ frames: Promise<CapturedFrame[]> }> {
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', 'python3', '-c', CAPTURE, ifname, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.includes('ready')) readyResolve();
  });
  const done = new Promise<CapturedFrame[]>((resolve, reject) => {
    child.on('exit', (code) => {
      readyResolve();
      if (code !== 0) reject(new Error(`capture exited ${code}`));
      else resolve(out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as CapturedFrame));
    });
  });
  await ready;
  // Wrapped: an async function returning a promise would adopt it (and wait for the end).
  return { frames: done };
}

/** Two lab hosts (underlay 10.98.0.1/2), one routed network 10.21.0.0/16, a sandbox on each at PAIR_ADDR, the other host's /26 routed (bench/routed-offload.ts, test/vm/routed-offload.test.ts). */
export const PAIR_ADDR = ['10.21.0.2', '10.21.0.66'] as const;
export interface RoutedPair {
  lab: RoutedLab;
  h: LabHost[];
  net: NetworkRecord;
  s: { ns: TestNs; ep: EndpointRecord }[];
  /** What the drivers logged. */
  logs: string[];
}
export function routedPair(): RoutedPair {
  const lab = new RoutedLab();
  const logs: string[] = [];
  const seg = lab.segment('rfg');
  const h = [1, 2].map((n) => {
    const host = lab.host('rfh', { log: (m) => logs.push(m) });
    lab.plug(host.ns, seg, 'sywan0', [`10.98.0.${n}/24`]);
    return host;
  });
  const net = routedNetwork('f1'.repeat(32), ['10.21.0.0/16'], { name: 'rfo' });
  for (const x of h) x.run(() => x.driver.ensureNetwork(net));
  const s = [0, 1].map((i) => {
    const ep = routedEndpoint(net, PAIR_ADDR[i]);
    const ns = lab.ns('rfs');
    h[i]!.run(() => h[i]!.driver.join(net, ep, { id: ep.sandboxId, nsPath: ns.path }, { gateway: true }));
    return { ns, ep };
  });
  for (const i of [0, 1]) {
    const other = 1 - i;
    h[i]!.run(() => h[i]!.driver.syncRemoteBlocks(net, [{ nodeId: `node${other}`, nodeAddress: `10.98.0.${other + 1}`, cidr: `10.21.0.${other * 64}/26` }]));
  }
  return { lab, h, net, s, logs };
}

/** Deletes the flowtable's OFFLOAD rules on a host (a control: flows then take the whole forward path); throws unless there were two. */
export function dropOffloadRules(h: LabHost): void {
  const list = inNs(h.ns.name, 'nft', ['-a', 'list', 'chain', 'inet', 'switchyard-routed', 'from-sandbox']).stdout;
  const handles = [...list.matchAll(/comment "OFFLOAD" # handle (\d+)/g)].map((m) => m[1]!);
  if (handles.length !== 2) throw new Error(`expected an OFFLOAD rule per family on ${h.ns.name}, found ${handles.length}`);
  for (const handle of handles) inNs(h.ns.name, 'nft', ['delete', 'rule', 'inet', 'switchyard-routed', 'from-sandbox', 'handle', handle]);
}
