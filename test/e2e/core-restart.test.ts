/**
 * End-to-end: the data plane outlives the daemon, and a restart reconciles the kernel
 * with the store (recreating what is missing, removing what should not exist).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { linksIn, waitFor } from '../helpers/netns.js';

describe('restart and reconcile (e2e)', () => {
  let d: TestDaemon;
  const key = (name: string): string => JSON.parse(d.cli(['inspect', name]).stdout)[0].NetworkSettings.SandboxKey;
  const ip = (name: string, net: string): string => JSON.parse(d.cli(['inspect', name]).stdout)[0].NetworkSettings.Networks[net].IPAddress;
  const ping = (from: string, to: string) => d.inSandbox(key(from), 'ping', ['-c1', '-W1', to], { allowFail: true }).status === 0;

  before(async () => {
    d = await startDaemon({ tag: 'rst' });
    d.cli(['network', 'create', '--subnet', '10.97.0.0/24', 'rnet']);
    d.cli(['run', '-d', '--name', 'r1', '--network', 'rnet', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'r2', '--network', 'rnet', '--', 'sleep', 'infinity']);
  });
  after(async () => {
    await d?.stop();
  });

  test('a running ping loses nothing while the daemon is killed and restarted', async () => {
    const target = ip('r2', 'rnet');
    const pinger = spawn('nsenter', [`--net=${key('r1')}`, '--', 'ping', '-i', '0.05', '-c', '60', '-W', '1', target], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    pinger.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const done = new Promise<number | null>((resolve) => pinger.once('exit', resolve));
    await waitFor(() => out.includes('icmp_seq=5'), 'ping running');
    await d.restart({ kill: true });
    const code = await done;
    assert.equal(code, 0, out);
    assert.match(out, /60 packets transmitted, 60 received, 0% packet loss/);
  });

  test('records survive a kill -9; the sandbox keeps its address and new operations work', async () => {
    const before = ip('r1', 'rnet');
    await d.restart({ kill: true });
    assert.equal(ip('r1', 'rnet'), before);
    assert.ok(JSON.parse(d.cli(['inspect', 'r1']).stdout)[0].State.Running);
    d.cli(['run', '-d', '--name', 'r3', '--network', 'rnet', '--', 'sleep', 'infinity']);
    const ips = ['r1', 'r2', 'r3'].map((n) => ip(n, 'rnet'));
    assert.equal(new Set(ips).size, 3, `no address handed out twice: ${ips.join(', ')}`);
    assert.ok(ping('r3', ip('r1', 'rnet')));
  });

  test('missing kernel state is recreated and stray state is removed at start', async () => {
    const r1 = JSON.parse(d.cli(['inspect', 'r1']).stdout)[0];
    const ep = r1.NetworkSettings.Networks.rnet;
    const bridge = JSON.parse(d.cli(['network', 'inspect', 'rnet']).stdout)[0].Options['com.docker.network.bridge.name'] ?? `sy-${JSON.parse(d.cli(['network', 'inspect', 'rnet']).stdout)[0].Id.slice(0, 12)}`;
    const r1Key = key('r1');
    const r2Ip = ip('r2', 'rnet');
    const reaches = () => d.inSandbox(r1Key, 'ping', ['-c1', '-W1', r2Ip], { allowFail: true }).status === 0;
    // Damage while the daemon is down: delete r1's host-side veth, add a stray link of ours
    // (named and marked as the bridge driver marks its veths: drivers/bridge.ts VETH_ALIAS).
    const exited = new Promise((resolve) => d.proc.once('exit', resolve));
    d.proc.kill('SIGKILL');
    await exited;
    const hostVeth = linksIn(d.host.name).find((l) => l.startsWith('syv') && l.startsWith(`syv${ep.EndpointID.slice(0, 10)}`));
    assert.ok(hostVeth, 'r1 host veth present before the damage');
    d.onHost('ip', ['link', 'del', hostVeth!]);
    d.onHost('ip', ['link', 'add', 'syvdeadbeef00', 'type', 'veth', 'peer', 'name', 'syvdeadbeef01']);
    d.onHost('ip', ['link', 'set', 'syvdeadbeef00', 'alias', 'switchyard:veth:deadbeef0000']);
    assert.ok(!reaches(), 'r1 is cut off before the restart');
    await d.restart();
    await waitFor(() => reaches(), 'r1 reconnected by reconcile', 10_000, 100);
    const links = linksIn(d.host.name);
    assert.ok(!links.includes('syvdeadbeef00'), 'stray link removed');
    assert.ok(links.some((l) => l === bridge || l.startsWith('sy-')), 'bridge still there');
  });

  test('links Switchyard makes are marked, and only marked links are collected: a user link named sy-uplink survives a restart', async () => {
    const net = JSON.parse(d.cli(['network', 'inspect', 'rnet']).stdout)[0];
    const bridge = `sy-${net.Id.slice(0, 12)}`;
    const veth = `syv${JSON.parse(d.cli(['inspect', 'r1']).stdout)[0].NetworkSettings.Networks.rnet.EndpointID.slice(0, 10)}`;
    const aliasOf = (link: string) => /\n\s+alias (\S+)/.exec(d.onHost('ip', ['link', 'show', 'dev', link]).stdout)?.[1];
    assert.equal(aliasOf(bridge), `switchyard:bridge:${net.Id.slice(0, 12)}`);
    assert.match(aliasOf(veth)!, new RegExp(`^switchyard:veth:${veth.slice(3)}[0-9a-f]{2}$`));
    const exited = new Promise((resolve) => d.proc.once('exit', resolve));
    d.proc.kill('SIGKILL');
    await exited;
    // A user's links named like ours, unmarked: must survive.
    d.onHost('ip', ['link', 'add', 'sy-uplink', 'type', 'bridge']);
    d.onHost('ip', ['link', 'add', 'syvuser00000', 'type', 'veth', 'peer', 'name', 'syvuser00001']);
    // Control, in the same restart: a stray link carrying our mark is collected (so the
    // collection did run, and the survivors survived because they are unmarked).
    d.onHost('ip', ['link', 'add', 'sy-stray0', 'type', 'bridge']);
    d.onHost('ip', ['link', 'set', 'sy-stray0', 'alias', 'switchyard:bridge:000000000000']);
    try {
      await d.restart();
      const links = linksIn(d.host.name);
      assert.ok(!links.includes('sy-stray0'), 'a marked stray link is collected');
      assert.ok(links.includes('sy-uplink'), 'the user link sy-uplink survives');
      assert.ok(links.includes('syvuser00000'), 'the user link syvuser00000 survives');
      assert.ok(links.includes(bridge) && links.includes(veth), 'the network and its endpoint are kept');
    } finally {
      d.onHost('ip', ['link', 'del', 'sy-uplink'], { allowFail: true });
      d.onHost('ip', ['link', 'del', 'syvuser00000'], { allowFail: true });
      d.onHost('ip', ['link', 'del', 'sy-stray0'], { allowFail: true });
    }
  });

  test('a sandbox that exited while the daemon was down is marked exited and its namespace freed', async () => {
    const r2 = JSON.parse(d.cli(['inspect', 'r2']).stdout)[0];
    const exited = new Promise((resolve) => d.proc.once('exit', resolve));
    d.proc.kill('SIGKILL');
    await exited;
    process.kill(r2.State.Pid, 'SIGKILL');
    await waitFor(() => {
      try {
        process.kill(r2.State.Pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'r2 gone');
    await d.restart();
    const after = JSON.parse(d.cli(['inspect', 'r2']).stdout)[0];
    assert.equal(after.State.Running, false);
    const listed = d.cli(['network', 'inspect', 'rnet']).stdout;
    assert.doesNotMatch(listed, /"r2"/);
    d.cli(['start', 'r2']);
    assert.ok(ping('r1', ip('r2', 'rnet')), 'r2 restarts with working networking');
  });
});
