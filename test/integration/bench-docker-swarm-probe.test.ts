/**
 * The probes behind the multi-host anchor's propagation figures (bench/anchors/docker-swarm.ts),
 * on a veth pair between two throwaway namespaces: the ping probe's first reply comes after the
 * target address appears and within a few probe intervals of it once the ARP retransmit time is
 * lowered (control: with the kernel's default 1 s it lags by hundreds of ms, which is why the
 * anchor lowers it); `ip -ts monitor` events carry wall-clock times on the same clock (stamped when
 * `ip` reads them, so late by its scheduling delay at most).
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

/**
 * Starts the probe from a towards 10.77.0.2, adds that address in b 200 ms later; returns the
 * reply's lag after `ip addr add` returned, and the monitor's event time with the window in
 * which the add ran (on a loaded machine the `ip` process itself can take tens of ms).
 */
async function lagAfterAddressAppears(lowerArp: boolean): Promise<{ lag: number; tBefore: number; tAfter: number; tReply: number; tEvent: number | undefined }> {
  const { a, b } = pair();
  const mon = new KernelMonitor(b.path, 'address');
  try {
    if (lowerArp) fastArp(a.path);
    const probe = new PingProbe(a.path, '10.77.0.2', 5, 10_000);
    await sleep(200);
    const tBefore = nowMs();
    sh('ip', ['-n', b.name, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    const tAfter = nowMs();
    const tReply = await probe.firstReply;
    const tEvent = await mon.first((l) => l.includes('10.77.0.2/24'), 2000);
    return { lag: tReply - tAfter, tBefore, tAfter, tReply, tEvent };
  } finally {
    mon.stop();
    removeNs(a);
    removeNs(b);
    assertNoLeaks([a.name, b.name]);
  }
}

test('the ping probe answers within a few intervals of the address appearing, once ARP retries every 10 ms', async () => {
  const { lag, tBefore, tAfter, tReply, tEvent } = await lagAfterAddressAppears(true);
  assert.ok(tReply >= tBefore, `reply ${(tBefore - tReply).toFixed(1)} ms before the address was added`);
  assert.ok(lag < 100, `reply ${lag.toFixed(1)} ms after the address was in place`);
  assert.ok(tEvent !== undefined, 'ip -ts monitor saw the address');
  // `ip -ts` stamps an event when it reads it: never before the add, and after it by no more than
  // the monitor's scheduling delay (tens of ms on a loaded machine). A clock or time-zone mix-up
  // would be off by seconds or hours.
  assert.ok(tEvent! >= tBefore - 2 && tEvent! <= tAfter + 250, `monitor event at ${(tEvent! - tBefore).toFixed(1)} ms, add ran from 0 to ${(tAfter - tBefore).toFixed(1)} ms`);
});

test('control: with the default 1 s ARP retransmit time the first reply lags by hundreds of ms', async () => {
  const { lag } = await lagAfterAddressAppears(false);
  // The add lands ~200 ms into the kernel's 1 s retry: the next ARP goes out some 800 ms later.
  assert.ok(lag > 250, `reply only ${lag.toFixed(1)} ms after the address was in place: the lowered ARP time would not matter`);
});
