/**
 * The driver's encryption glue and the cluster's key handling on a real kernel (VM lane,
 * `npm run test:vm`): OverlayEncryptionHost (drivers/overlay-encryption.ts, what the overlay
 * driver calls) in three host namespaces of the VXLAN lab (test/helpers/vxlan-lab.ts), fed
 * exactly as the cluster layer feeds it: the ring as the store holds it (setRing), the peer
 * hosts as the driver's peers give them (syncPeers), and each rotation step as the leader
 * decides it (engine/cluster-keys.ts nextRing) from the hosts' reports (reportFor, published
 * after each applied ring). No daemon and no etcd here (too slow under TCG emulation): the
 * daemon path (ring in the create txn, the watch, the reports in etcd) is the host's
 * (test/unit/overlay-encryption-wire.test.ts, test/e2e/encrypted-overlay-refused.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SOCK_CLOEXEC, SOCK_RAW, bind, close, pollIn, recv, socket } from '../../src/kernel/libc.js';
import { warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { Nft } from '../../src/kernel/nftables.js';
import { Xfrm } from '../../src/kernel/xfrm.js';
import { OverlayEncryptionHost } from '../../src/drivers/overlay-encryption.js';
import { encodeKeyRing, encryptedInnerMtu, newKeyRing, reportFor, rotationPhase, type HostKeyReport, type NetworkKeyRing } from '../../src/drivers/overlay-crypto-plan.js';
import { nextRing } from '../../src/drivers/overlay-encryption.js';
import { assertNoLeaks, inNs, type TestNs } from '../helpers/netns.js';
import { buildVxlanLab, removeVxlanLab, sandboxAddr, type VxlanLab } from '../helpers/vxlan-lab.js';
import { withRtnl } from '../helpers/ns-scope.js';

const IN_VM = process.env.SWY_KVM_GUEST === '1';
const skip = IN_VM ? false : 'needs a kernel with xfrm/ESP: run `npm run test:vm` (SWY_KVM_GUEST is unset)';

const VNI = 4096;
const NET = 'net-wire-0001';
let lab: VxlanLab;
let hosts: OverlayEncryptionHost[] = [];
/** What the shared store holds: the ring and each host's report. */
let stored: NetworkKeyRing;
const reports = new Map<string, HostKeyReport>();

/** The cluster's watch delivering the stored ring to every host; each that applied it reports. */
function deliver(): void {
  hosts.forEach((h, i) => {
    if (h.setRing(NET, encodeKeyRing(stored))) reports.set(lab.hosts[i]!.addr, reportFor(lab.hosts[i]!.addr, stored));
  });
}

function pings(from: TestNs, to: string): boolean {
  for (let i = 0; i < 3; i++) if (inNs(from.name, 'ping', ['-c', '1', '-W', '2', to], { allowFail: true }).status === 0) return true;
  return false;
}

const AF_PACKET = 17;
const ETH_P_ALL = 0x0003;

/** IPv4 protocol numbers of the frames seen on a host's uplink while fn runs (17 = UDP, 50 = ESP). */
function protocolsOnWire(ns: TestNs, fn: () => void): Set<number> {
  const index = withRtnl(ns, (rt) => rt.getLink('syu0')!.index);
  const fd = withNetns(ns.path, () => socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, ETH_P_ALL << 8));
  try {
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(ETH_P_ALL, 2);
    sll.writeInt32LE(index, 4);
    bind(fd, sll);
    fn();
    const seen = new Set<number>();
    const buf = Buffer.alloc(4096);
    while (pollIn(fd, 300)) {
      const n = recv(fd, buf);
      if (n >= 34 && buf.readUInt16BE(12) === 0x0800) seen.add(buf[14 + 9]!);
    }
    return seen;
  } finally {
    close(fd);
  }
}

before(async () => {
  if (!IN_VM) return;
  await warmThreadpool();
  lab = buildVxlanLab({ hostCount: 3, vnis: [VNI], innerMtu: [encryptedInnerMtu(1500)] });
  hosts = lab.hosts.map((h) => new OverlayEncryptionHost({ nsPath: h.ns.path }));
  stored = newKeyRing(NET, VNI, new Date());
});

after(() => {
  if (!IN_VM) return;
  removeVxlanLab(lab);
  assertNoLeaks(lab.all.map((n) => n.name));
});

test('taking part before any peer is known: the VNI is blocked, nothing leaves in clear; with the peers, pings cross as ESP only', { skip }, () => {
  deliver();
  assert.equal(reports.size, 0, 'not taking part yet: nothing applied, nothing reported');
  lab.hosts.forEach((h, i) => hosts[i]!.ensureNetwork(NET, { dataPathAddress: h.addr, dataPathPort: 4789 }));
  const s1 = lab.hosts[0]!.sandboxes[0]!;
  let ok = true;
  const before = protocolsOnWire(lab.hosts[0]!.ns, () => {
    ok = inNs(s1.name, 'ping', ['-c', '1', '-W', '1', sandboxAddr(0, 2)], { allowFail: true }).status === 0;
  });
  assert.equal(ok, false, 'no peer policy yet: the block policy drops it');
  assert.ok(!before.has(17), 'no UDP (VXLAN in clear) on the wire');
  lab.hosts.forEach((_, i) => hosts[i]!.syncPeers(NET, lab.hosts.map((p) => p.addr)));
  deliver();
  assert.equal(reports.size, 3);
  const seen = protocolsOnWire(lab.hosts[0]!.ns, () => {
    assert.ok(pings(s1, sandboxAddr(0, 2)), 'host 1 → host 2');
    assert.ok(pings(s1, sandboxAddr(0, 3)), 'host 1 → host 3');
  });
  assert.ok(seen.has(50), 'ESP on the wire');
  assert.ok(!seen.has(17), 'no UDP on the wire');
});

test('a rotation as the leader runs it (nextRing from the reports), pings every 10 ms throughout: 0 lost', { skip }, async (t) => {
  const s1 = lab.hosts[0]!.sandboxes[0]!;
  const ids = lab.hosts.map((h) => h.addr);
  const ping = spawn('nsenter', [`--net=${s1.path}`, '--', 'ping', '-D', '-i', '0.01', sandboxAddr(0, 3)]);
  let out = '';
  ping.stdout.on('data', (b) => (out += b));
  const done = new Promise<number>((r) => ping.on('close', (c) => r(c ?? 1)));
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await pause(500);
  const t0 = Date.now();
  const phases: string[] = [];
  for (let i = 0; i < 10 && (phases.length === 0 || rotationPhase(stored) !== 'steady'); i++) {
    const next = nextRing({ ring: stored, hosts: ids, reports: [...reports.values()], now: new Date(), intervalMs: 1, graceMs: 200 });
    if (next) {
      stored = next; // the leader's compare-and-swap
      phases.push(rotationPhase(stored));
      deliver();
    }
    await pause(150);
  }
  const t1 = Date.now();
  await pause(1000);
  ping.kill('SIGINT');
  await done;
  assert.deepEqual(phases, ['receive', 'prune', 'steady']);
  assert.deepEqual(stored.keys.map((k) => k.epoch), [2]);
  for (const h of lab.hosts) {
    const x = Xfrm.open(h.ns.path);
    try {
      assert.equal(x.listSas().length, 4, 'epoch 2 only: one SA each way per peer');
    } finally {
      x.close();
    }
  }
  const seqs = new Set([...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
  const sent = Number(out.match(/(\d+) packets transmitted/)?.[1]);
  const last = Math.max(...seqs);
  const gaps = Array.from({ length: last }, (_, i) => i + 1).filter((q) => !seqs.has(q));
  t.diagnostic(`rotation driven by nextRing took ${t1 - t0} ms; ${sent} echo requests, ${seqs.size} replies`);
  assert.deepEqual(gaps, [], 'no echo request without its reply');
  assert.ok(sent - last <= 1);
});

test('a host leaves the peer set: its SAs go and traffic toward it is blocked, not sent in clear; deleteNetwork leaves nothing', { skip }, () => {
  hosts[0]!.syncPeers(NET, [lab.hosts[1]!.addr]);
  const s1 = lab.hosts[0]!.sandboxes[0]!;
  let ok = true;
  const seen = protocolsOnWire(lab.hosts[0]!.ns, () => {
    ok = inNs(s1.name, 'ping', ['-c', '1', '-W', '1', sandboxAddr(0, 3)], { allowFail: true }).status === 0;
  });
  assert.equal(ok, false);
  assert.ok(!seen.has(17), 'nothing in clear toward the host that left');
  assert.ok(pings(s1, sandboxAddr(0, 2)), 'the remaining peer still talks');
  hosts.forEach((h) => h.deleteNetwork(NET));
  for (const h of lab.hosts) {
    const x = Xfrm.open(h.ns.path);
    const nft = Nft.open(h.ns.path);
    try {
      assert.deepEqual([x.listSas().length, x.listPolicies().length], [0, 0]);
      assert.equal(nft.list('tables').trim(), '');
    } finally {
      x.close();
      nft.close();
    }
  }
});
