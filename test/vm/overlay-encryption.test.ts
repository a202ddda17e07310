/**
 * Encrypted overlay traffic (drivers/overlay-crypto*.ts) on Debian 12's stock kernel in the
 * VM lane (`npm run test:vm`; this machine's kernel has no xfrm). Three "host" namespaces on
 * an underlay bridge, a hand-built VXLAN per host in the overlay driver's shape
 * (test/helpers/vxlan-lab.ts): VNI 4096 encrypted, VNI 4097 plain as the control, built once
 * for the whole file (namespaces are slow under TCG) and removed with a leak check at the end.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SOCK_CLOEXEC, SOCK_RAW, bind, close, pollIn, recv, sendto, sockaddrIn, socket } from '../../src/kernel/libc.js';
import { closeSocketFd, openSocketInNetns, warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { Nft } from '../../src/kernel/nftables.js';
import { Xfrm } from '../../src/kernel/xfrm.js';
import { OverlayCrypto, probeOverlayCrypto } from '../../src/drivers/overlay-crypto.js';
import {
  advanceRotation, beginRotation, deriveSa, encryptedInnerMtu, newKeyRing, planHost, reportFor, rotationPhase,
  type NetworkKeyRing,
} from '../../src/drivers/overlay-crypto-plan.js';
import { assertNoLeaks, inNs, waitFor, type TestNs } from '../helpers/netns.js';
import { buildVxlanLab, removeVxlanLab, sandboxAddr, sandboxMac, vxlanPayload, type VxlanLab } from '../helpers/vxlan-lab.js';
import { withNamespaces, withNsFd, withRtnl } from '../helpers/ns-scope.js';
import { vxlanInfoData } from '../../src/kernel/netlink/index.js';
import { ipToBytes } from '../../src/kernel/netlink/address-codec.js';

const IN_VM = process.env.SWY_KVM_GUEST === '1';
const skip = IN_VM ? false : 'needs a kernel with xfrm/ESP: run `npm run test:vm` (SWY_KVM_GUEST is unset)';

const ENC = 4096;
const PLAIN = 4097;
const MTU = encryptedInnerMtu(1500);
let lab: VxlanLab;
let ring: NetworkKeyRing;
const crypto: OverlayCrypto[] = [];

function applyAll(r: NetworkKeyRing, hosts = [0, 1, 2]): void {
  for (const i of hosts) {
    const h = lab.hosts[i]!;
    crypto[i]!.apply(planHost({ local: h.addr, networks: [{ ring: r, peers: lab.hosts.map((p) => p.addr) }] }));
  }
}

function pings(from: TestNs, to: string, o: { tries?: number; size?: number } = {}): boolean {
  const args = ['-c', '1', '-W', o.tries === 1 ? '1' : '2', ...(o.size ? ['-M', 'do', '-s', String(o.size)] : []), to];
  for (let i = 0; i < (o.tries ?? 3); i++) if (inNs(from.name, 'ping', args, { allowFail: true }).status === 0) return true;
  return false;
}

const AF_PACKET = 17;
const ETH_P_ALL = 0x0003;

/** A packet socket on one link of a namespace; read() returns the frames queued so far. */
function capture(ns: TestNs, link: string): { read: (waitMs?: number) => Buffer[]; close: () => void } {
  const index = withRtnl(ns, (rt) => rt.getLink(link)!.index);
  const fd = withNetns(ns.path, () => socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, ETH_P_ALL << 8));
  const sll = Buffer.alloc(20);
  sll.writeUInt16LE(AF_PACKET, 0);
  sll.writeUInt16BE(ETH_P_ALL, 2);
  sll.writeInt32LE(index, 4);
  bind(fd, sll);
  return {
    read(waitMs = 300) {
      const frames: Buffer[] = [];
      const buf = Buffer.alloc(4096);
      while (pollIn(fd, waitMs)) frames.push(Buffer.from(buf.subarray(0, recv(fd, buf))));
      return frames;
    },
    close: () => close(fd),
  };
}

interface UnderlayFrame { src: string; dst: string; proto: number; fragment: boolean; vni?: number; bytes: Buffer }

function parseUnderlay(f: Buffer): UnderlayFrame | null {
  if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) return null;
  const ip = f.subarray(14);
  const ihl = (ip[0]! & 0x0f) * 4;
  const flags = ip.readUInt16BE(6);
  const out: UnderlayFrame = {
    src: [...ip.subarray(12, 16)].join('.'), dst: [...ip.subarray(16, 20)].join('.'), proto: ip[9]!,
    fragment: (flags & 0x2000) !== 0 || (flags & 0x1fff) !== 0, bytes: f,
  };
  if (out.proto === 17 && ip.readUInt16BE(ihl + 2) === 4789) out.vni = ip.readUIntBE(ihl + 8 + 4, 3);
  return out;
}

/** A cleartext VXLAN datagram from the underlay namespace (an attacker on the wire) to host 2. */
function inject(vni: number, innerDstMac: string, marker: Buffer): void {
  const fd = openSocketInNetns(lab.underlay.path, { family: 4, protocol: 'udp' });
  try {
    sendto(fd, vxlanPayload(vni, innerDstMac, '02:00:00:00:00:99', marker), sockaddrIn(lab.hosts[1]!.addr, 4789));
  } finally {
    closeSocketFd(fd);
  }
}

const contains = (frames: Buffer[], marker: Buffer): boolean => frames.some((f) => f.includes(marker));

before(async () => {
  if (!IN_VM) return;
  await warmThreadpool();
  lab = buildVxlanLab({ hostCount: 3, vnis: [ENC, PLAIN], innerMtu: [MTU, 1450] });
  ring = newKeyRing('net-enc-0001', ENC, new Date());
  for (const h of lab.hosts) crypto.push(OverlayCrypto.open(h.ns.path));
});

after(() => {
  if (!IN_VM) return;
  crypto.forEach((c) => c.close());
  removeVxlanLab(lab);
  assertNoLeaks(lab.all.map((n) => n.name));
});

test('probe(): the stock kernel can do ESP transport with rfc4106(gcm(aes)) and leaves nothing behind', { skip }, () => {
  const p = probeOverlayCrypto(lab.hosts[0]!.ns.path);
  assert.deepEqual(p, { ok: true, missing: [] });
  const x = Xfrm.open(lab.hosts[0]!.ns.path);
  try {
    assert.deepEqual([x.listSas().length, x.listPolicies().length], [0, 0]);
  } finally {
    x.close();
  }
});

test('applied on three hosts: sandboxes ping and talk TCP across the encrypted VNI; apply is idempotent', { skip }, async () => {
  applyAll(ring);
  const inv = crypto[0]!.inventory();
  assert.equal(inv.sas.length, 4, 'one SA per direction per peer');
  assert.equal(inv.policies.length, 3, 'one out policy per peer and the catch-all block');
  assert.deepEqual(crypto[0]!.apply(planHost({ local: lab.hosts[0]!.addr, networks: [{ ring, peers: lab.hosts.map((h) => h.addr) }] })),
    { added: 0, removed: 0, policiesChanged: 0 }, 'a second apply changes nothing');
  const [s1, s2, s3] = lab.hosts.map((h) => h.sandboxes[0]!);
  assert.ok(pings(s1!, sandboxAddr(0, 2)), 'h1 → h2 over the encrypted VNI');
  assert.ok(pings(s3!, sandboxAddr(0, 1)), 'h3 → h1 over the encrypted VNI');
  // TCP: one iperf3 second from s1 to s2.
  const server = spawn('nsenter', [`--net=${s2!.path}`, '--', 'iperf3', '-s', '-1', '-B', sandboxAddr(0, 2)], { stdio: 'ignore' });
  try {
    await waitFor(() => inNs(s2!.name, 'ss', ['-ltn']).stdout.includes(':5201'), 'iperf3 server', 20_000);
    const r = inNs(s1!.name, 'iperf3', ['-c', sandboxAddr(0, 2), '-t', '1', '-J'], { allowFail: true, timeoutMs: 30_000 });
    assert.equal(r.status, 0, `iperf3 TCP across the encrypted VNI: ${r.stderr || r.stdout.slice(0, 400)}`);
    assert.ok(JSON.parse(r.stdout).end.sum_received.bytes > 0);
  } finally {
    server.kill();
  }
  // Full-size packets fit: the inner MTU leaves room for VXLAN and ESP (no fragments, checked below too).
  assert.ok(pings(s1!, sandboxAddr(0, 2), { size: MTU - 28 }), `a ${MTU}-byte packet crosses with DF set`);
});

test('on the underlay: the encrypted VNI shows only ESP, no UDP 4789 in clear, no fragments; the plain VNI shows VXLAN 4097 with the payload visible', { skip }, () => {
  const cap = capture(lab.underlay, 'syuh1');
  try {
    const pattern = '5377595a'; // "SwYZ" repeated in every echo request's payload
    const [s1] = [lab.hosts[0]!.sandboxes[0]!];
    for (let i = 0; i < 3; i++) inNs(s1.name, 'ping', ['-c', '1', '-W', '2', '-p', pattern, sandboxAddr(0, 2)], { allowFail: true });
    inNs(s1.name, 'ping', ['-c', '1', '-W', '2', '-M', 'do', '-s', String(MTU - 28), sandboxAddr(0, 2)], { allowFail: true });
    inNs(lab.hosts[0]!.sandboxes[1]!.name, 'ping', ['-c', '2', '-W', '2', '-p', pattern, sandboxAddr(1, 2)], { allowFail: true });
    const frames = cap.read().map(parseUnderlay).filter((f): f is UnderlayFrame => !!f);
    const marker = Buffer.from(pattern.repeat(4), 'hex');
    const esp = frames.filter((f) => f.proto === 50);
    const clearEnc = frames.filter((f) => f.vni === ENC);
    const plain = frames.filter((f) => f.vni === PLAIN);
    assert.ok(esp.length >= 8, `ESP both ways for 4 pings: ${esp.length}`);
    assert.deepEqual(new Set(esp.flatMap((f) => [f.src, f.dst])), new Set([lab.hosts[0]!.addr, lab.hosts[1]!.addr]));
    assert.equal(clearEnc.length, 0, 'no cleartext VXLAN of the encrypted VNI');
    assert.equal(frames.filter((f) => f.fragment).length, 0, 'no IP fragments on the underlay');
    assert.ok(!contains(esp.map((f) => f.bytes), marker), 'the ping payload is not visible inside ESP');
    assert.ok(plain.length >= 4, `control: the plain VNI crosses as VXLAN in clear: ${plain.length}`);
    assert.ok(contains(plain.map((f) => f.bytes), marker), 'control: in the plain VNI the same payload is visible');
  } finally {
    cap.close();
  }
});

test('a cleartext VXLAN packet injected for the encrypted VNI is counted and dropped; the same for the plain VNI arrives (control)', { skip }, () => {
  const s2 = lab.hosts[1]!.sandboxes;
  const before = crypto[1]!.cleartextDrops().get(ENC) ?? 0;
  const capEnc = capture(s2[0]!, 'eth0');
  const capPlain = capture(s2[1]!, 'eth0');
  try {
    const m1 = Buffer.from('switchyard-inject-encrypted-vni');
    const m2 = Buffer.from('switchyard-inject-plain-vni');
    inject(ENC, sandboxMac(0, 2), m1);
    inject(PLAIN, sandboxMac(1, 2), m2);
    assert.equal(contains(capEnc.read(), m1), false, 'the injected frame never reached the sandbox of the encrypted VNI');
    assert.ok(contains(capPlain.read(), m2), 'control: the injection path works (plain VNI delivered)');
    assert.equal(crypto[1]!.cleartextDrops().get(ENC), before + 1, 'the drop counter counted it');
  } finally {
    capEnc.close();
    capPlain.close();
  }
});

test('a marked packet toward a host without a peer policy is blocked, never sent in clear (control: without the block policy it leaves in clear)', { skip }, () => {
  const [h1, h3] = [lab.hosts[0]!, lab.hosts[2]!];
  const s1 = h1.sandboxes[0]!;
  // h1 knows only h2 as a peer of the encrypted network, but its FDB still points at h3.
  crypto[0]!.apply(planHost({ local: h1.addr, networks: [{ ring, peers: [h1.addr, lab.hosts[1]!.addr] }] }));
  const toH3 = (frames: Buffer[]) => frames.map(parseUnderlay).filter((f) => f && f.dst === h3.addr) as UnderlayFrame[];
  const cap = capture(lab.underlay, 'syuh1');
  try {
    assert.equal(pings(s1, sandboxAddr(0, 3), { tries: 1 }), false, 'no way to h3 without SAs');
    const seen = toH3(cap.read());
    assert.equal(seen.filter((f) => f.vni === ENC || f.proto === 50).length, 0, `nothing of VNI ${ENC} left toward h3: ${seen.length} frames`);
    // Control: the same without the block policy: the marked packet leaves in clear.
    const x = Xfrm.open(h1.ns.path);
    try {
      const blockPolicy = x.listPolicies().find((p) => p.action === 'block')!;
      assert.ok(blockPolicy, 'the block policy exists');
      x.deletePolicy(blockPolicy);
    } finally {
      x.close();
    }
    pings(s1, sandboxAddr(0, 3), { tries: 1 });
    assert.ok(toH3(cap.read()).some((f) => f.vni === ENC), 'control: without the block policy VNI 4096 goes to h3 in clear');
  } finally {
    cap.close();
  }
  applyAll(ring);
  assert.ok(pings(s1, sandboxAddr(0, 3)), 'h1 → h3 encrypted again');
});

test('IPv6 underlay: two hosts over fd00:5::/64, ESP between them, VXLAN over IPv6 works and nothing crosses in clear', { skip }, async () => {
  await withNamespaces(['v6a', 'v6b'], ([a, b]) => {
    const v6 = ['fd00:5::1', 'fd00:5::2'];
    const brMac = ['02:00:0a:d2:00:01', '02:00:0a:d2:00:02'];
    withRtnl(a!, (rt) => withNsFd(b!, (nsFd) => rt.createVeth({ name: 'syu6', up: true, peer: { name: 'syu6', nsFd, up: true } })));
    [a!, b!].forEach((ns, i) => withRtnl(ns, (rt) => {
      const under = rt.getLink('syu6')!.index;
      rt.addAddress(under, `${v6[i]}/64`, { noDad: true });
      const br = rt.ensureBridge({ name: 'syov6', up: true, mtu: encryptedInnerMtu(1500, 6), mac: brMac[i] });
      rt.createLink('vxlan', { name: 'syvx6', master: br.index, mtu: encryptedInnerMtu(1500, 6), up: true,
        data: vxlanInfoData({ id: ENC, local: ipToBytes(v6[i]!), link: under, port: 4789, learning: false }) });
      rt.addAddress(br.index, `10.210.0.${i + 1}/24`);
      rt.ensureFdb({ index: rt.getLink('syvx6')!.index, mac: brMac[1 - i]!, dst: v6[1 - i]! });
      rt.ensureNeighbour({ index: br.index, ip: `10.210.0.${2 - i}`, mac: brMac[1 - i]! });
    }));
    const r6 = newKeyRing('net-enc-v6', ENC, new Date());
    const c6 = [a!, b!].map((ns, i) => {
      const c = OverlayCrypto.open(ns.path);
      c.apply(planHost({ local: v6[i]!, networks: [{ ring: r6, peers: v6 }] }));
      return c;
    });
    try {
      const cap = capture(b!, 'syu6');
      try {
        assert.ok(pings(a!, '10.210.0.2', { size: encryptedInnerMtu(1500, 6) - 28 }), 'a full-size ping over VXLAN over IPv6, encrypted');
        const frames = cap.read().filter((f) => f.length > 54 && f.readUInt16BE(12) === 0x86dd);
        const next = frames.map((f) => f[14 + 6]);
        assert.ok(next.filter((n) => n === 50).length >= 2, `ESP (next header 50) both ways: ${next.join(',')}`);
        assert.equal(next.filter((n) => n === 17 || n === 44).length, 0, 'no UDP in clear and no fragment header');
      } finally {
        cap.close();
      }
      assert.equal(c6[0]!.inventory().sas.length, 2);
    } finally {
      c6.forEach((c) => {
        c.remove();
        assert.deepEqual(c.inventory(), { sas: [], policies: [], table: false });
        c.close();
      });
    }
  });
});

test('control: switching to a new key before the peer can receive with it loses packets', { skip }, () => {
  const [s1] = [lab.hosts[0]!.sandboxes[0]!];
  const early = beginRotation(ring, new Date());
  const wrong = { ...early, txEpoch: 2 };
  crypto[0]!.apply(planHost({ local: lab.hosts[0]!.addr, networks: [{ ring: wrong, peers: [lab.hosts[1]!.addr] }] }));
  assert.equal(pings(s1, sandboxAddr(0, 2), { tries: 1 }), false, 'h1 sends with epoch 2, h2 cannot decrypt it');
  applyAll(ring);
  assert.ok(pings(s1, sandboxAddr(0, 2)), 'back on epoch 1');
});

/**
 * The claim is "no packet lost while the keys change", so the pings must span the whole
 * rotation however slow the emulated guest is: ping runs without a count (10 ms interval,
 * timestamps) and is interrupted 1 s after the last step; every echo request up to the last
 * answered one must have its reply (no gap), and only the one in flight at the interrupt may
 * go unanswered.
 */
test('key rotation during continuous pings at 10 ms: receive on every host, then send, then prune; 0 packets lost', { skip }, async (t) => {
  const [s1] = [lab.hosts[0]!.sandboxes[0]!];
  const hosts = lab.hosts.map((h) => h.addr);
  const ping = spawn('nsenter', [`--net=${s1.path}`, '--', 'ping', '-D', '-i', '0.01', sandboxAddr(0, 2)]);
  let out = '';
  ping.stdout.on('data', (b) => (out += b));
  const done = new Promise<number>((r) => ping.on('close', (c) => r(c ?? 1)));
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const replyTimes = () => [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from /gm)].map((m) => Number(m[1]) * 1000);
  // Under emulation and load ping can take a while to start: rotate only once replies flow.
  const waitReply = async (after: number) => {
    for (let i = 0; i < 200 && !replyTimes().some((at) => at > after); i++) await pause(50);
  };
  await waitReply(0);
  await pause(200);
  const t0 = Date.now();
  let r = beginRotation(ring, new Date());
  assert.equal(rotationPhase(r), 'receive');
  applyAll(r);
  await pause(100);
  let step = advanceRotation(r, hosts, hosts.map((h) => reportFor(h, r)), new Date());
  assert.ok(step.changed);
  r = step.ring;
  assert.equal(r.txEpoch, 2);
  applyAll(r);
  const sent2 = deriveSa(r, 2, lab.hosts[0]!.addr, lab.hosts[1]!.addr).spi;
  const pol = crypto[0]!.inventory().policies.find((p) => p.selector.dst === lab.hosts[1]!.addr)!;
  assert.equal(pol.templates[0]!.spi, sent2, 'h1 → h2 now pinned to the epoch-2 SA');
  await pause(300);
  step = advanceRotation(r, hosts, hosts.map((h) => reportFor(h, r)), new Date(Date.now() + 60_000));
  assert.ok(step.changed);
  r = step.ring;
  assert.equal(rotationPhase(r), 'steady');
  applyAll(r);
  const t1 = Date.now();
  assert.equal(crypto[0]!.inventory().sas.length, 4, 'the epoch-1 SAs are gone');
  await pause(1000);
  await waitReply(t1);
  ping.kill('SIGINT');
  await done;
  const replies = [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/gm)].map((m) => ({ at: Number(m[1]) * 1000, seq: Number(m[2]) }));
  const sent = Number(out.match(/(\d+) packets transmitted/)?.[1]);
  const seqs = new Set(replies.map((x) => x.seq));
  const last = Math.max(...seqs);
  const gaps = Array.from({ length: last }, (_, i) => i + 1).filter((q) => !seqs.has(q));
  t.diagnostic(`rotation on 3 hosts took ${t1 - t0} ms; ${sent} echo requests, ${seqs.size} replies, last answered ${last}`);
  assert.ok(replies.some((x) => x.at < t0) && replies.some((x) => x.at > t1), 'replies before the rotation began and after it ended');
  assert.deepEqual(gaps, [], 'no echo request without its reply');
  assert.ok(sent - last <= 1, `only the request in flight at the interrupt may be unanswered (${sent} sent, last answered ${last})`);
  ring = r;
  assert.ok(pings(s1, sandboxAddr(0, 2)), 'traffic flows on epoch 2 alone');
});

test('removal leaves no xfrm state, policy or nftables table; then cleartext for that VNI gets through again (control for the drop)', { skip }, () => {
  for (const c of crypto) c.remove();
  for (const [i, h] of lab.hosts.entries()) {
    const x = Xfrm.open(h.ns.path);
    const nft = Nft.open(h.ns.path);
    try {
      assert.deepEqual([x.listSas().length, x.listPolicies().length], [0, 0], `host ${i + 1}: no xfrm state or policy at all`);
      assert.equal(nft.list('tables').trim(), '', `host ${i + 1}: no nftables table`);
    } finally {
      x.close();
      nft.close();
    }
    crypto[i]!.remove(); // twice: idempotent
  }
  const cap = capture(lab.hosts[1]!.sandboxes[0]!, 'eth0');
  try {
    const m = Buffer.from('switchyard-inject-after-removal');
    inject(ENC, sandboxMac(0, 2), m);
    assert.ok(contains(cap.read(), m), 'without the drop rule the injected cleartext frame is delivered');
  } finally {
    cap.close();
  }
  assert.ok(pings(lab.hosts[0]!.sandboxes[0]!, sandboxAddr(0, 2)), 'the VNI works in clear without encryption');
});
