/**
 * The kernel half of a driver conformance fixture (test/helpers/driver-conformance.ts) for
 * drivers whose interface appears inside the sandbox under its final name (bridge, macvlan):
 * throwaway sandbox namespaces, running a step inside the test's host namespace, the host's
 * links, and a half-made join (the interface exists, down and without addresses, as after a
 * crash between creating and configuring it).
 */
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { withNetns } from '../../src/kernel/netns.js';
import type { EndpointRecord } from '../../src/model/records.js';
import type { DriverFixture } from './driver-conformance.js';
import { makeNs, type TestNs } from './netns.js';

export function kernelFixtureParts(o: {
  host: TestNs;
  rtnl: Rtnl;
  /** makeNs tag of the sandboxes; each made one is pushed to `sandboxes` for clean-up. */
  tag: string;
  sandboxes: TestNs[];
  /** The driver's join without a gateway, run in the host namespace. */
  join: (ep: EndpointRecord, sb: { id: string; nsPath: string }) => void;
}): Pick<DriverFixture, 'sandbox' | 'inHost' | 'hostLinks' | 'halfJoin'> {
  return {
    sandbox: () => {
      const s = makeNs(o.tag);
      o.sandboxes.push(s);
      return { id: 'cd'.repeat(32), nsPath: s.path };
    },
    inHost: <T>(fn: () => T): T => {
      let out: T;
      withNetns(o.host.path, () => void (out = fn()));
      return out!;
    },
    hostLinks: () => o.rtnl.listLinks().filter((l) => l.name !== 'lo').map((l) => ({ name: l.name, ...(l.alias ? { alias: l.alias } : {}), ...(l.group !== undefined ? { group: l.group } : {}) })),
    halfJoin: (ep, sb) => {
      o.join(ep, sb);
      const rt = Rtnl.open(sb.nsPath);
      try {
        const link = rt.getLink(ep.ifname)!;
        rt.setLink(link.index, { up: false });
        for (const a of rt.listAddresses(link.index)) rt.deleteAddress(link.index, a.cidr);
      } finally {
        rt.close();
      }
    },
  };
}
