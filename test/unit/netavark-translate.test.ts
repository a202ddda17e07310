/**
 * The netavark front end's translation (src/frontends/netavark/) against netavark's real JSON:
 * the NetworkOptions Podman 4.3.1 sent to Debian's netavark 1.4.0 and the StatusBlocks it
 * answered (test/fixtures/netavark/, captured through a logging wrapper in Podman's
 * helper_binaries_dir; docs/frontends/netavark.md "Fixtures").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { networkOptionsOf, parseNetworkOptions } from '../../src/frontends/netavark/network-options.js';
import { createRequestOf, isPodmanNetwork, ORIGIN_LABEL } from '../../src/frontends/netavark/podman-network.js';
import { portBindingsOf } from '../../src/frontends/netavark/port-mappings.js';
import { statusBlockOf } from '../../src/frontends/netavark/status-block.js';
import { validateNetworkCreate } from '../../src/model/network-spec.js';
import { SwitchyardError } from '../../src/errors.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/netavark');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const CAPTURED = ['setup-port', 'setup-two-networks', 'setup-ipv6-udp-range', 'reload-setup-static-mac'];

/** The shape of a JSON value: objects by key (map keys kept), arrays by their first element. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}

test('Podman 4.3 NetworkOptions parse: names, ifnames (eth0 first), static IPs, MAC, aliases, ports', () => {
  const two = parseNetworkOptions(fixture('setup-two-networks.options.json'));
  assert.equal(two.containerName, 'two');
  assert.match(two.containerId, /^[0-9a-f]{64}$/);
  assert.deepEqual(two.networks.map((n) => [n.network, n.ifname, n.staticIps]), [['swynetA', 'eth0', ['10.89.0.3']], ['swyint', 'eth1', ['10.89.1.2']]]);
  assert.equal(two.info.get('swyint')!.internal, true);
  assert.equal(two.info.get('swynetA')!.networkInterface, 'podman1');
  const mac = parseNetworkOptions(fixture('reload-setup-static-mac.options.json'));
  assert.equal(mac.networks[0]!.staticMac, '32:b4:dc:13:c6:57', 'podman network reload sends the MAC back');
  assert.deepEqual(mac.networks[0]!.aliases, ['websvc', '33b774953111']);
  const six = parseNetworkOptions(fixture('setup-ipv6-udp-range.options.json'));
  assert.deepEqual(six.networks[0]!.staticIps, ['10.89.7.2', 'fd00:89:7::2']);
  assert.deepEqual(six.portMappings, [{ hostIp: '', containerPort: 81, hostPort: 18081, protocol: 'udp', range: 2 }]);
});

test('networks as an array of {name, …} (newer Podman) parse the same as the map', () => {
  const raw = JSON.parse(fixture('setup-two-networks.options.json'));
  const asArray = { ...raw, networks: Object.entries(raw.networks).map(([name, v]) => ({ name, ...(v as object) })) };
  const a = networkOptionsOf(raw);
  const b = networkOptionsOf(asArray);
  assert.deepEqual(b.networks, a.networks);
});

test('each captured Podman network becomes a valid Switchyard create request, marked by origin', () => {
  for (const name of CAPTURED) {
    const opts = parseNetworkOptions(fixture(`${name}.options.json`));
    for (const n of opts.info.values()) {
      const spec = validateNetworkCreate(createRequestOf(n));
      assert.equal(spec.name, n.name);
      assert.equal(spec.driver, 'bridge');
      assert.equal(spec.internal, n.internal);
      assert.equal(spec.enableIPv6, n.ipv6Enabled);
      assert.equal(spec.options['com.docker.network.bridge.name'], n.networkInterface);
      assert.deepEqual(spec.ipam.config.map((c) => c.family), n.subnets.map((s) => (s.subnet.includes(':') ? 6 : 4)));
      assert.equal(spec.labels[ORIGIN_LABEL], 'podman');
      assert.ok(isPodmanNetwork(spec.labels, n));
      assert.ok(!isPodmanNetwork(spec.labels, { ...n, id: 'f'.repeat(64) }), 'another Podman network of that name is told apart');
      assert.ok(!isPodmanNetwork({}, n), "Switchyard's own networks are not Podman's");
    }
  }
});

test('port_mappings: range and protocol lists expand, host_ip "" is every address', () => {
  assert.deepEqual(portBindingsOf([{ hostIp: '', containerPort: 81, hostPort: 18081, protocol: 'udp', range: 2 }]), [
    { containerPort: 81, proto: 'udp', hostIp: '', hostPort: 18081 },
    { containerPort: 82, proto: 'udp', hostIp: '', hostPort: 18082 },
  ]);
  assert.deepEqual(portBindingsOf([{ hostIp: '127.0.0.1', containerPort: 80, hostPort: 8080, protocol: 'tcp,udp', range: 1 }]).map((b) => `${b.hostIp}:${b.hostPort}/${b.proto}`), ['127.0.0.1:8080/tcp', '127.0.0.1:8080/udp']);
  assert.throws(() => portBindingsOf([{ hostIp: 'nope', containerPort: 80, hostPort: 8080, protocol: 'tcp', range: 1 }]), /host_ip/);
  assert.throws(() => portBindingsOf([{ hostIp: '', containerPort: 80, hostPort: 8080, protocol: 'icmp', range: 1 }]), /protocol/);
  assert.throws(() => portBindingsOf([{ hostIp: '', containerPort: 80, hostPort: 65535, protocol: 'tcp', range: 2 }]), /range/);
});

test("StatusBlocks have netavark 1.4's shape, per network; addresses and gateways as netavark reports them", () => {
  for (const name of CAPTURED) {
    const opts = parseNetworkOptions(fixture(`${name}.options.json`));
    const real = JSON.parse(fixture(`${name}.status.json`)) as Record<string, any>;
    const ours: Record<string, unknown> = {};
    for (const per of opts.networks) {
      const n = opts.info.get(per.network)!;
      const prefixOf = (ip: string) => n.subnets.find((s) => s.subnet.includes(':') === ip.includes(':'))!.subnet.split('/')[1];
      ours[per.network] = statusBlockOf(opts, n, {
        sandboxId: opts.containerId, networkId: 'x', network: n.name, ifname: per.ifname, mac: '02:42:0a:00:00:02',
        addresses: per.staticIps.map((ip) => `${ip}/${prefixOf(ip)}`), gateways: [], dns: { nameservers: ['127.0.0.11'] },
      });
    }
    // dns_search_domains is [] in ours (netavark >= 1.15 does the same): see the assertions below.
    const noSearch = (m: Record<string, any>) => Object.fromEntries(Object.entries(m).map(([k, b]) => [k, { ...b, dns_search_domains: [] }]));
    assert.deepEqual(shape(ours), shape(noSearch(real)), name);
    for (const [net, block] of Object.entries(real)) {
      const mine = ours[net] as any;
      for (const [ifname, iface] of Object.entries(block.interfaces as Record<string, any>)) {
        assert.deepEqual(mine.interfaces[ifname].subnets, iface.subnets, `${name} ${net} ${ifname}: ipnet and gateway as netavark`);
      }
      // Deliberate differences (docs/frontends/netavark.md): the resolver is the embedded DNS.
      assert.deepEqual(mine.dns_server_ips, ['127.0.0.11']);
      assert.deepEqual(mine.dns_search_domains, []);
    }
  }
});

test('a network without DNS answers the container dns_servers, as netavark does', () => {
  const raw = JSON.parse(fixture('setup-port.options.json'));
  raw.network_info.swynetA.dns_enabled = false;
  raw.dns_servers = ['192.0.2.53'];
  const opts = networkOptionsOf(raw);
  const b = statusBlockOf(opts, opts.info.get('swynetA')!, { sandboxId: 'c', networkId: 'x', network: 'swynetA', ifname: 'eth0', mac: 'm', addresses: ['10.89.0.2/24'], gateways: [] });
  assert.deepEqual(b.dns_server_ips, ['192.0.2.53']);
});

test('bad input is a coded error naming the field', () => {
  const cases: [string, RegExp][] = [
    ['not json', /failed to load network options/],
    ['[]', /must be a JSON object/],
    ['{"container_id":"c","container_name":"n","network_info":{}}', /networks: missing field/],
    ['{"container_id":"c","container_name":"n","networks":{"a":{"interface_name":"eth0"}},"network_info":{}}', /no network_info for network a/],
    ['{"container_name":"n","networks":{},"network_info":{}}', /container_id: missing field/],
    ['{"container_id":"c","container_name":"n","networks":{},"network_info":{},"port_mappings":[{"container_port":0,"host_port":1,"protocol":"tcp","range":1}]}', /container_port/],
  ];
  for (const [text, msg] of cases) {
    assert.throws(() => parseNetworkOptions(text), (e: unknown) => e instanceof SwitchyardError && e.code === 'NETAVARK_BAD_OPTIONS' && msg.test(e.message), text);
  }
  const opts = parseNetworkOptions(fixture('setup-port.options.json'));
  const n = opts.info.get('swynetA')!;
  const unsupported = (e: unknown) => e instanceof SwitchyardError && e.code === 'NETAVARK_UNSUPPORTED';
  assert.throws(() => createRequestOf({ ...n, driver: 'ipvlan' }), (e: unknown) => unsupported(e) && /ipvlan/.test((e as Error).message));
  assert.throws(() => createRequestOf({ ...n, driver: 'some-plugin' }), unsupported);
  assert.throws(() => createRequestOf({ ...n, ipamDriver: 'dhcp' }), unsupported);
  const { networkInterface: _parent, ...noParent } = n;
  assert.throws(() => createRequestOf({ ...noParent, driver: 'macvlan' }), (e: unknown) => unsupported(e) && /network_interface.*parent/.test((e as Error).message));
  assert.throws(() => createRequestOf({ ...n, driver: 'macvlan', options: { mode: 'l3' } }), (e: unknown) => e instanceof SwitchyardError && e.code === 'NETAVARK_BAD_OPTIONS' && /options\.mode/.test(e.message));
});

test("a Podman macvlan network becomes Switchyard's macvlan: parent, mode, subnets, origin labels", () => {
  const n = parseNetworkOptions(fixture('setup-port.options.json')).info.get('swynetA')!;
  const mv = { ...n, driver: 'macvlan', networkInterface: 'eth1', options: { mode: 'private', mtu: '1400' } };
  const req = createRequestOf(mv);
  assert.equal(req.Driver, 'macvlan');
  assert.deepEqual(req.Options, { parent: 'eth1', macvlan_mode: 'private', 'com.docker.network.driver.mtu': '1400' });
  assert.deepEqual(req.IPAM, { Driver: 'default', Config: [{ Subnet: '10.89.0.0/24', Gateway: '10.89.0.1' }] });
  assert.ok(isPodmanNetwork(req.Labels as Record<string, string>, mv));
  assert.equal((createRequestOf({ ...mv, options: {} }).Options as Record<string, string>)['macvlan_mode'], 'bridge', "netavark's default mode");
  assert.ok(validateNetworkCreate(req), 'the request passes the engine validation');
});
