/**
 * The drivers' own attach/detach cost, without the daemon: join + leave of one endpoint into a
 * sandbox namespace that stays, through the bridge driver and through macvlan or ipvlan, in
 * interleaved rounds, in throwaway namespaces (a host namespace whose parent is a veth to a LAN
 * namespace; each network already holds one other endpoint). Made for the VM lane, where the daemon's start-up outlasts the test helper's
 * wait under emulation: there only the bridge/ipvlan ratio means anything.
 *
 *   node dist/bench/driver-join.js [--drivers macvlan,ipvlan] [--rounds 50]
 *   ../shared/kernel-vm/kernel-vm.sh -C . -- node dist/bench/driver-join.js --drivers macvlan,ipvlan
 */
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { Rtnl } from '../src/kernel/netlink/index.js';
import { warmThreadpool, withNetns } from '../src/kernel/netns.js';
import { BridgeDriver } from '../src/drivers/bridge.js';
import { MacvlanDriver } from '../src/drivers/macvlan.js';
import { IpvlanDriver } from '../src/drivers/ipvlan.js';
import { Graveyard } from '../src/drivers/graveyard.js';
import { NoFirewall } from '../src/services/firewall/no-firewall.js';
import { parseBridgeOptions, parseIpvlanOptions, parseMacvlanOptions } from '../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord } from '../src/model/records.js';
import type { NetworkDriver } from '../src/drivers/contract.js';
import { makeNs, removeNs, sh, type TestNs } from '../test/helpers/netns.js';
import { Rounds } from './stats.js';

const { values } = parseArgs({ options: { drivers: { type: 'string', default: 'macvlan' }, rounds: { type: 'string', default: '50' } } });
const ROUNDS = Number(values.rounds);

function record(driver: NetworkDriver, id: string, options: Record<string, string>, subnet: string): NetworkRecord {
  const parsed = driver.name === 'bridge' ? parseBridgeOptions(options) : driver.name === 'macvlan' ? parseMacvlanOptions(options) : parseIpvlanOptions(options);
  return {
    v: 1, id, name: driver.name, driver: driver.name, created: '', scope: 'local', enableIPv4: true, enableIPv6: false, ipamDriver: 'default', ipamOptions: {},
    pools: [{ subnet: `${subnet}.0/24`, gateway: `${subnet}.1`, userSubnet: true }], internal: false, attachable: false, ingress: false,
    options, labels: {}, predefined: false, state: driver.planNetwork({ id, name: driver.name, options: parsed, predefined: false, others: [] }),
  };
}

const endpoint = (net: NetworkRecord, subnet: string, n: number): EndpointRecord => ({
  v: 1, id: `${n}`.repeat(64).slice(0, 64), networkId: net.id, sandboxId: 'ab'.repeat(32), ifname: `eth${n}`, mac: `02:42:0a:00:00:0${n}`,
  ipv4: `${subnet}.1${n}/24`, gateway: `${subnet}.1`, aliases: [], links: [], dnsNames: [], order: n,
  ...(net.driver === 'bridge' ? { hostLink: `syvb${n}` } : {}),
});

async function main(): Promise<void> {
  await warmThreadpool();
  const host = makeNs('djh');
  const lan = makeNs('djl');
  const sb = makeNs('djs');
  const keep = makeNs('djk');
  const rtnl = Rtnl.open(host.path);
  const graveyard = new Graveyard(rtnl, Rtnl.open(host.path), () => {}, 100);
  const opts = { rtnl, openRtnl: (p: string) => Rtnl.open(p), log: () => {} };
  const lanes: { net: NetworkRecord; ep: EndpointRecord; driver: NetworkDriver }[] = [];
  try {
    sh('ip', ['-n', host.name, 'link', 'add', 'sylan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name]);
    sh('ip', ['-n', host.name, 'link', 'set', 'sylan0', 'up']);
    const bridge = new BridgeDriver({ ...opts, firewall: new NoFirewall(), graveyard, defaultMtu: 1500 });
    const all: NetworkDriver[] = [bridge];
    for (const name of values.drivers!.split(',')) all.push(name === 'ipvlan' ? new IpvlanDriver(opts) : new MacvlanDriver(opts));
    all.forEach((driver, i) => {
      const subnet = `10.99.${i}`;
      const net = record(driver, `${i}`.repeat(64), driver.name === 'bridge' ? {} : { parent: 'sylan0' }, subnet);
      withNetns(host.path, () => driver.ensureNetwork(net));
      lanes.push({ net, ep: { ...endpoint(net, subnet, i), ...driver.planEndpoint(net, { id: `${i}`.repeat(64), ifname: `eth${i}` }) }, driver });
      // Each network already holds one other endpoint (as the daemon-level figures): its
      // bridge is up with a port, its parent already has a macvlan/ipvlan port.
      const k = { ...endpoint(net, subnet, i + 5), id: `k${i}`.repeat(32).slice(0, 64), ipv4: `${subnet}.20${i}/24`, ...(net.driver === 'bridge' ? { hostLink: `syvk${i}` } : {}) };
      withNetns(host.path, () => driver.join(net, k, { id: 'cd'.repeat(32), nsPath: keep.path }, { gateway: false }));
    });
    const r = new Rounds();
    const sandbox = { id: 'ab'.repeat(32), nsPath: sb.path };
    for (let k = 0; k < ROUNDS; k++) {
      for (const { net, ep, driver } of lanes) {
        await r.timed(`${driver.name} join`, () => withNetns(host.path, () => driver.join(net, ep, sandbox, { gateway: false })));
        await r.timed(`${driver.name} leave`, () => driver.leave(net, ep, sandbox));
        await driver.close?.();
        await graveyard.settle();
      }
    }
    const s = r.summaries();
    const inVm = process.env.SWY_KVM_GUEST === '1';
    console.log(`Driver join / leave p50 (p99) ms, ${ROUNDS} interleaved rounds, ${inVm ? 'in the VM lane (TCG)' : 'on this machine'}, kernel ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}:\n`);
    console.log('| driver | join | leave | join ratio to bridge |\n|---|---|---|---|');
    const base = s['bridge join']!.p50;
    for (const d of all) console.log(`| ${d.name} | ${s[`${d.name} join`]!.p50} (${s[`${d.name} join`]!.p99}) | ${s[`${d.name} leave`]!.p50} (${s[`${d.name} leave`]!.p99}) | ${(s[`${d.name} join`]!.p50 / base).toFixed(2)}× |`);
    for (const { net, driver } of lanes) await driver.deleteNetwork(net);
  } finally {
    graveyard.close();
    rtnl.close();
    for (const ns of [sb, keep, host, lan] as TestNs[]) removeNs(ns);
  }
}

await main();
