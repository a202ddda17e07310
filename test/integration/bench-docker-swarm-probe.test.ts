/**
 * The probes behind the multi-host anchor's propagation figures (bench/anchors/docker-swarm.ts),
 * on a veth pair between two throwaway namespaces: the ping probe's first reply comes after the
 * target address appears and within a few probe intervals of it once the ARP retransmit time is
 * lowered (control: with the kernel's default 1 s it lags by hundreds of ms, which is why the
 * anchor lowers it); `ip -ts monitor` events carry wall-clock times on the same clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoLeaks, makeNs, removeNs, sh, type TestNs } from '../helpers/netns.js';
import { fastArp, KernelMonitor, PingProbe } from '../../bench/anchors/docker-swarm.js';

const nowMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pair(): { a: TestNs; b: TestNs } {
  const a = makeNs('prba');
  const b = makeNs('prbb');
  sh('ip', ['-n', a.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.name]);
  sh('ip', ['-n', a.name, 'addr', 'add', '10.77.0.1/24', 'dev', 'eth0']);
  sh('ip', ['-n', a.name, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', b.name, 'link', 'set', 'eth0', 'up']);
  return { a, b };
}

/** Starts the probe from a towards 10.77.0.2, adds that address in b after 300 ms; returns the reply's lag and the monitor's event time. */
async function lagAfterAddressAppears(lowerArp: boolean): Promise<{ lag: number; tAdd: number; tEvent: number | undefined }> {
  const { a, b } = pair();
  const mon = new KernelMonitor(b.path, 'address');
  try {
    if (lowerArp) fastArp(a.path);
    const probe = new PingProbe(a.path, '10.77.0.2', 5, 10_000);
    await sleep(300);
    const tAdd = nowMs();
    sh('ip', ['-n', b.name, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    const tReply = await probe.firstReply;
    const tEvent = await mon.first((l) => l.includes('10.77.0.2/24'), 2000);
    return { lag: tReply - tAdd, tAdd, tEvent };
  } finally {
    mon.stop();
    removeNs(a);
    removeNs(b);
    assertNoLeaks([a.name, b.name]);
  }
}

test('the ping probe answers within a few intervals of the address appearing, once ARP retries every 10 ms', async () => {
  const { lag, tAdd, tEvent } = await lagAfterAddressAppears(true);
  assert.ok(lag >= 0, `reply ${lag} ms before the address existed`);
  assert.ok(lag < 100, `reply ${lag.toFixed(1)} ms after the address appeared`);
  assert.ok(tEvent !== undefined, 'ip -ts monitor saw the address');
  // The monitor's timestamp (ip's wall clock) and ours agree to within a few ms.
  assert.ok(Math.abs(tEvent! - tAdd) < 50, `monitor event ${(tEvent! - tAdd).toFixed(1)} ms from the add`);
});

test('control: with the default 1 s ARP retransmit time the first reply lags by hundreds of ms', async () => {
  const { lag } = await lagAfterAddressAppears(false);
  assert.ok(lag > 300, `reply only ${lag.toFixed(1)} ms after the address appeared: the lowered ARP time would not matter`);
});
