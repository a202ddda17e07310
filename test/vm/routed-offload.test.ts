/**
 * The routed driver's flowtable offload (docs/drivers/routed.md "Offload") on Debian 12's
 * stock kernel inside the VM lane (`npm run test:vm`): this machine's kernel has no
 * nf_flow_table, so outside the VM the driver falls back to the whole forward path and this
 * file skips with the reason. Two lab hosts on one underlay segment (test/helpers/routed-lab.ts),
 * one routed network, a sandbox on each, the other host's block routed by hand
 * (syncRemoteBlocks, as the cluster layer does). Kept short: the VM is emulated. The speed
 * figures are bench/routed-offload.ts's (docs/BENCHMARKS.md), not this test's.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { assertNoLeaks, inNs, waitFor, type TestNs } from '../helpers/netns.js';
import { dropOffloadRules, PAIR_ADDR, routedPair, type LabHost } from '../helpers/routed-lab.js';

const IN_VM = process.env.SWY_KVM_GUEST === '1';
const skip = IN_VM ? false : 'needs a kernel with nf_flow_table (Debian\'s has it, this machine\'s has not): run `npm run test:vm` (SWY_KVM_GUEST is unset)';

before(async () => {
  if (IN_VM) await warmThreadpool();
});

const ADDR = PAIR_ADDR;

/** Forwarded packets seen by a table of the test's own (any forward hook sees what is not offloaded). */
const COUNT_TABLE = 'table inet swy-count {\n  chain seen {\n    type filter hook forward priority -50; policy accept;\n    counter\n  }\n}\n';
const forwarded = (h: LabHost): number => Number(/packets (\d+)/.exec(inNs(h.ns.name, 'nft', ['list', 'table', 'inet', 'swy-count']).stdout)![1]);
const resetCount = (h: LabHost): void => {
  inNs(h.ns.name, 'nft', ['delete', 'table', 'inet', 'swy-count'], { allowFail: true });
  inNs(h.ns.name, 'nft', ['-f', '-'], { input: COUNT_TABLE });
};

/** One iperf3 TCP transfer from sandbox 0 to sandbox 1: bytes (-n) or seconds (-t); Gbit/s received. */
async function iperf(s: { ns: TestNs }[], what: ['-n' | '-t', string]): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', s[1]!.ns.name, 'iperf3', '-s', '-1', '-p', '5202'], { stdio: 'ignore' });
  try {
    await waitFor(() => inNs(s[1]!.ns.name, 'ss', ['-ltn']).stdout.includes(':5202'), 'iperf3 server', 30_000, 100);
    const out = inNs(s[0]!.ns.name, 'iperf3', ['-c', ADDR[1], '-p', '5202', ...what, '-J'], { timeoutMs: 120_000 }).stdout;
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

test('routed offload: established same-network flows leave the forward path, spoofed packets still meet the source check', { skip }, async (t) => {
  const { lab, h, net, s, logs } = routedPair();
  try {
    assert.ok(!logs.some((l) => l.includes('no flowtable')), `the kernel took the flowtable: ${logs.join('; ')}`);

    // The flowtable hooks each host's routed port and the underlay link its block routes use.
    for (const [i, x] of h.entries()) {
      const ft = inNs(x.ns.name, 'nft', ['list', 'flowtable', 'inet', 'switchyard-routed', 'fastpath']).stdout;
      assert.ok(ft.includes(s[i]!.ep.hostLink!) && ft.includes('sywan0'), `host${i + 1}'s flowtable: ${ft}`);
    }

    // Offloaded: a 20 MB transfer leaves a handful of packets to the forward hooks of either
    // host (the handshake, until conntrack confirms the flow, and the close).
    for (const x of h) resetCount(x);
    await iperf(s, ['-n', '20M']);
    const offloaded = h.map(forwarded);
    // Control: without the OFFLOAD rules the same transfer walks the forward hooks packet by packet.
    for (const x of h) {
      dropOffloadRules(x);
      resetCount(x);
    }
    await iperf(s, ['-n', '20M']);
    const full = h.map(forwarded);
    t.diagnostic(`forwarded packets seen by the hooks, 20 MB: offloaded ${offloaded.join(' / ')}, control ${full.join(' / ')}`);
    for (const i of [0, 1]) {
      assert.ok(full[i]! >= 200, `control: host${i + 1}'s forward hook sees the transfer (${full[i]})`);
      assert.ok(offloaded[i]! * 10 <= full[i]!, `host${i + 1}: offloaded ${offloaded[i]} against ${full[i]} without offload`);
    }
    for (const [i, x] of h.entries()) x.run(() => x.driver.reloadFirewall([net], [s[i]!.ep]));
    assert.equal([...inNs(h[0]!.ns.name, 'nft', ['list', 'chain', 'inet', 'switchyard-routed', 'from-sandbox']).stdout.matchAll(/"OFFLOAD"/g)].length, 2, 'reload puts the OFFLOAD rules back');

    // security: with a UDP flow offloaded from sandbox 0 (source port 5300), a datagram from
    // the same port but another address of the network (sandbox 0 holds it in its namespace,
    // the host never gave it) is not part of that flow: it takes the normal path and the
    // source check drops it. Control: without the check it arrives.
    inNs(s[0]!.ns.name, 'ip', ['addr', 'add', '10.21.0.9/32', 'dev', 'eth0']);
    const received: string[] = [];
    const sink = spawn('ip', ['netns', 'exec', s[1]!.ns.name, 'socat', '-u', 'UDP-RECV:6300,reuseaddr', 'STDOUT'], { stdio: ['ignore', 'pipe', 'ignore'] });
    sink.stdout.on('data', (d: Buffer) => received.push(...d.toString().split('\n').filter(Boolean)));
    try {
      await waitFor(() => inNs(s[1]!.ns.name, 'ss', ['-lun']).stdout.includes(':6300'), 'udp sink', 30_000, 100);
      const send = (msg: string, from: string) => inNs(s[0]!.ns.name, 'socat', ['-u', '-', `UDP-SENDTO:${ADDR[1]}:6300,bind=${from}:5300`], { input: `${msg}\n` });
      for (let k = 0; k < 5; k++) send(`legit${k}`, ADDR[0]);
      await waitFor(() => received.filter((m) => m.startsWith('legit')).length >= 3, 'legit datagrams', 30_000, 100);
      send('spoof', '10.21.0.9');
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(!received.includes('spoof'), `a spoofed datagram arrived: ${received.join(', ')}`);
      assert.match(inNs(h[0]!.ns.name, 'nft', ['list', 'chain', 'inet', 'switchyard-routed', 'check-source']).stdout, /packets [1-9]\d* bytes \d+ drop comment "ROUTED SPOOF"/);
      inNs(h[0]!.ns.name, 'nft', ['flush', 'chain', 'inet', 'switchyard-routed', 'check-source']);
      send('spoof-control', '10.21.0.9');
      await waitFor(() => received.includes('spoof-control'), 'control: without the source check the spoofed datagram arrives', 30_000, 100);
    } finally {
      sink.kill();
      h[0]!.run(() => h[0]!.driver.reloadFirewall([net], [s[0]!.ep]));
      inNs(s[0]!.ns.name, 'ip', ['addr', 'del', '10.21.0.9/32', 'dev', 'eth0'], { allowFail: true });
    }

  } finally {
    const names = lab.names();
    await lab.destroy();
    assertNoLeaks(names);
  }
});
