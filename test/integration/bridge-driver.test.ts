/**
 * The bridge driver against the real kernel, in a throwaway "host" namespace (never the
 * machine's own) and a sandbox namespace: the links it makes are marked, and leave takes
 * the sandbox end's addresses away at once. Needs root.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { NoFirewall } from '../../src/services/firewall/no-firewall.js';
import { BridgeDriver } from '../../src/drivers/bridge.js';
import { Graveyard } from '../../src/drivers/graveyard.js';
import { parseBridgeOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { assertNoLeaks, inNs, makeNs, removeNs } from '../helpers/netns.js';
import { driverConformance } from '../helpers/driver-conformance.js';
import { kernelFixtureParts } from '../helpers/driver-kernel-fixture.js';
import { hostDriver, nullDriver } from '../../src/drivers/passive.js';
import { randomBytes } from 'node:crypto';

before(async () => {
  await warmThreadpool();
});

const NET_ID = 'ab'.repeat(32);
const net: NetworkRecord = {
  v: 1, id: NET_ID, name: 'bt', driver: 'bridge', created: '', scope: 'local', enableIPv4: true, enableIPv6: false,
  ipamDriver: 'default', ipamOptions: {}, pools: [{ subnet: '192.0.2.0/24', gateway: '192.0.2.1', userSubnet: true }],
  internal: false, attachable: false, ingress: false, options: {}, labels: {}, predefined: false,
  state: { driver: 'bridge', bridge: 'sy-bt0', options: parseBridgeOptions({}) },
};
const endpoint = (n: number): EndpointRecord => ({
  v: 1, id: `${n}`.repeat(64).slice(0, 64), networkId: NET_ID, sandboxId: 'cd'.repeat(32), ifname: `eth${n}`,
  hostLink: `syv${`${n}`.repeat(10)}`, mac: `02:00:00:00:00:0${n}`, ipv4: `192.0.2.1${n}/24`, gateway: '192.0.2.1',
  aliases: [], links: [], dnsNames: [], order: n,
});

const noFirewall = new NoFirewall(); // the driver's links are under test, not the rules

test('bridge driver: links are marked switchyard:…, and leave removes the sandbox end\'s address at once', async () => {
  const host = makeNs('brh');
  const sbx = makeNs('brs');
  const rtnl = Rtnl.open(host.path);
  // A long delay: the background deletion must not be what removes the address.
  const graveyard = new Graveyard(rtnl, Rtnl.open(host.path), () => {}, 60_000);
  const driver = new BridgeDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), firewall: noFirewall, graveyard, defaultMtu: 1500, log: () => {} });
  const sb = { id: 'cd'.repeat(32), nsPath: sbx.path };
  const addrs = () => inNs(sbx.name, 'ip', ['-o', '-4', 'addr']).stdout;
  try {
    const [e1, e2] = [endpoint(1), endpoint(2)];
    withNetns(host.path, () => {
      driver.ensureNetwork(net);
      driver.join(net, e1, sb, { gateway: true });
      driver.join(net, e2, sb, { gateway: false });
    });
    const links = rtnl.listLinks();
    const alias = (name: string) => links.find((l) => l.name === name)?.alias;
    assert.equal(alias('sy-bt0'), `switchyard:bridge:${NET_ID.slice(0, 12)}`);
    assert.equal(alias(e1.hostLink!), `switchyard:veth:${e1.id.slice(0, 12)}`);
    for (const l of links.filter((x) => x.name !== 'lo')) assert.ok(driver.ownsLink({ name: l.name, ...(l.alias ? { alias: l.alias } : {}) }), `${l.name} is recognised`);
    assert.ok(!driver.ownsLink({ name: 'sy-uplink' }), 'an unmarked link named like ours is not');
    assert.match(addrs(), / 192\.0\.2\.11\/24/);
    assert.match(addrs(), / 192\.0\.2\.12\/24/);

    // Control: what leave did before (down + rename only) leaves the address in place until
    // the slow deletion runs, so the check below is not vacuous.
    const rt = Rtnl.open(sbx.path);
    try {
      const index = rt.getLink('eth2')!.index;
      rt.setLink(index, { up: false, name: 'sydcontrol' });
    } finally {
      rt.close();
    }
    assert.match(addrs(), / 192\.0\.2\.12\/24/, 'control: a renamed, down interface keeps its address');

    withNetns(host.path, () => void driver.leave(net, e1, sb));
    assert.doesNotMatch(addrs(), / 192\.0\.2\.11\//, 'no interface in the sandbox holds the address once leave returned');
    assert.match(inNs(sbx.name, 'ip', ['-o', 'link']).stdout, /syd1111111111/, 'the interface itself goes later, in the background');
  } finally {
    await graveyard.flush();
    graveyard.close();
    rtnl.close();
    removeNs(host);
    removeNs(sbx);
  }
  assertNoLeaks([host.name, sbx.name]);
});

// ---------------------------------------------------------------------------------------
// The driver conformance suite (test/helpers/driver-conformance.ts), for each built-in driver

driverConformance('bridge driver', async () => {
  const host = makeNs('brc');
  const sandboxes: ReturnType<typeof makeNs>[] = [];
  const rtnl = Rtnl.open(host.path);
  const graveyard = new Graveyard(rtnl, Rtnl.open(host.path), () => {}, 10);
  const driver = new BridgeDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), firewall: noFirewall, graveyard, defaultMtu: 1500, log: () => {} });
  const id = randomBytes(32).toString('hex');
  const network: NetworkRecord = { ...net, id, state: driver.planNetwork({ id, name: 'bt', options: parseBridgeOptions({}), predefined: false, others: [] }) };
  return {
    driver,
    network,
    endpoint: (n) => {
      const e = endpoint(n);
      return { ...e, networkId: id, ...driver.planEndpoint(network, { id: e.id }) };
    },
    ...kernelFixtureParts({ host, rtnl, tag: 'brcs', sandboxes, join: (ep, sb) => driver.join(network, ep, sb, { gateway: false }) }),
    settle: () => graveyard.settle(),
    cleanup: async () => {
      await graveyard.flush();
      graveyard.close();
      rtnl.close();
      for (const s of sandboxes) removeNs(s);
      removeNs(host);
      assertNoLeaks([host.name, ...sandboxes.map((s) => s.name)]);
    },
  };
});

for (const make of [hostDriver, nullDriver]) {
  const why = 'host and null make no interfaces and no links (capabilities.attach is not "endpoint")';
  driverConformance(`${make().name} driver`, async () => {
    const driver = make();
    const network: NetworkRecord = { ...net, driver: driver.name, pools: [], state: driver.planNetwork({ id: NET_ID, name: driver.name, options: { driver: driver.name as 'host', enableIpv4: undefined, enableIpv6: undefined }, predefined: true, others: [] }) };
    return {
      driver, network, endpoint, sandbox: () => ({ id: 'cd'.repeat(32), nsPath: '/nonexistent' }), inHost: (fn) => fn(), hostLinks: () => [],
      halfJoin: () => {}, settle: async () => {}, cleanup: async () => {},
    };
  }, { 'join, leave, join': why, 'half-made join': why, 'owned links': why });
}
