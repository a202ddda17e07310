/**
 * End-to-end: the CNI plugin (bin/cni/switchyard, the forwarder to the daemon's POST /cni)
 * against a real daemon, once per driver this machine runs (bridge, macvlan), exec'd as a
 * runtime does from the daemon's host namespace.
 *  - bridge: the result lists the host end of the veth first (no `sandbox`, its MAC as the
 *    kernel reports it) and eth0 second (with `sandbox`); ips[0].interface points at eth0.
 *    runtimeConfig.portMappings are published through the daemon's own ports (nftables DNAT
 *    element, the host port answering with what the container serves) and gone after DEL
 *    (control: the same connection fails then). A daemon killed and started again keeps
 *    the published port (reconcile), and DEL afterwards removes it. The Node plugin
 *    (bin/cni/switchyard-node, over POST /attachments) publishes them as well.
 *  - macvlan: no host-side link, so the result has the sandbox interface alone, index 0; the
 *    namespace reaches the LAN host through the parent; DEL removes the link.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNoLeaks, inNs, makeNs, removeNs, sh, waitFor, type TestNs } from '../helpers/netns.js';

const PLUGIN = path.join(REPO, 'bin', 'cni', 'switchyard');

describe('CNI plugin on every local driver (e2e)', () => {
  let d: TestDaemon;
  let lan: TestNs;
  const spaces: TestNs[] = [];
  const servers: ChildProcess[] = [];
  const ns = (tag: string): TestNs => {
    const n = makeNs(tag);
    spaces.push(n);
    return n;
  };
  const conf = (network: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ cniVersion: '1.1.0', name: `swy-${network}`, type: 'switchyard', network, host: `unix://${d.socket}`, capabilities: { portMappings: true }, ...extra });
  function cni(command: string, id: string, n: TestNs | undefined, stdin: string, plugin = PLUGIN): { code: number; out: any; stderr: string } {
    const env = { PATH: process.env['PATH'] ?? '', CNI_COMMAND: command, CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent', CNI_CONTAINERID: id, ...(n ? { CNI_NETNS: n.path } : {}) };
    const r = spawnSync('nsenter', [`--net=${d.host.path}`, '--', plugin], { env, input: stdin, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, out: r.stdout.trim() ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
  }
  /** A TCP server in `n` on port 80 answering `text` to every connection. */
  function serve(n: TestNs, text: string): void {
    const p = spawn('ip', ['netns', 'exec', n.name, 'socat', 'TCP-LISTEN:80,reuseaddr,fork', `SYSTEM:echo ${text}`], { stdio: 'ignore' });
    servers.push(p);
  }
  const fetchFromHost = (ip: string, port: number) =>
    d.onHost('socat', ['-T2', '-', `TCP:${ip}:${port},connect-timeout=2`], { allowFail: true }).stdout.trim();
  /** The DNAT maps' elements (dnat4 for a mapping with a host address, dnat4-any without). */
  const dnat = () => ['dnat4', 'dnat4-any'].map((m) => d.onHost('nft', ['list', 'map', 'inet', 'switchyard', m], { allowFail: true }).stdout).join('');

  before(async () => {
    d = await startDaemon({ tag: 'cnidr' });
    d.cli(['network', 'create', '--subnet', '10.93.0.0/24', 'cnibr']);
    lan = makeNs('cnilan');
    d.onHost('ip', ['link', 'add', 'sycnilan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name]);
    d.onHost('ip', ['link', 'set', 'sycnilan0', 'up']);
    sh('ip', ['-n', lan.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
    sh('ip', ['-n', lan.name, 'link', 'set', 'eth0', 'up']);
    d.cli(['network', 'create', '-d', 'macvlan', '-o', 'parent=sycnilan0', '--subnet', '192.0.2.0/24', 'cnimv']);
  });
  after(async () => {
    for (const p of servers) p.kill();
    await d?.stop();
    for (const n of spaces) removeNs(n);
    if (lan) removeNs(lan);
    assertNoLeaks([...spaces.map((n) => n.name), lan?.name].filter((x): x is string => !!x));
  });

  test('bridge: host end and sandbox interface in the result, portMappings published by the daemon, kept across a restart, gone after DEL', async () => {
    const a = ns('cnipa');
    const r = cni('ADD', 'ctr-pa', a, conf('cnibr', { runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] } }));
    assert.equal(r.code, 0, JSON.stringify(r.out) + r.stderr);
    // interfaces: [host veth (no sandbox, its MAC), eth0 (sandbox)]; ips → eth0.
    assert.equal(r.out.interfaces.length, 2, JSON.stringify(r.out));
    const [hostEnd, mine] = r.out.interfaces;
    assert.equal(hostEnd.sandbox, undefined, 'the host end carries no sandbox');
    assert.match(hostEnd.name, /^syv/);
    const kernelMac = /link\/ether ([0-9a-f:]+)/.exec(d.onHost('ip', ['-o', 'link', 'show', hostEnd.name]).stdout)![1];
    assert.equal(hostEnd.mac, kernelMac, "the host end's MAC as the kernel has it");
    assert.deepEqual([mine.name, mine.sandbox], ['eth0', a.path]);
    assert.equal(mine.mac, /link\/ether ([0-9a-f:]+)/.exec(inNs(a.name, 'ip', ['-o', 'link', 'show', 'eth0']).stdout)![1]);
    assert.equal(r.out.ips[0].interface, 1, 'ips[0] is on eth0, the second interface');
    const ip = (r.out.ips[0].address as string).split('/')[0]!;

    // Published through Switchyard's own ports: the DNAT element, and the port answers.
    assert.match(dnat(), new RegExp(`tcp \\. 18080 : ${ip.replace(/\./g, '\\.')} \\. 80`), 'the DNAT element of the mapping');
    serve(a, 'hello-cni');
    await waitFor(() => inNs(a.name, 'ss', ['-Hltn', 'sport = :80']).stdout.includes(':80'), 'the server listening', 5000);
    assert.equal(fetchFromHost('10.93.0.1', 18080), 'hello-cni', 'the host port answers with the container');

    // A daemon killed and started again keeps the attachment and its port.
    await d.restart({ kill: true });
    assert.equal(fetchFromHost('10.93.0.1', 18080), 'hello-cni', 'still published after the restart');
    assert.equal(cni('CHECK', 'ctr-pa', a, conf('cnibr', { prevResult: r.out })).code, 0);

    // DEL: element gone, the port no longer answers (the container still serves on its own address).
    assert.equal(cni('DEL', 'ctr-pa', a, conf('cnibr')).code, 0);
    assert.doesNotMatch(dnat(), /18080/, 'the DNAT element is gone');
    assert.equal(fetchFromHost('10.93.0.1', 18080), '', 'control: nothing answers on the host port after DEL');
    assert.equal(cni('DEL', 'ctr-pa', a, conf('cnibr')).code, 0, 'DEL again');
  });

  test('bridge: a mapping whose host port is taken is refused (100) and leaves nothing behind', () => {
    const [a, b] = [ns('cnipb'), ns('cnipc')];
    const pm = { runtimeConfig: { portMappings: [{ hostPort: 18081, containerPort: 80, protocol: 'tcp' }] } };
    assert.equal(cni('ADD', 'ctr-pb', a, conf('cnibr', pm)).code, 0);
    const clash = cni('ADD', 'ctr-pc', b, conf('cnibr', pm));
    assert.equal(clash.code, 1);
    assert.equal(clash.out.code, 100, JSON.stringify(clash.out));
    assert.doesNotMatch(inNs(b.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'the failed ADD was undone');
    assert.equal(Object.keys(JSON.parse(d.cli(['network', 'inspect', 'cnibr']).stdout)[0].Containers).length, 1);
    assert.equal(cni('DEL', 'ctr-pc', b, conf('cnibr')).code, 0);
    assert.equal(cni('DEL', 'ctr-pb', a, conf('cnibr')).code, 0);
    assert.doesNotMatch(dnat(), /18081/);
  });

  test('the Node plugin (bin/cni/switchyard-node, over the attachment routes) publishes portMappings too', () => {
    const a = ns('cnipn');
    const node = path.join(REPO, 'bin', 'cni', 'switchyard-node');
    const r = cni('ADD', 'ctr-pn', a, conf('cnibr', { runtimeConfig: { portMappings: [{ hostPort: 18083, containerPort: 80, protocol: 'tcp' }] } }), node);
    assert.equal(r.code, 0, JSON.stringify(r.out) + r.stderr);
    const ip = (r.out.ips[0].address as string).split('/')[0]!;
    assert.match(dnat(), new RegExp(`tcp \\. 18083 : ${ip.replace(/\./g, '\\.')} \\. 80`));
    assert.equal(cni('DEL', 'ctr-pn', a, conf('cnibr'), node).code, 0);
    assert.doesNotMatch(dnat(), /18083/);
  });

  test('macvlan: the sandbox interface alone (index 0), the LAN reached through the parent, DEL removes it', () => {
    const m = ns('cnimv');
    const r = cni('ADD', 'ctr-mv', m, conf('cnimv'));
    assert.equal(r.code, 0, JSON.stringify(r.out) + r.stderr);
    assert.equal(r.out.interfaces.length, 1, 'no host-side link for macvlan');
    assert.deepEqual([r.out.interfaces[0].name, r.out.interfaces[0].sandbox], ['eth0', m.path]);
    assert.equal(r.out.ips[0].interface, 0);
    assert.match(r.out.ips[0].address, /^192\.0\.2\.\d+\/24$/);
    assert.match(inNs(m.name, 'ip', ['-d', '-o', 'link', 'show', 'eth0']).stdout, /macvlan mode bridge/);
    assert.equal(inNs(m.name, 'ping', ['-c1', '-W2', '192.0.2.1'], { allowFail: true }).status, 0, 'the LAN host answers');
    assert.equal(cni('CHECK', 'ctr-mv', m, conf('cnimv', { prevResult: r.out })).code, 0);
    assert.equal(cni('DEL', 'ctr-mv', m, conf('cnimv')).code, 0);
    assert.doesNotMatch(inNs(m.name, 'ip', ['-o', 'link']).stdout, /eth0/);
    assert.equal(cni('DEL', 'ctr-mv', m, conf('cnimv')).code, 0);
  });
});
