/**
 * Isolation between sandboxes, proven with real traffic (docs/SECURITY.md):
 * - an N×N reachability matrix (ping and TCP) over every kind of bridge network;
 * - internal networks reach nothing outside, and nothing outside reaches them;
 * - anti-spoofing: a sandbox cannot send with another sandbox's IPv4, IPv6 (global or
 *   link-local) or MAC, nor poison the gateway's ARP cache or anyone's IPv6 neighbour cache
 *   with a neighbour advertisement; legitimate traffic still flows. Each spoof is also
 *   replayed with the anti-spoofing table removed, to show the probe would notice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eui64LinkLocal } from '../../src/services/firewall/ruleset.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { ALL_NODES, naArgs, raArgs, udpArgs } from '../helpers/ipv6-frames.js';
import { makeNs, removeNs, sh, waitFor, type TestNs } from '../helpers/netns.js';

interface NetView { IPAddress: string; GlobalIPv6Address: string; MacAddress: string; Gateway: string; IPv6Gateway: string }
interface Inspected { NetworkSettings: { SandboxKey: string; Networks: Record<string, NetView> } }

/** Runs a command without blocking the event loop; resolves with status and stdout. */
function runAsync(cmd: string, args: string[], timeoutMs = 6000): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ status: code ?? -1, stdout: out });
    });
  });
}

// name → [network, ICC on, internal]
const NETWORKS: Record<string, { args: string[]; icc: boolean; internal: boolean }> = {
  bridge: { args: [], icc: true, internal: false },
  usera: { args: ['--subnet', '10.201.0.0/24'], icc: true, internal: false },
  userb: { args: ['--subnet', '10.202.0.0/24'], icc: true, internal: false },
  inner: { args: ['--internal', '--subnet', '10.203.0.0/24'], icc: true, internal: true },
  noicc: { args: ['-o', 'com.docker.network.bridge.enable_icc=false', '--subnet', '10.204.0.0/24'], icc: false, internal: false },
};

describe('network policy (security)', () => {
  let d: TestDaemon;
  let ext: TestNs;
  let tmp: string;
  const procs: ChildProcess[] = [];
  const sandboxes: { name: string; net: string }[] = [];
  const inspect = (name: string): Inspected => JSON.parse(d.cli(['inspect', name]).stdout)[0];
  const view = (name: string, net: string): NetView => inspect(name).NetworkSettings.Networks[net]!;
  const key = (name: string): string => inspect(name).NetworkSettings.SandboxKey;

  before(async () => {
    d = await startDaemon({ tag: 'secnet' });
    tmp = fs.mkdtempSync(path.join(d.root, 'probe-'));
    for (const [net, spec] of Object.entries(NETWORKS)) {
      if (net !== 'bridge') d.cli(['network', 'create', ...spec.args, net]);
      for (const i of [1, 2]) {
        const name = `${net}${i}`;
        d.cli(['run', '-d', '--name', name, '--network', net, '--', 'socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:echo reached']);
        sandboxes.push({ name, net });
      }
    }
    // An "outside" namespace joined to the host by a veth: 192.0.2.1 (host) — 192.0.2.2 (outside).
    ext = makeNs('secext');
    const veth = `syx${ext.name.slice(-6)}`;
    d.onHost('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'syxpeer', 'netns', ext.path]);
    d.onHost('ip', ['addr', 'add', '192.0.2.1/24', 'dev', veth]);
    d.onHost('ip', ['link', 'set', veth, 'up']);
    sh('ip', ['-n', ext.name, 'addr', 'add', '192.0.2.2/24', 'dev', 'syxpeer']);
    sh('ip', ['-n', ext.name, 'link', 'set', 'syxpeer', 'up']);
    sh('ip', ['-n', ext.name, 'route', 'add', 'default', 'via', '192.0.2.1']);
    const listener = spawn('nsenter', [`--net=${ext.path}`, '--', 'socat', 'TCP-LISTEN:8000,fork,reuseaddr', 'SYSTEM:echo outside'], { stdio: 'ignore' });
    procs.push(listener);
    await waitFor(() => sh('ip', ['netns', 'exec', ext.name, 'ss', '-Htln']).stdout.includes(':8000'), 'outside listener');
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    if (ext) removeNs(ext);
    await d?.stop();
  });

  test('N×N reachability matrix matches the policy exactly', async () => {
    const probes: Promise<{ from: string; to: string; ping: boolean; tcp: boolean; want: boolean }>[] = [];
    const info = new Map(sandboxes.map((s) => [s.name, { key: key(s.name), ip: view(s.name, s.net).IPAddress }]));
    for (const a of sandboxes) {
      for (const b of sandboxes) {
        if (a === b) continue;
        const same = a.net === b.net;
        const want = same && NETWORKS[a.net]!.icc;
        const from = info.get(a.name)!;
        const to = info.get(b.name)!;
        probes.push((async () => {
          const [ping, tcp] = await Promise.all([
            runAsync('nsenter', [`--net=${from.key}`, '--', 'ping', '-c3', '-i0.2', '-W1', to.ip]),
            runAsync('nsenter', [`--net=${from.key}`, '--', 'socat', '-T2', '-', `TCP:${to.ip}:7000,connect-timeout=2`]),
          ]);
          return { from: a.name, to: b.name, ping: ping.status === 0, tcp: tcp.stdout.includes('reached'), want };
        })());
      }
    }
    const results = await Promise.all(probes);
    const wrong = results.filter((r) => r.ping !== r.want || r.tcp !== r.want);
    console.log(`reachability matrix: ${sandboxes.length}×${sandboxes.length} sandboxes, ${results.length} ordered pairs × (ping, TCP) = ${results.length * 2} probes; ${results.filter((r) => r.want).length} pairs allowed`);
    assert.deepEqual(wrong, [], 'pairs whose reachability differs from the policy');

    // Every member reaches its own gateway, ICC off and internal included.
    const gw = await Promise.all(sandboxes.map(async (s) => ({
      name: s.name,
      ok: (await runAsync('nsenter', [`--net=${info.get(s.name)!.key}`, '--', 'ping', '-c3', '-i0.2', '-W1', view(s.name, s.net).Gateway])).status === 0,
    })));
    assert.deepEqual(gw.filter((g) => !g.ok), [], 'gateway unreachable');
  });

  test('an internal network reaches nothing outside, and nothing outside reaches it', async () => {
    const probe = (nsPath: string, ip: string, port: number) =>
      Promise.all([
        runAsync('nsenter', [`--net=${nsPath}`, '--', 'ping', '-c3', '-i0.2', '-W1', ip]).then((r) => r.status === 0),
        runAsync('nsenter', [`--net=${nsPath}`, '--', 'socat', '-T2', '-', `TCP:${ip}:${port},connect-timeout=2`]).then((r) => r.stdout.includes('outside') || r.stdout.includes('reached')),
      ]);
    // Control: a user network does reach the outside namespace (masqueraded), so the path works.
    assert.deepEqual(await probe(key('usera1'), '192.0.2.2', 8000), [true, true]);
    // The internal sandbox, even with a route forced through its gateway.
    const inner = key('inner1');
    d.inSandbox(inner, 'ip', ['route', 'add', '192.0.2.0/24', 'via', view('inner1', 'inner').Gateway]);
    assert.deepEqual(await probe(inner, '192.0.2.2', 8000), [false, false]);
    // The other way: the outside namespace routes to the internal subnet via the host.
    sh('ip', ['-n', ext.name, 'route', 'add', '10.203.0.0/24', 'via', '192.0.2.1']);
    assert.deepEqual(await probe(ext.path, view('inner1', 'inner').IPAddress, 7000), [false, false]);
  });

  test('forwarding: the host does not route between two uplinks, sandbox traffic still flows (the not-a-router guard)', async () => {
    // A second "uplink" namespace: 198.51.100.1 (host) — 198.51.100.2, each side routing to the other via the host.
    const up2 = makeNs('secup2');
    const veth = `syy${up2.name.slice(-6)}`;
    try {
      d.onHost('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'syypeer', 'netns', up2.path]);
      d.onHost('ip', ['addr', 'add', '198.51.100.1/24', 'dev', veth]);
      d.onHost('ip', ['link', 'set', veth, 'up']);
      sh('ip', ['-n', up2.name, 'addr', 'add', '198.51.100.2/24', 'dev', 'syypeer']);
      sh('ip', ['-n', up2.name, 'link', 'set', 'syypeer', 'up']);
      sh('ip', ['-n', up2.name, 'route', 'add', 'default', 'via', '198.51.100.1']);
      const listener = spawn('nsenter', [`--net=${up2.path}`, '--', 'socat', 'TCP-LISTEN:8001,fork,reuseaddr', 'SYSTEM:echo uplink2'], { stdio: 'ignore' });
      procs.push(listener);
      await waitFor(() => sh('ip', ['netns', 'exec', up2.name, 'ss', '-Htln']).stdout.includes(':8001'), 'uplink2 listener');
      // The daemon turned forwarding on for its first network (it was off in its fresh namespace).
      assert.equal(d.onHost('sysctl', ['-n', 'net.ipv4.ip_forward']).stdout.trim(), '1');
      const routed = async () => (await runAsync('nsenter', [`--net=${ext.path}`, '--', 'socat', '-T2', '-', 'TCP:198.51.100.2:8001,connect-timeout=2'])).stdout.includes('uplink2');
      assert.equal(await routed(), false, 'uplink to uplink through the host');
      // Sandboxes still reach both uplinks (masqueraded).
      const fromSandbox = async (ip: string, port: number) => (await runAsync('nsenter', [`--net=${key('usera1')}`, '--', 'socat', '-T2', '-', `TCP:${ip}:${port},connect-timeout=2`])).stdout.trim() !== '';
      assert.equal(await fromSandbox('192.0.2.2', 8000), true);
      assert.equal(await fromSandbox('198.51.100.2', 8001), true);
      // Control: with the guard's chain emptied the host routes between them; a reload puts it back.
      d.onHost('nft', ['flush', 'chain', 'inet', 'switchyard', 'not-a-router']);
      try {
        assert.equal(await routed(), true, 'control: without the guard the host is a router');
      } finally {
        d.cli(['firewall', 'reload']);
      }
      assert.equal(await routed(), false, 'after firewall reload');
    } finally {
      removeNs(up2);
    }
  });

  test('a port published on 127.0.0.1 is not reachable by routing straight to the sandbox (direct routing, as Docker 28)', async () => {
    d.cli(['run', '-d', '--name', 'pub1', '--network', 'usera', '-p', '127.0.0.1:8080:7000', '--', 'socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:echo reached']);
    try {
      const ip = view('pub1', 'usera').IPAddress;
      const bridge = d.onHost('ip', ['-o', 'addr', 'show', 'to', '10.201.0.1']).stdout.split(/\s+/)[1]!;
      // A LAN neighbour routes the sandbox subnet via the host and connects to the container port.
      sh('ip', ['-n', ext.name, 'route', 'replace', '10.201.0.0/24', 'via', '192.0.2.1']);
      const direct = async () => (await runAsync('nsenter', [`--net=${ext.path}`, '--', 'socat', '-T2', '-', `TCP:${ip}:7000,connect-timeout=2`])).stdout.includes('reached');
      assert.equal(await direct(), false, 'routed straight to a port published on 127.0.0.1 only');
      // Control: with the network out of the direct-routing set, the forward filter's published element lets it in.
      d.onHost('nft', ['delete', 'element', 'inet', 'switchyard', 'no-direct', `{ "${bridge}" }`]);
      try {
        assert.equal(await direct(), true, 'control: without the raw rule the published container port is reached directly');
      } finally {
        d.cli(['firewall', 'reload']);
      }
      assert.equal(await direct(), false, 'after firewall reload');
    } finally {
      d.cli(['rm', '-f', 'pub1']);
      sh('ip', ['-n', ext.name, 'route', 'del', '10.201.0.0/24'], { allowFail: true });
    }
  });

  test('every bridge takes no router advertisements (accept_ra=0), IPv4-only ones included', () => {
    const bridges = d.onHost('ip', ['-o', 'link', 'show', 'type', 'bridge']).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);
    assert.ok(bridges.length >= Object.keys(NETWORKS).length, `bridges: ${bridges.join(', ')}`);
    for (const br of bridges) assert.equal(d.onHost('sysctl', ['-n', `net.ipv6.conf.${br}.accept_ra`]).stdout.trim(), '0', br);
    // Control: a bridge made by anyone else in the same namespace accepts them by default.
    d.onHost('ip', ['link', 'add', 'syzctl', 'type', 'bridge']);
    try {
      assert.equal(d.onHost('sysctl', ['-n', 'net.ipv6.conf.syzctl.accept_ra']).stdout.trim(), '1');
    } finally {
      d.onHost('ip', ['link', 'del', 'syzctl']);
    }
  });

  describe('anti-spoofing', () => {
    let s1: Inspected;
    let s2: Inspected;
    let s3: Inspected;
    let bridgeName: string;
    const NET = 'spoofnet';
    const recvFile = (what: string) => path.join(tmp, `recv-${what}`);
    const received = (what: string) => (fs.existsSync(recvFile(what)) ? fs.readFileSync(recvFile(what), 'utf8') : '');

    before(async () => {
      d.cli(['network', 'create', '--ipv6', '--subnet', '10.205.0.0/24', '--subnet', 'fd00:205::/64', NET]);
      for (const n of ['s1', 's2', 's3']) d.cli(['run', '-d', '--name', n, '--network', NET, '--', 'sleep', 'infinity']);
      [s1, s2, s3] = ['s1', 's2', 's3'].map(inspect) as [Inspected, Inspected, Inspected];
      bridgeName = JSON.parse(d.cli(['network', 'inspect', NET]).stdout)[0].Options?.['com.docker.network.bridge.name']
        ?? d.onHost('ip', ['-o', 'addr', 'show', 'to', '10.205.0.1']).stdout.split(/\s+/)[1]!;
      // UDP receivers in s3 (v4, v6) and on the gateway, logging each datagram's source.
      const recv = (nsPath: string, spec: string, what: string) => {
        const p = spawn('nsenter', [`--net=${nsPath}`, '--', 'socat', '-u', spec, `OPEN:${recvFile(what)},creat,append`], { stdio: 'ignore' });
        procs.push(p);
      };
      const k3 = s3.NetworkSettings.SandboxKey;
      recv(k3, 'UDP4-RECVFROM:9999,fork', 's3v4');
      recv(k3, 'UDP6-RECVFROM:9999,ipv6only=1,fork', 's3v6');
      recv(d.host.path, 'UDP4-RECVFROM:9998,bind=10.205.0.1,fork', 'gw');
      await waitFor(() => {
        const a = d.inSandbox(k3, 'ss', ['-Hluan']).stdout;
        return a.split('\n').filter((l) => l.includes(':9999')).length >= 2 && d.onHost('ss', ['-Hluan']).stdout.includes('10.205.0.1:9998');
      }, 'udp receivers');
    });

    const n = (s: Inspected) => s.NetworkSettings.Networks[NET]!;
    const k1 = () => s1.NetworkSettings.SandboxKey;
    /** One datagram from s1 with the given source, to dst:port; true when it arrived. */
    const sendFrom = async (src: string, dst: string, port: number, what: string, marker: string) => {
      const v6 = dst.includes(':');
      const spec = v6 ? `UDP6-SENDTO:[${dst}]:${port},bind=[${src}]` : `UDP4-SENDTO:${dst}:${port},bind=${src}`;
      d.inSandbox(k1(), 'sh', ['-c', `echo ${marker} | socat -u - ${spec}`]);
      // A datagram arrives within milliseconds or never: wait a bounded time for it.
      try {
        await waitFor(() => received(what).includes(marker) || undefined, `datagram ${marker}`, 1500);
        return true;
      } catch {
        return false;
      }
    };
    let seq = 0;
    const marker = () => `m${++seq}x${process.pid}`;

    /**
     * Runs the spoof with the check in place (must fail), then without it (must pass: the
     * probe works), then after `firewall reload` (must fail again). The check is switched
     * off by emptying its chain, not by deleting `table bridge switchyard`: the daemon's
     * watchdog puts a missing table back within 2 s, which would race the control.
     */
    const provedBlocked = async (spoof: () => Promise<boolean>) => {
      assert.equal(await spoof(), false, 'spoofed traffic got through');
      d.onHost('nft', ['flush', 'chain', 'bridge', 'switchyard', 'antispoof']);
      try {
        assert.equal(await spoof(), true, 'control: without anti-spoofing the same probe gets through');
      } finally {
        d.cli(['firewall', 'reload']);
      }
      assert.equal(await spoof(), false, 'spoofed traffic got through after firewall reload');
    };

    /** A sandbox's EUI-64 link-local address, once DAD is done with it (the kernel's own, checked). */
    const linkLocal = async (sandboxKey: string, mac: string) => {
      const ll = eui64LinkLocal(mac);
      await waitFor(() => {
        const out = d.inSandbox(sandboxKey, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']).stdout;
        return (out.includes(`inet6 ${ll}/64`) && !out.includes('tentative')) || undefined;
      }, `link-local ${ll} usable`);
      return ll;
    };

    test('legitimate traffic flows, IPv4 and IPv6, to peers and gateway', async () => {
      assert.equal(await sendFrom(n(s1).IPAddress, n(s3).IPAddress, 9999, 's3v4', marker()), true);
      assert.equal(await sendFrom(n(s1).GlobalIPv6Address, n(s3).GlobalIPv6Address, 9999, 's3v6', marker()), true);
      assert.equal(await sendFrom(n(s1).IPAddress, n(s1).Gateway, 9998, 'gw', marker()), true);
      assert.equal(d.inSandbox(k1(), 'ping', ['-c1', '-W2', n(s2).IPAddress], { allowFail: true }).status, 0);
      assert.equal(d.inSandbox(k1(), 'ping', ['-6', '-c1', '-W2', n(s2).GlobalIPv6Address], { allowFail: true }).status, 0);
      // Link-local IPv6 (neighbour discovery from and for link-local addresses), on a
      // dual-stack network and between two IPv4-only endpoints of the default bridge.
      await linkLocal(k1(), n(s1).MacAddress);
      const s2ll = await linkLocal(s2.NetworkSettings.SandboxKey, n(s2).MacAddress);
      assert.equal(d.inSandbox(k1(), 'ping', ['-6', '-c1', '-W2', `${s2ll}%eth0`], { allowFail: true }).status, 0);
      const b1 = inspect('bridge1').NetworkSettings;
      const b2 = inspect('bridge2').NetworkSettings;
      await linkLocal(b1.SandboxKey, b1.Networks.bridge!.MacAddress);
      const b2ll = await linkLocal(b2.SandboxKey, b2.Networks.bridge!.MacAddress);
      assert.equal(d.inSandbox(b1.SandboxKey, 'ping', ['-6', '-c1', '-W2', `${b2ll}%eth0`], { allowFail: true }).status, 0);
    });

    test("a sandbox cannot send with another sandbox's IPv4 address", async () => {
      d.inSandbox(k1(), 'ip', ['addr', 'add', `${n(s2).IPAddress}/32`, 'dev', 'eth0']);
      try {
        await provedBlocked(() => sendFrom(n(s2).IPAddress, n(s3).IPAddress, 9999, 's3v4', marker()));
        await provedBlocked(() => sendFrom(n(s2).IPAddress, n(s1).Gateway, 9998, 'gw', marker()));
      } finally {
        d.inSandbox(k1(), 'ip', ['addr', 'del', `${n(s2).IPAddress}/32`, 'dev', 'eth0']);
      }
    });

    test("a sandbox cannot send with another sandbox's IPv6 address", async () => {
      d.inSandbox(k1(), 'ip', ['-6', 'addr', 'add', `${n(s2).GlobalIPv6Address}/128`, 'dev', 'eth0', 'nodad']);
      try {
        await provedBlocked(() => sendFrom(n(s2).GlobalIPv6Address, n(s3).GlobalIPv6Address, 9999, 's3v6', marker()));
      } finally {
        d.inSandbox(k1(), 'ip', ['-6', 'addr', 'del', `${n(s2).GlobalIPv6Address}/128`, 'dev', 'eth0']);
      }
    });

    test("a sandbox cannot send with another sandbox's MAC address", async () => {
      d.inSandbox(k1(), 'ip', ['link', 'set', 'eth0', 'address', n(s2).MacAddress]);
      try {
        await provedBlocked(() => sendFrom(n(s1).IPAddress, n(s3).IPAddress, 9999, 's3v4', marker()));
      } finally {
        d.inSandbox(k1(), 'ip', ['link', 'set', 'eth0', 'address', n(s1).MacAddress]);
      }
      // The bridge never learnt s2's MAC on s1's port: s2 is still reachable.
      assert.equal(d.inSandbox(s3.NetworkSettings.SandboxKey, 'ping', ['-c1', '-W2', n(s2).IPAddress], { allowFail: true }).status, 0);
      assert.equal(await sendFrom(n(s1).IPAddress, n(s3).IPAddress, 9999, 's3v4', marker()), true, 'legitimate traffic after the MAC is restored');
    });

    test("a sandbox cannot claim another sandbox's IPv4 address in ARP", async () => {
      // The gateway knows s2; neighbour entries may be overridden at once (locktime 0), so
      // only the filter stands between a gratuitous ARP and a poisoned entry.
      d.onHost('sysctl', ['-qw', `net.ipv4.neigh.${bridgeName}.locktime=0`]);
      const s2ip = n(s2).IPAddress;
      const garp = `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = bytes.fromhex("${n(s1).MacAddress.replace(/:/g, '')}")
ip = socket.inet_aton("${s2ip}")
bc = b"\\xff" * 6
s.send(bc + mac + b"\\x08\\x06" + b"\\x00\\x01\\x08\\x00\\x06\\x04\\x00\\x02" + mac + ip + bc + ip)
`;
      const poisoned = async () => {
        d.onHost('ping', ['-c1', '-W2', s2ip]);
        d.inSandbox(k1(), 'python3', ['-c', garp]);
        try {
          await waitFor(() => d.onHost('ip', ['neigh', 'show', s2ip, 'dev', bridgeName]).stdout.includes(n(s1).MacAddress) || undefined, 'poisoned entry', 1500);
          return true;
        } catch {
          return false;
        } finally {
          d.onHost('ip', ['neigh', 'flush', 'dev', bridgeName]);
        }
      };
      await provedBlocked(poisoned);
    });

    test("a sandbox cannot claim another sandbox's or the gateway's IPv6 address in a neighbour advertisement", async () => {
      // s1 advertises from its own global address (which passes the source check) to all
      // nodes: unsolicited, override flag set, its own MAC as target link-layer address.
      // An observer that already knows the target replaces the MAC at once (RFC 4861
      // §7.2.5; no locktime applies to IPv6 neighbours).
      const k3 = s3.NetworkSettings.SandboxKey;
      type Run = (cmd: string, args: string[]) => { stdout: string };
      const gateway: Run = (cmd, args) => d.onHost(cmd, args, { allowFail: true });
      const onS3: Run = (cmd, args) => d.inSandbox(k3, cmd, args, { allowFail: true });
      const entry = (run: Run, dev: string, target: string) => run('ip', ['-6', 'neigh', 'show', target, 'dev', dev]).stdout;
      const poisoned = (run: Run, dev: string, target: string, owner: string) => async () => {
        run('ping', ['-6', '-c1', '-W2', target]);
        assert.match(entry(run, dev, target), new RegExp(`lladdr ${owner}`), `the observer first knows ${target} at ${owner}`);
        try {
          // An attacker repeats itself: a few advertisements, 400 ms apart.
          for (let i = 0; i < 4; i++) {
            d.inSandbox(k1(), 'python3', naArgs({ ifname: 'eth0', srcMac: n(s1).MacAddress, dstMac: ALL_NODES.mac, src: n(s1).GlobalIPv6Address, dst: ALL_NODES.ip }, target));
            try {
              await waitFor(() => entry(run, dev, target).includes(n(s1).MacAddress) || undefined, 'poisoned entry', 400);
              return true;
            } catch {
              // not (yet) poisoned
            }
          }
          return false;
        } finally {
          run('ip', ['-6', 'neigh', 'flush', 'dev', dev]);
        }
      };
      const bridgeMac = /link\/ether (\S+)/.exec(d.onHost('ip', ['-o', 'link', 'show', 'dev', bridgeName]).stdout)?.[1];
      assert.ok(bridgeMac, "the gateway's MAC");
      // The gateway's entry for s2, s3's entry for s2, and s3's entry for its gateway (a
      // man in the middle for everything s3 sends off the network).
      await provedBlocked(poisoned(gateway, bridgeName, n(s2).GlobalIPv6Address, n(s2).MacAddress));
      await provedBlocked(poisoned(onS3, 'eth0', n(s2).GlobalIPv6Address, n(s2).MacAddress));
      await provedBlocked(poisoned(onS3, 'eth0', n(s3).IPv6Gateway, bridgeMac));
      // s1 still advertises its own address: the gateway learns s1's MAC for it.
      assert.equal(d.inSandbox(k1(), 'ping', ['-6', '-c1', '-W2', n(s1).IPv6Gateway], { allowFail: true }).status, 0);
      assert.match(entry(gateway, bridgeName, n(s1).GlobalIPv6Address), new RegExp(`lladdr ${n(s1).MacAddress}`));
    });

    test("a sandbox cannot send from another sandbox's link-local address", async () => {
      const k3 = s3.NetworkSettings.SandboxKey;
      const s1ll = await linkLocal(k1(), n(s1).MacAddress);
      const s2ll = await linkLocal(s2.NetworkSettings.SandboxKey, n(s2).MacAddress);
      const s3ll = await linkLocal(k3, n(s3).MacAddress);
      // One datagram from s1's port to s3's link-local address, built by hand (the source
      // address is whatever s1 writes), logged by s3's UDP6 receiver when it arrives.
      const datagram = async (src: string) => {
        const m = marker();
        d.inSandbox(k1(), 'python3', udpArgs({ ifname: 'eth0', srcMac: n(s1).MacAddress, dstMac: n(s3).MacAddress, src, dst: s3ll }, 9999, m));
        try {
          await waitFor(() => received('s3v6').includes(m) || undefined, `datagram ${m}`, 1500);
          return true;
        } catch {
          return false;
        }
      };
      assert.equal(await datagram(s1ll), true, "from s1's own link-local address");
      await provedBlocked(() => datagram(s2ll));
      // The gateway's link-local address is nobody's port either.
      const gwll = /inet6 (fe80::\S+)\/64/.exec(d.onHost('ip', ['-6', '-o', 'addr', 'show', 'dev', bridgeName, 'scope', 'link']).stdout)?.[1];
      assert.ok(gwll, 'the gateway has a link-local address');
      await provedBlocked(() => datagram(gwll));
    });

    test("a sandbox cannot become its peers' IPv6 router with a router advertisement", async () => {
      // From s1's own link-local address (a valid source): "I am a default router for 30 min".
      // s3 accepts router advertisements (a host: accept_ra 1, forwarding 0).
      const k3 = s3.NetworkSettings.SandboxKey;
      const s1ll = await linkLocal(k1(), n(s1).MacAddress);
      const viaS1 = () => d.inSandbox(k3, 'ip', ['-6', 'route', 'show', 'default']).stdout.includes(`via ${s1ll}`);
      const rogue = async () => {
        try {
          for (let i = 0; i < 3; i++) {
            d.inSandbox(k1(), 'python3', raArgs({ ifname: 'eth0', srcMac: n(s1).MacAddress, dstMac: ALL_NODES.mac, src: s1ll, dst: ALL_NODES.ip }));
            try {
              await waitFor(() => viaS1() || undefined, 'default route via s1', 400);
              return true;
            } catch {
              // not (yet) installed
            }
          }
          return false;
        } finally {
          d.inSandbox(k3, 'ip', ['-6', 'route', 'flush', 'proto', 'ra'], { allowFail: true });
        }
      };
      await provedBlocked(rogue);
      assert.equal(viaS1(), false);
    });

    test('anti-spoofing elements follow the endpoints', () => {
      const ports = () => d.onHost('nft', ['list', 'set', 'bridge', 'switchyard', 'ports']).stdout;
      const before = (ports().match(/"syv/g) ?? []).length;
      assert.ok(before >= sandboxes.length + 3, `one element per running bridge endpoint (${before})`);
      d.cli(['network', 'disconnect', NET, 's3']);
      assert.equal((ports().match(/"syv/g) ?? []).length, before - 1);
      d.cli(['network', 'connect', NET, 's3']);
      assert.equal((ports().match(/"syv/g) ?? []).length, before);
      d.cli(['rm', '-f', 's1', 's2', 's3']);
      assert.equal((ports().match(/"syv/g) ?? []).length, before - 3);
    });
  });
});
