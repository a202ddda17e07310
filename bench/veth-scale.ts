/**
 * The kernel's share of an attach, and how it grows with the namespaces on the host, without
 * the daemon: in a throwaway host netns, K background namespaces each get a veth pair on a
 * bridge (as K sandboxes would), then N cycles time the steps of a bridge join done the way
 * drivers/bridge.ts does them (one RTM_NEWLINK for the pair with the peer created in the
 * sandbox's namespace; one setns window; address, up, default route), and delete the pair.
 *
 *   node dist/bench/veth-scale.js [--background 0,1000] [--cycles 200] [--settle 15]
 */
import { parseArgs } from 'node:util';
import { Rtnl } from '../src/kernel/netlink/index.js';
import { ensureNetns, deleteNetns, withNetnsFd } from '../src/kernel/netns.js';
import { close, ifNameToIndex, open, O_CLOEXEC, O_RDONLY } from '../src/kernel/libc.js';
import { writeSysctl } from '../src/kernel/sysctl.js';
import { makeNs, removeNs } from '../test/helpers/netns.js';

const { values } = parseArgs({ options: { background: { type: 'string', default: '0,1000' }, cycles: { type: 'string', default: '200' }, settle: { type: 'string', default: '15' } } });
const CYCLES = Number(values.cycles);

const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

async function measure(k: number): Promise<Record<string, number>> {
  const host = makeNs('vscale');
  const bg: string[] = [];
  const rtnl = Rtnl.open(host.path);
  try {
    const bgBr = rtnl.ensureBridge({ name: 'syvsbg', up: true });
    rtnl.setLink(bgBr.index, { up: true });
    const br = rtnl.ensureBridge({ name: 'syvsbr', up: true });
    rtnl.setLink(br.index, { up: true });
    rtnl.addAddress(br.index, '10.99.0.1/16');
    for (let i = 0; i < k; i++) {
      const p = `/run/netns/${host.name}-b${i}`;
      ensureNetns(p);
      bg.push(p);
      const fd = open(p, O_RDONLY | O_CLOEXEC);
      try {
        rtnl.createVeth({ name: `syvsb${i}`, master: bgBr.index, up: true, peer: { name: 'eth0', nsFd: fd } });
        const rt = Rtnl.openAt(fd);
        rt.setLink('eth0', { up: true });
        rt.close();
      } finally {
        close(fd);
      }
    }
    // New interfaces send router solicitations and DAD probes for ~12 s, flooded over the
    // background bridge: let that pass before timing anything.
    if (k) await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
    const sb = `/run/netns/${host.name}-sb`;
    ensureNetns(sb);
    bg.push(sb);
    const t: Record<string, number[]> = { createVeth: [], window: [], address: [], up: [], route: [], total: [] };
    for (let i = 0; i < CYCLES; i++) {
      const nsFd = open(sb, O_RDONLY | O_CLOEXEC);
      try {
        const t0 = performance.now();
        rtnl.createVeth({ name: 'syvsprobe', mtu: 1500, master: br.index, up: true, peer: { name: 'eth1', nsFd, mac: '02:42:ac:11:00:02', mtu: 1500 } });
        const t1 = performance.now();
        const { index, rt } = withNetnsFd(nsFd, () => {
          const index = ifNameToIndex('eth1');
          writeSysctl(['net', 'ipv4', 'conf', 'eth1', 'arp_notify'], '1');
          return { index, rt: Rtnl.open() };
        });
        const t2 = performance.now();
        // One request at a time here (the driver sends the three in one batch) to see which grows.
        rt.batch((b) => b.addAddress(index, `10.99.1.${(i % 250) + 2}/16`));
        const ta = performance.now();
        rt.batch((b) => b.setUp(index));
        const tu = performance.now();
        rt.batch((b) => b.addRoute({ dst: 'default', gateway: '10.99.0.1', oif: index, family: 4 }));
        const t3 = performance.now();
        rt.setLink(index, { up: false, name: 'sysdead' });
        rt.close();
        t.createVeth!.push(t1 - t0);
        t.window!.push(t2 - t1);
        t.address!.push(ta - t2);
        t.up!.push(tu - ta);
        t.route!.push(t3 - tu);
        t.total!.push(t3 - t0);
        rtnl.deleteLink('syvsprobe');
      } finally {
        close(nsFd);
      }
    }
    return Object.fromEntries(Object.entries(t).map(([name, v]) => [name, Number(med(v).toFixed(3))]));
  } finally {
    rtnl.close();
    for (const p of bg) deleteNetns(p);
    removeNs(host);
  }
}

const out: Record<string, Record<string, number>> = {};
for (const k of values.background!.split(',').map(Number)) out[`${k} namespaces`] = await measure(k);
console.log(JSON.stringify({ cycles: CYCLES, p50ms: out }, null, 2));
