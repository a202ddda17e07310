/**
 * A hand-built multi-host VXLAN lab in throwaway namespaces, in the overlay driver's shape,
 * for the encryption tests and benchmark (they run in the VM lane: test/vm/,
 * bench/overlay-encryption.ts):
 *
 *   underlay ns (bridge syul0, 192.0.2.99/24) ── veth ── host ns hN (syu0, 192.0.2.N/24)
 *   in each host ns, per VNI: bridge syovK + vxlan syvxK (VNI, local 192.0.2.N, dstport 4789,
 *   no learning, static FDB entries MAC → remote VTEP); sandboxes on veths into the bridge.
 *
 * Sandbox addresses are 10.<200+K>.0.N/24 with MAC 02:00:0a:<200+K>:00:N; every sandbox gets
 * permanent neighbour entries for the others and every vxlan FDB entries for the remote
 * ones, as the overlay driver programs them (no flood and learn).
 */
import { Rtnl, vxlanInfoData } from '../../src/kernel/netlink/index.js';
import { ipToBytes } from '../../src/kernel/netlink/address-codec.js';
import { makeNs, removeNs, type TestNs } from './netns.js';
import { withNsFd, withRtnl } from './ns-scope.js';

export const UNDERLAY_PREFIX = '192.0.2';
export const INJECTOR = `${UNDERLAY_PREFIX}.99`;

export interface LabHost {
  ns: TestNs;
  /** Data-path address on the underlay. */
  addr: string;
  /** Per VNI index K: the sandbox namespace. */
  sandboxes: TestNs[];
}

export interface VxlanLab {
  underlay: TestNs;
  hosts: LabHost[];
  vnis: number[];
  /** All namespaces, for removal and the leak check. */
  all: TestNs[];
}

export const hostAddr = (n: number): string => `${UNDERLAY_PREFIX}.${n}`;
export const sandboxAddr = (k: number, n: number): string => `10.${200 + k}.0.${n}`;
export const sandboxMac = (k: number, n: number): string => `02:00:0a:${(200 + k).toString(16)}:00:${n.toString(16).padStart(2, '0')}`;

/**
 * `hostCount` hosts, one sandbox per host per VNI. `innerMtu` sets the sandboxes', bridges'
 * and vxlans' MTU (default 1450: 1500 minus VXLAN over IPv4).
 */
export function buildVxlanLab(o: { hostCount: number; vnis: number[]; innerMtu?: number[] }): VxlanLab {
  const all: TestNs[] = [];
  const mk = (tag: string): TestNs => {
    const ns = makeNs(tag);
    all.push(ns);
    return ns;
  };
  try {
    const underlay = mk('ul');
    withRtnl(underlay, (rt) => {
      const br = rt.ensureBridge({ name: 'syul0', up: true });
      rt.addAddress(br.index, `${INJECTOR}/24`);
    });
    const hosts: LabHost[] = [];
    for (let n = 1; n <= o.hostCount; n++) {
      const ns = mk(`h${n}`);
      withRtnl(underlay, (rt) => withNsFd(ns, (nsFd) => {
        const br = rt.getLink('syul0')!.index;
        rt.createVeth({ name: `syuh${n}`, master: br, up: true, peer: { name: 'syu0', nsFd, up: true } });
      }));
      withRtnl(ns, (rt) => rt.addAddress(rt.getLink('syu0')!.index, `${hostAddr(n)}/24`));
      hosts.push({ ns, addr: hostAddr(n), sandboxes: [] });
    }
    o.vnis.forEach((vni, k) => {
      const mtu = o.innerMtu?.[k] ?? 1450;
      hosts.forEach((h, i) => {
        const n = i + 1;
        const sb = mk(`s${k}${n}`);
        h.sandboxes.push(sb);
        withRtnl(h.ns, (rt) => {
          const br = rt.ensureBridge({ name: `syov${k}`, up: true, mtu });
          const underIdx = rt.getLink('syu0')!.index;
          rt.createLink('vxlan', {
            name: `syvx${k}`, master: br.index, mtu, up: true,
            data: vxlanInfoData({ id: vni, local: ipToBytes(h.addr), link: underIdx, port: 4789, learning: false }),
          });
          withNsFd(sb, (nsFd) => rt.createVeth({ name: `sysb${k}`, master: br.index, mtu, up: true, peer: { name: 'eth0', nsFd, up: true, mtu, mac: sandboxMac(k, n) } }));
        });
        withRtnl(sb, (rt) => rt.addAddress(rt.getLink('eth0')!.index, `${sandboxAddr(k, n)}/24`));
      });
      // Static FDB (vxlan: remote MAC → remote VTEP) and neighbours (sandbox: remote IP → MAC).
      hosts.forEach((h, i) => {
        withRtnl(h.ns, (rt) => {
          const vx = rt.getLink(`syvx${k}`)!.index;
          hosts.forEach((r, j) => {
            if (j !== i) rt.ensureFdb({ index: vx, mac: sandboxMac(k, j + 1), dst: r.addr });
          });
        });
        withRtnl(h.sandboxes[k]!, (rt) => {
          const eth0 = rt.getLink('eth0')!.index;
          hosts.forEach((_, j) => {
            if (j !== i) rt.ensureNeighbour({ index: eth0, ip: sandboxAddr(k, j + 1), mac: sandboxMac(k, j + 1) });
          });
        });
      });
    });
    return { underlay, hosts, vnis: o.vnis, all };
  } catch (err) {
    all.forEach(removeNs);
    throw err;
  }
}

export function removeVxlanLab(lab: VxlanLab): void {
  lab.all.forEach(removeNs);
}

/** Ethernet + IPv4 + UDP + VXLAN bytes of a frame as a VTEP would send it (for injection tests). */
export function vxlanPayload(vni: number, innerDstMac: string, innerSrcMac: string, marker: Buffer): Buffer {
  const vx = Buffer.alloc(8);
  vx.writeUInt8(0x08, 0); // I flag: VNI valid
  vx.writeUIntBE(vni, 4, 3);
  const mac = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
  const eth = Buffer.concat([mac(innerDstMac), mac(innerSrcMac), Buffer.from([0x08, 0x00])]);
  // An inner IPv4/UDP packet to port 9 (discard) carrying the marker.
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(9, 2);
  udp.writeUInt16BE(8 + marker.length, 4);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + 8 + marker.length, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from([10, 200, 0, 99]).copy(ip, 12);
  Buffer.from([10, 200, 0, 2]).copy(ip, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  return Buffer.concat([vx, eth, ip, udp, marker]);
}

export { Rtnl };
