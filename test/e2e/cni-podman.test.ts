/**
 * End-to-end: Podman 4.3 with `network_backend = "cni"` runs its containers on a Switchyard
 * network through our CNI plugin. A private Podman (test/helpers/podman.ts: its own root,
 * runroot, containers.conf and CNI configuration directory) in the daemon's host namespace,
 * a conflist whose only plugin is `switchyard` (bin/cni, the forwarder), a busybox image
 * built and imported locally:
 *  - two containers reach each other by name (Podman's container names and --network-alias
 *    become names in the network's embedded DNS; the resolv.conf Podman writes points at it);
 *  - a published port (-p) answers through Switchyard's own DNAT;
 *  - the daemon is killed and started again under the running containers: they keep talking
 *    (by name, and through the port), and `podman rm` (CNI DEL) afterwards works and leaves no
 *    attachment behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import path from 'node:path';
import { REPO, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNoLeaks } from '../helpers/netns.js';
import { IMAGE, podmanMissing, startPodman, type PrivatePodman } from '../helpers/podman.js';

const skip = podmanMissing();

describe('Podman (CNI backend) on a Switchyard network (e2e)', { skip }, () => {
  let d: TestDaemon;
  let pm: PrivatePodman;

  before(async () => {
    d = await startDaemon({ tag: 'cnipm' });
    d.cli(['network', 'create', '--subnet', '10.86.0.0/24', 'pmnet']);
    pm = startPodman({ netnsPath: d.host.path, pluginDirs: [path.join(REPO, 'bin', 'cni'), '/usr/lib/cni'] });
    fs.writeFileSync(path.join(pm.netDir, 'swypm.conflist'), JSON.stringify({
      cniVersion: '1.0.0',
      name: 'swypm',
      plugins: [{ type: 'switchyard', network: 'pmnet', host: `unix://${d.socket}`, capabilities: { portMappings: true, aliases: true } }],
    }));
  });
  after(async () => {
    pm?.close();
    await d?.stop();
    assertNoLeaks();
  });

  const attachments = () => Object.values(JSON.parse(d.cli(['network', 'inspect', 'pmnet']).stdout)[0].Containers as Record<string, { IPv4Address: string }>);
  // HTTP by hand over nc: the static busybox's wget crashes in these containers (glibc NSS).
  const REQUEST = 'GET / HTTP/1.0\r\n\r\n';
  const page = (raw: string) => (raw.includes('\r\n\r\n') ? raw.slice(raw.indexOf('\r\n\r\n') + 4).trim() : '');
  const get = (from: string, host: string) => page(pm.run(['exec', from, 'sh', '-c', `printf '${REQUEST}' | nc -w 3 ${host} 80`], { allowFail: true }).stdout);
  const fromHost = (ip: string, port: number) => page(d.onHost('sh', ['-c', `printf '${REQUEST}' | socat -T3 - TCP:${ip}:${port},connect-timeout=3`], { allowFail: true }).stdout);

  test('names, a published port, a daemon restart under running containers, DEL after it', async () => {
    assert.match(pm.run(['network', 'ls', '--format', '{{.Name}}']).stdout, /swypm/, 'Podman sees the conflist');
    pm.run(['run', '-d', '--name', 'web', '--network', 'swypm', '--network-alias', 'www', '-p', '18090:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/var/www']);
    pm.run(['run', '-d', '--name', 'client', '--network', 'swypm', IMAGE, 'sleep', '1000']);
    assert.equal(attachments().length, 2, 'both containers are attachments of pmnet');
    const resolv = pm.run(['exec', 'client', 'cat', '/etc/resolv.conf']).stdout;
    assert.match(resolv, /nameserver 127\.0\.0\.11/, 'Podman wrote the embedded DNS from the result');

    const byName = () => get('client', 'web');
    assert.equal(byName(), 'hello-podman-cni', 'client reaches web by its container name');
    assert.equal(get('client', 'www'), 'hello-podman-cni', 'and by its network alias');
    assert.notEqual(pm.run(['exec', 'client', 'nslookup', 'nobody-here', '127.0.0.11'], { allowFail: true }).status, 0, 'control: an unknown name does not resolve');
    assert.equal(fromHost('10.86.0.1', 18090), 'hello-podman-cni', 'the published port answers');

    // The daemon goes away and comes back under the running containers.
    await d.restart({ kill: true });
    assert.equal(byName(), 'hello-podman-cni', 'still by name after the restart');
    assert.equal(fromHost('10.86.0.1', 18090), 'hello-podman-cni', 'the port still answers after the restart');

    // podman rm: CNI DEL through the restarted daemon; nothing is left on the network.
    pm.run(['rm', '-f', '-t', '1', 'web', 'client']);
    assert.equal(attachments().length, 0, 'DEL removed both attachments');
    assert.equal(fromHost('10.86.0.1', 18090), '', 'control: the port is gone with its container');
  });
});
