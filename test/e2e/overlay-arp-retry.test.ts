/**
 * A sandbox that asks for an overlay peer a moment before its host learns that peer from the
 * cluster gets its answer within the overlay's neighbour retry (40 ms: drivers/overlay.ts
 * OVERLAY_NEIGHBOUR_RETRY), not the kernel's 1 s. This was the ~1.1 s p99 of `run -d` on one
 * host → first ping from another (docs/BENCHMARKS.md, "Overlay across the cluster lab").
 *
 * On the cluster lab (two hosts, real etcd): a sandbox on host1 pings a fixed address that no
 * sandbox has yet (its ARP requests go unanswered: the VXLAN device's proxy knows no such
 * peer), then a sandbox with that address is run on host0. The lag is from host1's neighbour
 * entry for it appearing on host1's VXLAN device (`ip -ts monitor neigh` in the network's
 * namespace) to the probe's first reply. Control: the same with the probe sandbox's interface
 * set back to the kernel's defaults (retrans_time_ms 1000, mcast_solicit 3): the lag is then
 * wherever the 1 s retry cycle happens to be, and its median is far above the fix's.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { KernelMonitor, PingProbe } from '../../bench/anchors/docker-swarm.js';
import { OVERLAY_NEIGHBOUR_RETRY } from '../../src/drivers/overlay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Between the overlay's 40 ms retry and the kernel's 1 s one, with room for a loaded machine. */
const LAG_BOUND_MS = 250;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 2 });
});
after(async () => {
  await lab?.close();
});

test('an overlay sandbox waiting for a not-yet-known peer reaches it within the overlay neighbour retry, not the kernel 1 s', async (t) => {
  const c0 = lab.hosts[0]!.daemon.client;
  const c1 = lab.hosts[1]!.daemon.client;
  const { Id: netId } = await c0.createNetwork({ Name: 'ovr', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.79.0.0/16', IPRange: '10.79.0.0/24' }] } });
  const { Id: pId } = await c1.createSandbox({ Name: 'probe', Cmd: ['sleep', 'infinity'], NetworkMode: 'ovr' });
  await c1.startSandbox(pId);
  const pNs = ((await c1.inspectSandbox(pId)) as unknown as { NetworkSettings: { SandboxKey: string } }).NetworkSettings.SandboxKey;
  const inP = (...args: string[]) => lab.hosts[1]!.daemon.inSandbox(pNs, args[0]!, args.slice(1)).stdout.trim();
  // The kernel keeps it in jiffies: read back within one tick (4 ms at HZ=250).
  assert.ok(Math.abs(Number(inP('sysctl', '-n', 'net.ipv4.neigh.eth0.retrans_time_ms')) - OVERLAY_NEIGHBOUR_RETRY.retransMs) <= 10, 'retrans_time_ms');
  assert.equal(inP('sysctl', '-n', 'net.ipv4.neigh.eth0.mcast_solicit'), String(OVERLAY_NEIGHBOUR_RETRY.solicit));
  const overlayNs = `${lab.hosts[1]!.daemon.execRoot}/overlay/1-${netId.slice(0, 10)}`;

  let n = 0;
  /** One sample: the lag from host1's neighbour entry for a new host0 sandbox to p's first reply. */
  const lag = async (): Promise<number> => {
    const ip = `10.79.1.${10 + n++}`;
    const mon = new KernelMonitor(overlayNs, 'neigh');
    const probe = new PingProbe(pNs, ip, 10, 20_000);
    try {
      // Into the retry cycle: the first request and one or more retries already unanswered.
      await sleep(1200);
      const { Id } = await c0.createSandbox({ Name: `x${n}`, Cmd: ['sleep', 'infinity'], NetworkMode: 'ovr', EndpointsConfig: { ovr: { IPAMConfig: { IPv4Address: ip } } } });
      await c0.startSandbox(Id);
      const tReply = await probe.firstReply;
      const tEntry = await mon.first((l) => l.startsWith(`${ip} dev `) && l.includes('lladdr'), 5000);
      assert.ok(tEntry !== undefined, `host1's neighbour entry for ${ip}`);
      await c0.removeSandbox(Id, true);
      return tReply - tEntry;
    } finally {
      probe.stop();
      mon.stop();
    }
  };

  const fixed: number[] = [];
  for (let i = 0; i < 7; i++) fixed.push(await lag());
  inP('sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=1000', 'net.ipv4.neigh.eth0.mcast_solicit=3');
  const control: number[] = [];
  for (let i = 0; i < 7; i++) control.push(await lag());
  t.diagnostic(`lag from host1's neighbour entry to the first reply (ms): overlay retry ${fixed.map((x) => x.toFixed(0)).join(', ')}; kernel defaults ${control.map((x) => x.toFixed(0)).join(', ')}`);
  // The bound is a quarter of the kernel's 1 s cycle, six of the overlay's retries: on a quiet
  // machine the medians are 40-70 ms; a loaded CI run measured 125 ms, which a bound of 120 failed.
  assert.ok(median(fixed) < LAG_BOUND_MS, `median lag with the overlay's retry ${median(fixed).toFixed(0)} ms (< ${LAG_BOUND_MS})`);
  // Control: the kernel's 1 s retry. The lag is wherever its cycle is when the entry appears;
  // with this test's timing it was 640-860 ms on a quiet machine.
  assert.ok(median(control) > LAG_BOUND_MS, `control: median lag with the kernel's defaults ${median(control).toFixed(0)} ms (> ${LAG_BOUND_MS})`);
});
