/**
 * Encrypted against plain VXLAN throughput, side by side in one VM run (issue 12: "the
 * ratio, not an absolute figure"): two simulated hosts on an underlay bridge, one sandbox
 * each on two VNIs of the same hand-built overlay (test/helpers/vxlan-lab.ts), one VNI
 * encrypted with drivers/overlay-crypto.ts (ESP transport, rfc4106(gcm(aes))), the other
 * plain. iperf3, one TCP stream, rounds alternating the two VNIs; the figure is the ratio of
 * the medians. Needs a kernel with ESP: on a host without it, the script runs itself inside
 * the VM (../shared/kernel-vm/kernel-vm.sh beside the clone, as `npm run test:vm` does),
 * with `aesni_intel` loaded, as udev loads it at boot on a stock Debian host whose CPU has AES
 * instructions (the VM has no udev; `--generic-aes` leaves it out). The AEAD driver the kernel
 * picked is part of the result.
 *
 *   npm run build && node dist/bench/overlay-encryption.js [--seconds 5] [--rounds 3] [--generic-aes] [--here]
 *
 * `--here` runs on this machine's kernel instead (one with ESP, e.g. real hardware, where the
 * ratio means something; the VM's is dominated by emulated AES).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { warmThreadpool } from '../src/kernel/netns.js';
import { rerunInVm } from './in-vm.js';
import { OverlayCrypto } from '../src/drivers/overlay-crypto.js';
import { encryptedInnerMtu, newKeyRing, planHost } from '../src/drivers/overlay-crypto-plan.js';
import { assertNoLeaks } from '../test/helpers/netns.js';
import { waitFor } from '../test/helpers/wait.js';
import { buildVxlanLab, removeVxlanLab, sandboxAddr, type VxlanLab } from '../test/helpers/vxlan-lab.js';

const ENC = 4096;
const PLAIN = 4097;

/** The kernel crypto drivers registered for the AEAD (after the first SA: the one with the highest priority is used). */
function aeadDrivers(): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/crypto', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n\n').filter((b) => /^name\s*: rfc4106\(gcm\(aes\)\)$/m.test(b))
    .map((b) => `${b.match(/^driver\s*: (.*)$/m)?.[1]} (priority ${b.match(/^priority\s*: (.*)$/m)?.[1]})`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** One iperf3 TCP stream from host 1's sandbox to host 2's on VNI index k; Mbit/s received. */
async function iperf(lab: VxlanLab, k: number, seconds: number): Promise<number> {
  const [client, server] = [lab.hosts[0]!.sandboxes[k]!, lab.hosts[1]!.sandboxes[k]!];
  const srv = spawn('nsenter', [`--net=${server.path}`, '--', 'iperf3', '-s', '-1', '-B', sandboxAddr(k, 2)], { stdio: 'ignore' });
  try {
    await waitFor(() => spawnSync('nsenter', [`--net=${server.path}`, '--', 'ss', '-ltn'], { encoding: 'utf8' }).stdout.includes(':5201'), 'iperf3 server', 20_000);
    const r = spawnSync('nsenter', [`--net=${client.path}`, '--', 'iperf3', '-c', sandboxAddr(k, 2), '-t', String(seconds), '-J'], { encoding: 'utf8', timeout: (seconds + 60) * 1000 });
    if (r.status !== 0) throw new Error(`iperf3 on VNI ${lab.vnis[k]}: ${r.stderr || r.stdout.slice(0, 500)}`);
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } finally {
    srv.kill();
  }
}

async function inGuest(seconds: number, rounds: number): Promise<void> {
  await warmThreadpool();
  // Both VNIs get the encrypted MTU, so the two paths differ only by ESP.
  const mtu = encryptedInnerMtu(1500);
  const lab = buildVxlanLab({ hostCount: 2, vnis: [ENC, PLAIN], innerMtu: [mtu, mtu] });
  const crypto: OverlayCrypto[] = [];
  try {
    const ring = newKeyRing('bench-encrypted', ENC, new Date());
    for (const h of lab.hosts) {
      const c = OverlayCrypto.open(h.ns.path);
      crypto.push(c);
      c.apply(planHost({ local: h.addr, networks: [{ ring, peers: lab.hosts.map((p) => p.addr) }] }));
    }
    const plain: number[] = [];
    const enc: number[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which path goes first, so a drift in the host's load hits both alike.
      for (const k of i % 2 ? [0, 1] : [1, 0]) (k === 0 ? enc : plain).push(await iperf(lab, k, seconds));
      console.log(`round ${i + 1}: plain ${plain[i]!.toFixed(0)} Mbit/s, encrypted ${enc[i]!.toFixed(0)} Mbit/s`);
    }
    const result = {
      kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(), aeadDrivers: aeadDrivers(), seconds, rounds, innerMtu: mtu,
      plainMbps: plain.map(Math.round), encryptedMbps: enc.map(Math.round),
      ratio: Number((median(enc) / median(plain)).toFixed(3)),
    };
    console.log(`| path | iperf3 Mbit/s per round | median |\n| --- | --- | --- |`);
    console.log(`| plain VXLAN (VNI ${PLAIN}) | ${result.plainMbps.join(', ')} | ${median(plain).toFixed(0)} |`);
    console.log(`| encrypted VXLAN (VNI ${ENC}, ESP rfc4106(gcm(aes))) | ${result.encryptedMbps.join(', ')} | ${median(enc).toFixed(0)} |`);
    console.log(`encrypted / plain throughput ratio: ${result.ratio}`);
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    crypto.forEach((c) => {
      c.remove();
      c.close();
    });
    removeVxlanLab(lab);
    assertNoLeaks(lab.all.map((n) => n.name));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, 'generic-aes': { type: 'boolean', default: false }, here: { type: 'boolean', default: false },
  } });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (process.env.SWY_KVM_GUEST === '1' || values.here) return inGuest(seconds, rounds);
  rerunInVm(import.meta.url, ['--seconds', String(seconds), '--rounds', String(rounds)], {
    timeoutSeconds: 120 + rounds * 2 * (seconds + 30), modules: values['generic-aes'] ? [] : ['aesni_intel'],
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
