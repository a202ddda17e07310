/**
 * A measuring aid for bench/overlay-path.sh's `bpf` variant, not part of the product: loads
 * one of two tiny tc (cls_bpf, direct-action) programs with the bpf(2) system call and pins
 * it on a bpf file system, for `tc filter add … bpf da object-pinned PIN`.
 *
 *   node dist/bench/tc-redirect.js tx PIN IFINDEX MAC IPV4   the sandbox's port, ingress:
 *       drops a frame whose source MAC is not MAC, or that is neither ARP nor IPv4 from IPV4,
 *       and hands the rest to IFINDEX's egress (bpf_redirect): the veth path's cheapest
 *       checked forwarding, no bridge
 *   node dist/bench/tc-redirect.js rx PIN IFINDEX            the VXLAN device, ingress:
 *       every frame straight into the namespace of IFINDEX's veth peer (bpf_redirect_peer,
 *       Linux 5.10+), skipping the backlog queue a veth transmit goes through
 *
 * The question it answers (docs/drivers/overlay.md "Speed"): does the fastest redirect the
 * kernel offers make a veth-based overlay port as fast as a VXLAN device in the sandbox? It
 * does not (89 %): the veth's own transmit is the cost. Hand-assembled eBPF (8-byte
 * instructions, linux/bpf.h), so that nothing needs clang.
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long n, int cmd, void *attr, uint32_t size)');
const SYS_BPF = 321; // x86_64
const BPF_PROG_LOAD = 5;
const BPF_OBJ_PIN = 6;
const BPF_PROG_TYPE_SCHED_CLS = 3;
const HELPER = { redirect: 23, redirectPeer: 155 } as const;
const TC_ACT_SHOT = 2;
/** struct __sk_buff offsets of data and data_end. */
const SKB_DATA = 76;
const SKB_DATA_END = 80;

interface Insn { code: number; dst: number; src: number; off: number | string; imm: number }
type Item = Insn | { label: string };

const ins = (code: number, dst: number, src: number, off: number | string, imm: number): Insn => ({ code, dst, src, off, imm });
const movImm = (dst: number, imm: number) => ins(0xb7, dst, 0, 0, imm); // r = imm (64-bit)
const mov32Imm = (dst: number, imm: number) => ins(0xb4, dst, 0, 0, imm); // w = imm, zero-extended
const ldx = (size: 'w' | 'h', dst: number, src: number, off: number) => ins(size === 'w' ? 0x61 : 0x69, dst, src, off, 0);
const call = (helper: number) => ins(0x85, 0, 0, 0, helper);
const exit = () => ins(0x95, 0, 0, 0, 0);

function assemble(items: Item[]): Buffer {
  const labels = new Map<string, number>();
  const real: Insn[] = [];
  for (const x of items) {
    if ('label' in x) labels.set(x.label, real.length);
    else real.push(x);
  }
  const buf = Buffer.alloc(real.length * 8);
  real.forEach((x, i) => {
    const off = typeof x.off === 'string' ? labels.get(x.off)! - i - 1 : x.off;
    buf.writeUInt8(x.code, i * 8);
    buf.writeUInt8((x.src << 4) | x.dst, i * 8 + 1);
    buf.writeInt16LE(off, i * 8 + 2);
    buf.writeInt32LE(x.imm | 0, i * 8 + 4);
  });
  return buf;
}

function txProgram(ifindex: number, mac: string, ipv4: string): Item[] {
  const m = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  const ip = Buffer.from(ipv4.split('.').map(Number));
  // Loads are little-endian: compare against the wire bytes read the same way.
  const [r0, r1, r2, r3, r4, r5] = [0, 1, 2, 3, 4, 5];
  return [
    ldx('w', r2, r1, SKB_DATA), ldx('w', r3, r1, SKB_DATA_END),
    ins(0xbf, r4, r2, 0, 0), ins(0x07, r4, 0, 0, 34), // r4 = data + 34 (Ethernet + IPv4 source)
    ins(0x2d, r4, r3, 'drop', 0), // too short
    ldx('w', r5, r2, 6), mov32Imm(r0, m.readInt32LE(0)), ins(0x5d, r5, r0, 'drop', 0),
    ldx('h', r5, r2, 10), mov32Imm(r0, m.readUInt16LE(4)), ins(0x5d, r5, r0, 'drop', 0),
    ldx('h', r5, r2, 12),
    ins(0x15, r5, 0, 'forward', 0x0608), // ARP
    ins(0x55, r5, 0, 'drop', 0x0008), // not IPv4
    ldx('w', r5, r2, 26), mov32Imm(r0, ip.readInt32LE(0)), ins(0x5d, r5, r0, 'drop', 0),
    { label: 'forward' },
    movImm(r1, ifindex), movImm(r2, 0), call(HELPER.redirect), exit(),
    { label: 'drop' },
    movImm(r0, TC_ACT_SHOT), exit(),
  ];
}

function rxProgram(ifindex: number): Item[] {
  return [movImm(1, ifindex), movImm(2, 0), call(HELPER.redirectPeer), exit()];
}

function load(code: Buffer): number {
  const license = Buffer.from('GPL\0');
  const log = Buffer.alloc(64 * 1024);
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(BPF_PROG_TYPE_SCHED_CLS, 0);
  attr.writeUInt32LE(code.length / 8, 4);
  attr.writeBigUInt64LE(BigInt(koffi.address(code) as unknown as bigint), 8);
  attr.writeBigUInt64LE(BigInt(koffi.address(license) as unknown as bigint), 16);
  attr.writeUInt32LE(1, 24); // log_level
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(BigInt(koffi.address(log) as unknown as bigint), 32);
  const fd = Number(syscall(SYS_BPF, BPF_PROG_LOAD, attr, attr.length));
  if (fd < 0) throw new Error(`BPF_PROG_LOAD: errno ${koffi.errno()}\n${log.toString('utf8').replace(/\0.*$/s, '')}`);
  return fd;
}

function pin(fd: number, path: string): void {
  const p = Buffer.from(`${path}\0`);
  const attr = Buffer.alloc(16);
  attr.writeBigUInt64LE(BigInt(koffi.address(p) as unknown as bigint), 0);
  attr.writeUInt32LE(fd, 8);
  if (Number(syscall(SYS_BPF, BPF_OBJ_PIN, attr, attr.length)) < 0) throw new Error(`BPF_OBJ_PIN ${path}: errno ${koffi.errno()}`);
}

const [mode, pinPath, ifindexText, mac, ipv4] = process.argv.slice(2);
const ifindex = Number(ifindexText);
if (!pinPath || !Number.isInteger(ifindex) || !(mode === 'rx' || (mode === 'tx' && mac && ipv4))) {
  console.error('usage: tc-redirect.js tx PIN IFINDEX MAC IPV4 | rx PIN IFINDEX');
  process.exit(2);
}
pin(load(assemble(mode === 'tx' ? txProgram(ifindex, mac!, ipv4!) : rxProgram(ifindex))), pinPath);
