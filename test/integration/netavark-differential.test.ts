/**
 * Differential: the same NetworkOptions (captured from Podman 4.3.1, test/fixtures/netavark/)
 * through Debian's netavark 1.4.0 and through ours (libexec/netavark → a real daemon), exec'd
 * the way Podman execs netavark: `--config DIR --rootless=false --aardvark-binary=PATH
 * setup|teardown NETNS` with the options on stdin, each in a host namespace of its own.
 * StatusBlocks have the same shape and the same addresses and gateways, the namespaces end
 * up with the same addresses and routes, errors are `{"error": …}` on stdout with a non-zero
 * exit for both, and after teardown neither leaves a link behind. Documented differences
 * (docs/frontends/netavark.md): the resolver (127.0.0.11, no dns.podman search domain) and
 * idempotence (a repeated setup or teardown succeeds with us, fails with netavark 1.4).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNoLeaks, inNs, makeNs, removeNs, waitFor, type TestNs } from '../helpers/netns.js';

const DEBIAN_NETAVARK = '/usr/lib/podman/netavark';
const OURS = path.join(REPO, 'libexec', 'netavark');
const SH_FALLBACK = path.join(REPO, 'libexec', 'netavark.sh');
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'netavark');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const present = fs.existsSync(DEBIAN_NETAVARK);

interface Run { code: number; out: any; raw: string; stderr: string }

function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}
const noSearch = (m: Record<string, any>) => Object.fromEntries(Object.entries(m).map(([k, b]) => [k, { ...b, dns_search_domains: [] }]));

describe('netavark drop-in against Debian netavark 1.4 (differential)', { skip: !present && `${DEBIAN_NETAVARK} is not installed (scripts/install.sh)` }, () => {
  let d: TestDaemon;
  let refHost: TestNs;
  let conf: string;
  const spaces: TestNs[] = [];
  const ns = (tag: string): TestNs => {
    const n = makeNs(tag);
    spaces.push(n);
    return n;
  };

  function call(which: 'ref' | 'ours', args: string[], stdin: string): Run {
    const host = which === 'ref' ? refHost : d.host;
    const bin = which === 'ref' ? DEBIAN_NETAVARK : OURS;
    const r = spawnSync('nsenter', [`--net=${host.path}`, '--', bin, '--config', conf, '--rootless=false', '--aardvark-binary=/nonexistent/aardvark-dns', ...args], {
      input: stdin, encoding: 'utf8', timeout: 30_000, env: { ...process.env, SWITCHYARD_NETAVARK_SOCKET: d.socket },
    });
    let out: any;
    try {
      out = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
    } catch {
      out = undefined;
    }
    return { code: r.status ?? -1, out, raw: r.stdout, stderr: r.stderr };
  }
  const addrs = (n: TestNs, dev: string) => inNs(n.name, 'ip', ['-o', 'addr', 'show', 'dev', dev, 'scope', 'global']).stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[3]).sort();
  const routes = (n: TestNs) => inNs(n.name, 'ip', ['-4', 'route', 'show']).stdout.replace(/\s+proto \w+|\s+metric \d+|\s+linkdown/g, '').trim().split('\n').sort();

  before(async () => {
    d = await startDaemon({ tag: 'nvd' });
    refHost = makeNs('nvref');
    conf = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-nvconf-'));
  });
  after(async () => {
    await d?.stop();
    removeNs(refHost);
    for (const n of spaces) removeNs(n);
    fs.rmSync(conf, { recursive: true, force: true });
    assertNoLeaks([refHost.name, ...spaces.map((n) => n.name)]);
  });

  for (const name of ['setup-port', 'setup-two-networks', 'setup-ipv6-udp-range']) {
    test(`${name}: same StatusBlock shape, addresses, gateways; same namespace state; teardown leaves nothing`, async () => {
      const options = fixture(`${name}.options.json`);
      const [rc, oc] = [ns('nvrc'), ns('nvoc')];
      const ref = call('ref', ['setup', rc.path], options);
      const ours = call('ours', ['setup', oc.path], options);
      assert.equal(ref.code, 0, ref.raw + ref.stderr);
      assert.equal(ours.code, 0, ours.raw + ours.stderr);
      assert.deepEqual(shape(ours.out), shape(noSearch(ref.out)));
      assert.deepEqual(Object.keys(ours.out).sort(), Object.keys(ref.out).sort(), 'one StatusBlock per network');
      for (const [net, block] of Object.entries(ref.out as Record<string, any>)) {
        for (const [ifname, iface] of Object.entries(block.interfaces as Record<string, any>)) {
          const mine = ours.out[net].interfaces[ifname];
          assert.deepEqual(mine.subnets, iface.subnets, `${net} ${ifname}`);
          assert.match(mine.mac_address, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
          assert.deepEqual(addrs(oc, ifname), addrs(rc, ifname), `${ifname}: the same addresses in the namespace`);
          assert.match(inNs(oc.name, 'ip', ['-o', 'link', 'show', ifname]).stdout, new RegExp(`link/ether ${mine.mac_address}`), 'the MAC reported is the interface MAC');
        }
        assert.deepEqual(ours.out[net].dns_server_ips, ['127.0.0.11'], 'our resolver: the embedded DNS in the namespace');
      }
      assert.deepEqual(routes(oc), routes(rc), 'the same IPv4 routes');
      const refTd = call('ref', ['teardown', rc.path], options);
      const ourTd = call('ours', ['teardown', oc.path], options);
      assert.deepEqual([refTd.code, refTd.raw], [0, ''], refTd.stderr);
      assert.deepEqual([ourTd.code, ourTd.raw], [0, ''], ourTd.stderr);
      // The daemon renames a veth it removes and deletes it just after (its teardown does not
      // wait for the kernel): give that a moment.
      await waitFor(() => inNs(oc.name, 'ip', ['-o', 'link', 'show']).stdout.split('\n').filter(Boolean).length === 1 || undefined, 'only lo left in the container namespace');
      await waitFor(() => !/podman\d|syv|syd/.test(d.onHost('ip', ['-o', 'link', 'show']).stdout) || undefined, 'the bridge and the veths gone from the host (complete teardown)');
      assert.doesNotMatch(d.cli(['network', 'ls', '--filter', 'label=com.switchyard.origin=podman', '-q']).stdout, /\S/, 'no Podman network left in Switchyard');
    });
  }

  test('macvlan: the same options (parent, mode, a given address) through both; same StatusBlock, same namespace state; teardown leaves nothing', async () => {
    // The parent: a veth (up) of the same name in each system's host namespace.
    const parent = 'swymvp0';
    for (const host of [refHost.name, d.host.name]) {
      inNs(host, 'ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', `${parent}p`]);
      inNs(host, 'ip', ['link', 'set', parent, 'up']);
      inNs(host, 'ip', ['link', 'set', `${parent}p`, 'up']);
    }
    const options = JSON.stringify({
      container_id: 'ab'.repeat(32), container_name: 'mv1',
      networks: { swymv: { static_ips: ['10.94.0.5'], aliases: ['mvalias'], interface_name: 'eth0' } },
      network_info: { swymv: {
        name: 'swymv', id: 'cd'.repeat(32), driver: 'macvlan', network_interface: parent,
        subnets: [{ subnet: '10.94.0.0/24', gateway: '10.94.0.1' }], ipv6_enabled: false, internal: false, dns_enabled: false,
        options: { mode: 'private' }, ipam_options: { driver: 'host-local' },
      } },
    });
    const [rc, oc] = [ns('nvmvr'), ns('nvmvo')];
    const ref = call('ref', ['setup', rc.path], options);
    const ours = call('ours', ['setup', oc.path], options);
    assert.equal(ref.code, 0, ref.raw + ref.stderr);
    assert.equal(ours.code, 0, ours.raw + ours.stderr);
    assert.deepEqual(shape(ours.out), shape(noSearch(ref.out)));
    assert.deepEqual(ours.out.swymv.interfaces.eth0.subnets, ref.out.swymv.interfaces.eth0.subnets);
    assert.deepEqual(ours.out.swymv.dns_server_ips, ref.out.swymv.dns_server_ips, 'DNS off: the container dns_servers (none), as netavark');
    assert.deepEqual(addrs(oc, 'eth0'), addrs(rc, 'eth0'), 'the same addresses in the namespace');
    assert.deepEqual(routes(oc), routes(rc), 'the same IPv4 routes');
    const kind = (n: TestNs) => /macvlan mode (\w+)/.exec(inNs(n.name, 'ip', ['-d', 'link', 'show', 'eth0']).stdout)?.[1];
    assert.equal(kind(rc), 'private', 'netavark: a macvlan in private mode');
    assert.equal(kind(oc), kind(rc), 'ours: the same');
    assert.match(inNs(oc.name, 'ip', ['-o', 'link', 'show', 'eth0']).stdout, new RegExp(`link/ether ${ours.out.swymv.interfaces.eth0.mac_address}`));
    const net = JSON.parse(d.cli(['network', 'inspect', 'swymv']).stdout)[0];
    assert.equal(net.Driver, 'macvlan');
    assert.equal(net.Options.parent, parent);
    const refTd = call('ref', ['teardown', rc.path], options);
    const ourTd = call('ours', ['teardown', oc.path], options);
    assert.deepEqual([refTd.code, refTd.raw], [0, ''], refTd.stderr);
    assert.deepEqual([ourTd.code, ourTd.raw], [0, ''], ourTd.stderr);
    for (const c of [rc, oc]) {
      await waitFor(() => inNs(c.name, 'ip', ['-o', 'link', 'show']).stdout.split('\n').filter(Boolean).length === 1 || undefined, `only lo left in ${c.name}`);
    }
    assert.doesNotMatch(d.cli(['network', 'ls', '--filter', 'label=com.switchyard.origin=podman', '-q']).stdout, /\S/, 'no Podman network left in Switchyard');
    for (const host of [refHost.name, d.host.name]) inNs(host, 'ip', ['link', 'del', parent]);
  });

  test("published ports are booked, not bound: the runtime's own bind succeeds (Podman holds them itself)", () => {
    const options = fixture('setup-port.options.json'); // host port 18080
    const c = ns('nvport');
    const canBind = (port: number) => d.onHost('python3', ['-c', `import socket; s=socket.socket(); s.bind(("0.0.0.0", ${port})); s.listen()`], { allowFail: true }).status === 0;
    assert.equal(call('ours', ['setup', c.path], options).code, 0);
    try {
      assert.ok(canBind(18080), 'Podman (conmon) can bind the host port it published');
      assert.match(d.onHost('nft', ['list', 'ruleset']).stdout, /18080/, 'and the DNAT element is there');
      // Control: a Switchyard sandbox's published port is held by the daemon's socket.
      d.cli(['run', '-d', '--name', 'nvportctl', '-p', '18081:80', '--', 'sleep', 'infinity']);
      assert.ok(!canBind(18081), 'control: a port the daemon holds cannot be bound');
      d.cli(['rm', '-f', 'nvportctl']);
    } finally {
      call('ours', ['teardown', c.path], options);
    }
    assert.doesNotMatch(d.onHost('nft', ['list', 'ruleset']).stdout, /18080/, 'teardown removed the element');
  });

  test('errors: {"error": …} on stdout and a non-zero exit, for both', () => {
    const options = fixture('setup-port.options.json');
    const c = ns('nverr');
    const cases: [string, string[], string][] = [
      ['stdin is not JSON', ['setup', c.path], 'garbage'],
      ['the namespace does not exist', ['setup', '/run/netns/swy-no-such-ns'], options],
      ['a network option of the wrong type', ['setup', c.path], options.replace('"internal":false', '"internal":"no"')],
    ];
    for (const [what, args, stdin] of cases) {
      for (const which of ['ref', 'ours'] as const) {
        const r = call(which, args, stdin);
        assert.equal(r.code, 1, `${which}: ${what}: ${r.raw}`);
        assert.deepEqual(Object.keys(r.out ?? {}), ['error'], `${which}: ${what}: ${r.raw}`);
        assert.equal(typeof r.out.error, 'string');
      }
    }
    assert.equal(inNs(c.name, 'ip', ['-o', 'link', 'show']).stdout.split('\n').filter(Boolean).length, 1, 'nothing was set up');
  });

  test('version and --version answer like netavark 1.4', () => {
    const ref = spawnSync(DEBIAN_NETAVARK, ['version'], { encoding: 'utf8' });
    const ours = spawnSync(OURS, ['version'], { encoding: 'utf8' });
    assert.deepEqual(Object.keys(JSON.parse(ours.stdout)), Object.keys(JSON.parse(ref.stdout)));
    assert.match(spawnSync(OURS, ['--version'], { encoding: 'utf8' }).stdout, /^netavark \d+\.\d+\.\d+\n$/);
  });

  test('idempotence (ours): a repeated setup answers the same, a repeated teardown succeeds', () => {
    const options = fixture('setup-two-networks.options.json');
    const c = ns('nvid');
    const a = call('ours', ['setup', c.path], options);
    const b = call('ours', ['setup', c.path], options);
    assert.equal(a.code, 0, a.raw);
    assert.deepEqual(b.out, a.out);
    assert.equal(call('ours', ['teardown', c.path], options).code, 0);
    const again = call('ours', ['teardown', c.path], options);
    assert.deepEqual([again.code, again.raw], [0, '']);
  });

  test('the daemon unreachable: {"error": …} and exit 1', () => {
    for (const bin of [OURS, SH_FALLBACK]) {
      const r = spawnSync(bin, ['setup', '/run/netns/x'], { input: '{}', encoding: 'utf8', env: { ...process.env, SWITCHYARD_NETAVARK_SOCKET: '/nonexistent.sock' } });
      assert.equal(r.status, 1, bin);
      assert.match(JSON.parse(r.stdout).error, /not reachable/, bin);
    }
  });

  test('the sh + curl fallback (libexec/netavark.sh) answers as the compiled forwarder does', () => {
    const options = fixture('setup-port.options.json');
    const env = { ...process.env, SWITCHYARD_NETAVARK_SOCKET: d.socket };
    const run = (bin: string, args: string[], input = '') => spawnSync('nsenter', [`--net=${d.host.path}`, '--', bin, '--config', conf, ...args], { input, encoding: 'utf8', env, timeout: 30_000 });
    assert.equal(run(SH_FALLBACK, ['version']).stdout, run(OURS, ['version']).stdout);
    assert.equal(run(SH_FALLBACK, ['--version']).stdout, run(OURS, ['--version']).stdout);
    const c = ns('nvsh');
    const viaSh = run(SH_FALLBACK, ['setup', c.path], options);
    assert.equal(viaSh.status, 0, viaSh.stdout + viaSh.stderr);
    const viaC = run(OURS, ['setup', c.path], options); // idempotent: the same answer
    assert.deepEqual(JSON.parse(viaC.stdout), JSON.parse(viaSh.stdout));
    const bad = [run(SH_FALLBACK, ['setup', c.path], 'garbage'), run(OURS, ['setup', c.path], 'garbage')];
    assert.deepEqual(bad.map((r) => [r.status, Object.keys(JSON.parse(r.stdout))]), [[1, ['error']], [1, ['error']]]);
    assert.equal(JSON.parse(bad[0]!.stdout).error, JSON.parse(bad[1]!.stdout).error, "the daemon's message, through either");
    assert.deepEqual([run(SH_FALLBACK, ['teardown', c.path], options).status, run(OURS, ['teardown', c.path], options).status], [0, 0]);
  });
});
