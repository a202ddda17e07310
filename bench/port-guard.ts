/**
 * What a port's egress check costs on join and leave (docs/FIREWALL.md "Per-port egress check
 * (netdev family)"): the byte path (NftElements.joinPortChain / leavePortChain, one nfnetlink
 * batch each) against the same change through libnftables text (renderPortGuardChain + the
 * elements, one transaction; leave: the elements add-then-delete and `delete chain`),
 * in a throwaway namespace holding a veth `eth1`; each also with a
 * socket or context opened for the call and closed after it ("fresh"), as a driver joining
 * a port in a sandbox's own namespace does once per sandbox. Root.
 *
 *   npm run build && node dist/bench/port-guard.js [--iterations 300]
 */
import { Nft } from '../src/kernel/nftables.js';
import { NftElements } from '../src/kernel/nft-elements.js';
import {
  deletePortGuardOps, elementText, portGuardChainSpec, portGuardOps, renderPortGuardBase, renderPortGuardChain,
} from '../src/services/firewall/ruleset.js';
import type { ElementOp } from '../src/kernel/nft-elements.js';
import { inNs, makeNs, removeNs } from '../test/helpers/netns.js';
import { summarize } from './stats.js';

const iterations = Number(process.argv[process.argv.indexOf('--iterations') + 1] || 300) || 300;
const ep = { port: 'eth1', mac: '02:42:0a:00:00:02', ipv4: '10.0.0.2', ipv6: 'fd00::2' };
const text = (ops: ElementOp[]) => ops.map((o) => `${o.op} element netdev switchyard ${o.set} { ${elementText(o.key)} }`).join('\n') + '\n';

const ns = makeNs('pgb');
try {
  inNs(ns.name, 'ip', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth2']);
  const nft = Nft.open(ns.path);
  const el = NftElements.open(ns.path);
  nft.run(renderPortGuardBase());
  const spec = portGuardChainSpec('eth1');
  const t: Record<string, number[]> = {
    'join bytes': [], 'leave bytes': [], 'join text': [], 'leave text': [],
    'join bytes, fresh': [], 'leave bytes, fresh': [], 'join text, fresh': [], 'leave text, fresh': [],
  };
  const fresh = <T extends { close(): void }>(open: () => T, fn: (x: T) => void) => () => {
    const x = open();
    try {
      fn(x);
    } finally {
      x.close();
    }
  };
  const timed = (label: string, fn: () => void) => {
    const t0 = performance.now();
    fn();
    t[label]!.push(performance.now() - t0);
  };
  // One block per variant: the kernel's close() of an nfnetlink socket first waits for any
  // nftables object deleted a moment before, in any namespace, to be freed (an RCU grace
  // period, nft_rcv_nl_event), so a fresh variant run right after another one's leave would
  // pay for it.
  const variants: Array<[string, () => void, () => void]> = [
    ['bytes', () => el.joinPortChain(spec, portGuardOps(ep)), () => el.leavePortChain(spec, deletePortGuardOps(ep))],
    ['text', () => nft.run(renderPortGuardChain('eth1') + text(portGuardOps(ep))), () => nft.run(text(deletePortGuardOps(ep)) + `delete chain netdev switchyard ${spec.chain}\n`)],
    ['bytes, fresh', fresh(() => NftElements.open(ns.path), (e) => e.joinPortChain(spec, portGuardOps(ep))), fresh(() => NftElements.open(ns.path), (e) => e.leavePortChain(spec, deletePortGuardOps(ep)))],
    ['text, fresh', fresh(() => Nft.open(ns.path), (n) => n.run(renderPortGuardChain('eth1') + text(portGuardOps(ep)))), fresh(() => Nft.open(ns.path), (n) => n.run(text(deletePortGuardOps(ep)) + `delete chain netdev switchyard ${spec.chain}\n`))],
  ];
  for (const [name, join, leave] of variants) {
    for (let i = 0; i < iterations; i++) {
      timed(`join ${name}`, join);
      timed(`leave ${name}`, leave);
    }
  }
  el.close();
  nft.close();
  console.log(`port guard, ${iterations} iterations, ms (${new Date().toISOString()})`);
  for (const [label, samples] of Object.entries(t)) console.log(label.padEnd(19), JSON.stringify(summarize(samples)));
} finally {
  removeNs(ns);
}
