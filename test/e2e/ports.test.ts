/**
 * End-to-end: published ports through the CLI and a real daemon — reachable from outside
 * the host with the client's address preserved, from the host, and released on stop.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';

describe('published ports (e2e)', () => {
  let d: TestDaemon;
  const ext = () => `${d.host.name}x`;
  const fromExt = (addr: string, port: number) =>
    d.onHost('ip', ['netns', 'exec', ext(), 'socat', '-T2', '-', `TCP:${addr}:${port},connect-timeout=2`], { allowFail: true });

  before(async () => {
    d = await startDaemon({ tag: 'prt' });
    d.onHost('ip', ['link', 'add', 'syext0', 'type', 'veth', 'peer', 'name', 'syext1']);
    d.onHost('ip', ['addr', 'add', '198.18.9.1/24', 'dev', 'syext0']);
    d.onHost('ip', ['link', 'set', 'syext0', 'up']);
    d.onHost('ip', ['netns', 'add', ext()]);
    d.onHost('ip', ['link', 'set', 'syext1', 'netns', ext()]);
    d.onHost('ip', ['-n', ext(), 'addr', 'add', '198.18.9.2/24', 'dev', 'syext1']);
    d.onHost('ip', ['-n', ext(), 'link', 'set', 'syext1', 'up']);
    d.cli(['network', 'create', 'pnet']);
  });
  after(async () => {
    d?.onHost('ip', ['netns', 'del', ext()], { allowFail: true });
    await d?.stop();
  });

  test('-p 8080:80 answers from outside with the client address, and from the host', async () => {
    d.cli(['run', '-d', '--name', 'web', '--network', 'pnet', '-p', '8080:80', '--', 'socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo from-$SOCAT_PEERADDR']);
    const port = d.cli(['port', 'web']).stdout;
    assert.match(port, /80\/tcp -> 0\.0\.0\.0:8080/);
    const inspect = JSON.parse(d.cli(['inspect', 'web']).stdout)[0];
    assert.deepEqual(inspect.NetworkSettings.Ports['80/tcp'][0], { HostIp: '0.0.0.0', HostPort: '8080' });
    await waitFor(() => d.inSandbox(inspect.NetworkSettings.SandboxKey, 'ss', ['-ltn']).stdout.includes(':80'), 'server up');
    assert.equal(fromExt('198.18.9.1', 8080).stdout.trim(), 'from-198.18.9.2');
    const local = d.onHost('socat', ['-T2', '-', 'TCP:127.0.0.1:8080,connect-timeout=2'], { allowFail: true }).stdout.trim();
    assert.match(local, /^from-/);
  });

  test('a port already published is refused and nothing changes', () => {
    const r = d.cli(['run', '-d', '--name', 'web2', '--network', 'pnet', '-p', '8080:80', '--', 'sleep', 'infinity'], { allowFail: true });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /8080.*already allocated|already allocated.*8080/);
    assert.doesNotMatch(d.cli(['ps', '-a', '--format', '{{.Names}}']).stdout, /web2/);
  });

  test('a port bound to 127.0.0.1 is not reachable from outside; stop releases ports', () => {
    d.cli(['run', '-d', '--name', 'loc', '--network', 'pnet', '-p', '127.0.0.1:9090:80', '--', 'socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo hi']);
    assert.notEqual(fromExt('198.18.9.1', 9090).stdout.trim(), 'hi');
    d.cli(['stop', '-t', '1', 'web']);
    assert.equal(fromExt('198.18.9.1', 8080).stdout.trim(), '', 'stopped: nothing answers');
    d.cli(['run', '-d', '--name', 'web3', '--network', 'pnet', '-p', '8080:80', '--', 'sleep', 'infinity']);
    assert.match(d.cli(['port', 'web3']).stdout, /8080/, 'the port was released on stop');
  });

  test('an ephemeral port is shown by port and inspect', () => {
    d.cli(['run', '-d', '--name', 'eph', '--network', 'pnet', '-p', '80', '--', 'sleep', 'infinity']);
    const m = /80\/tcp -> 0\.0\.0\.0:(\d+)/.exec(d.cli(['port', 'eph']).stdout);
    assert.ok(m, 'an ephemeral binding is listed');
    assert.ok(Number(m![1]) > 1024);
  });
});

describe('the firewall comes back by itself (e2e)', () => {
  test('after an outside `nft flush ruleset`, the daemon restores its tables and published ports within seconds', async () => {
    const d = await startDaemon({ tag: 'fwb' });
    try {
      d.cli(['run', '-d', '--name', 'fw1', '-p', '8181:80', '--', 'socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo up']);
      const key = JSON.parse(d.cli(['inspect', 'fw1']).stdout)[0].NetworkSettings.SandboxKey;
      await waitFor(() => d.inSandbox(key, 'ss', ['-ltn']).stdout.includes(':80'), 'server up');
      const reach = () => d.onHost('socat', ['-T2', '-', 'TCP:127.0.0.1:8181,connect-timeout=1'], { allowFail: true }).stdout.trim() === 'up';
      assert.ok(reach(), 'published port answers before');
      d.onHost('nft', ['flush', 'ruleset']);
      assert.equal(d.onHost('nft', ['list', 'tables']).stdout.trim(), '', 'flushed');
      await waitFor(() => {
        const t = d.onHost('nft', ['list', 'tables']).stdout;
        return t.includes('inet switchyard') && t.includes('bridge switchyard');
      }, 'tables restored by the watchdog', 8000, 200);
      await waitFor(() => reach(), 'published port answers again', 5000, 200);
    } finally {
      await d.stop();
    }
  });
});
