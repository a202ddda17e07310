/**
 * End-to-end: Podman 4.3 (Debian) runs its containers on Switchyard through the netavark
 * drop-in (CONTAINERS_HELPER_BINARY_DIR=<checkout>/libexec, rootful, private state:
 * test/helpers/podman-netavark.ts) against a real daemon in a throwaway host namespace. Two containers
 * on a Podman network reach each other by name and alias (Switchyard's embedded DNS, which
 * Podman writes into resolv.conf from the StatusBlock), an --internal network has no way out
 * (a container on a normal network, the control, does), one container on two networks,
 * a published port answers, IPv6, `podman network reload`, `switchyard network ls` shows
 * the Podman networks marked by origin, and removing everything leaves nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';
import { IMAGE, podmanPresent, startPodman, type TestPodman } from '../helpers/podman-netavark.js';

const OUTSIDE = '192.0.2.1'; // an address of the daemon's host namespace, "the world" for the containers
const HTTP_GET = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3';

describe('Podman 4.3 on Switchyard through libexec/netavark (e2e)', { skip: !podmanPresent() && 'podman is not installed (scripts/install.sh)' }, () => {
  let d: TestDaemon;
  let pm: TestPodman;
  const exec = (ctr: string, script: string) => pm.run(['exec', ctr, 'sh', '-c', script], { allowFail: true });
  const podmanNets = () => d.cli(['network', 'ls', '--filter', 'label=com.switchyard.origin=podman', '--format', '{{.Name}}']).stdout.trim().split('\n').filter(Boolean).sort();

  before(async () => {
    d = await startDaemon({ tag: 'nvpm' });
    d.onHost('ip', ['addr', 'add', `${OUTSIDE}/32`, 'dev', 'lo']);
    pm = startPodman(d.host.path, d.socket);
    pm.run(['network', 'create', '--subnet', '10.91.0.0/24', 'swynva']);
    pm.run(['network', 'create', '--internal', '--subnet', '10.91.1.0/24', 'swynvi']);
    pm.run(['network', 'create', '--ipv6', '--subnet', '10.91.7.0/24', '--subnet', 'fd00:91:7::/64', 'swynv6']);
    d.cli(['network', 'create', '--subnet', '10.92.0.0/24', 'ownnet']);
  });
  after(async () => {
    pm?.cleanup();
    await d?.stop();
  });

  test('two containers on a Podman network reach each other by name and alias; resolv.conf names the embedded DNS', () => {
    pm.run(['run', '-d', '--name', 'web', '--network', 'swynva', '--network-alias', 'websvc', '-p', '18480:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/var/www']);
    pm.run(['run', '-d', '--name', 'cli', '--network', 'swynva', IMAGE, 'sleep', '1d']);
    assert.match(exec('cli', 'cat /etc/resolv.conf').stdout, /^nameserver 127\.0\.0\.11$/m);
    assert.equal(exec('cli', 'ping -c1 -W2 web').status, 0, 'ping by container name');
    assert.match(exec('cli', `${HTTP_GET} websvc 80`).stdout, /hello-switchyard/, 'HTTP by network alias');
    assert.notEqual(exec('cli', 'nslookup nobody-here').status, 0, 'control: an unknown name does not resolve');
  });

  test('switchyard network ls shows the Podman networks, marked by origin, beside its own', () => {
    assert.deepEqual(podmanNets(), ['swynva'], 'only the networks with containers exist in Switchyard');
    const all = d.cli(['network', 'ls', '--format', '{{.Name}} {{.Labels}}']).stdout;
    assert.match(all, /^swynva .*com\.switchyard\.origin=podman/m);
    assert.match(all, /^ownnet\s*$/m, "Switchyard's own network has no origin label");
    const inspect = JSON.parse(d.cli(['network', 'inspect', 'swynva']).stdout)[0];
    assert.equal(inspect.Options['com.docker.network.bridge.name'], 'podman1', "Podman's bridge name");
    assert.equal(inspect.IPAM.Config[0].Subnet, '10.91.0.0/24', "Podman's subnet");
  });

  test('--internal has no way out; a normal network does (control)', () => {
    pm.run(['run', '-d', '--name', 'lone', '--network', 'swynvi', IMAGE, 'sleep', '1d']);
    assert.equal(exec('cli', `ping -c1 -W2 ${OUTSIDE}`).status, 0, 'control: the normal network reaches the host address');
    assert.notEqual(exec('lone', `ping -c1 -W2 ${OUTSIDE}`).status, 0, 'the internal network does not');
    assert.doesNotMatch(exec('lone', 'ip route').stdout, /default/, 'no default route');
  });

  test('one container on two networks: an interface on each, names of both resolve', () => {
    pm.run(['run', '-d', '--name', 'two', '--network', 'swynva', '--network', 'swynvi', IMAGE, 'sleep', '1d']);
    const links = exec('two', 'ip -o -4 addr').stdout;
    // Podman 4.3 names the interfaces in the order of a Go map (eth0 is either network): one
    // interface on each network, eth0 and eth1 between them.
    const on = (subnet: RegExp) => [...links.matchAll(/^\d+: (eth\d+)\s+inet (\S+)/gm)].filter((m) => subnet.test(m[2]!)).map((m) => m[1]);
    const a = on(/^10\.91\.0\./);
    const i = on(/^10\.91\.1\./);
    assert.equal(a.length, 1, `one interface on swynva: ${links}`);
    assert.equal(i.length, 1, `one interface on swynvi: ${links}`);
    assert.deepEqual([a[0], i[0]].sort(), ['eth0', 'eth1']);
    assert.equal(exec('two', 'ping -c1 -W2 web').status, 0, 'a name on the first network');
    assert.equal(exec('two', 'ping -c1 -W2 lone').status, 0, 'a name on the second network');
    assert.notEqual(exec('lone', 'nslookup web').status, 0, 'control: lone (internal only) does not resolve web');
  });

  test('a published port answers on the host, by loopback and by the gateway', () => {
    assert.match(d.onHost('curl', ['-s', '-m', '5', 'http://127.0.0.1:18480/']).stdout, /hello-switchyard/);
    assert.match(d.onHost('curl', ['-s', '-m', '5', 'http://10.91.0.1:18480/']).stdout, /hello-switchyard/);
  });

  test('IPv6: addresses from Podman, names resolve to AAAA, a published port answers over IPv6', () => {
    pm.run(['run', '-d', '--name', 'six1', '--network', 'swynv6', IMAGE, 'sleep', '1d']);
    pm.run(['run', '-d', '--name', 'six2', '--network', 'swynv6', '-p', '18490:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/var/www']);
    assert.match(exec('six1', 'ip -o -6 addr show dev eth0 scope global').stdout, /fd00:91:7::/);
    const aaaa = exec('six1', 'nslookup -type=AAAA six2').stdout;
    assert.match(aaaa, /fd00:91:7::/);
    const v6 = /(fd00:91:7::[0-9a-f]+)/.exec(aaaa)![1]!;
    assert.equal(exec('six1', `ping6 -c1 -W2 ${v6}`).status, 0);
    assert.match(d.onHost('curl', ['-s', '-m', '5', 'http://[fd00:91:7::1]:18490/']).stdout, /hello-switchyard/);
  });

  test('podman network reload: containers keep their addresses, names and ports', () => {
    const addr = () => exec('web', "ip -o -4 addr show dev eth0 | awk '{print $4}'").stdout.trim();
    const before = addr();
    assert.match(before, /^10\.91\.0\.\d+\/24$/);
    pm.run(['network', 'reload', '--all']);
    assert.equal(addr(), before);
    assert.equal(exec('cli', 'ping -c1 -W2 web').status, 0);
    assert.match(exec('cli', `${HTTP_GET} websvc 80`).stdout, /hello-switchyard/);
    assert.match(d.onHost('curl', ['-s', '-m', '5', 'http://127.0.0.1:18480/']).stdout, /hello-switchyard/);
  });

  test('removing the containers removes the Podman networks from Switchyard and leaves nothing behind', async () => {
    const rm = pm.run(['rm', '-f', '-t', '0', 'web', 'cli', 'lone', 'two', 'six1', 'six2']);
    const left = podmanNets();
    // On failure, what the daemon did with Podman's calls says why.
    const calls = () => d.log().split('\n').filter((l) => /netavark|swynv|teardown|setup|detach|network/i.test(l)).slice(-80).join('\n');
    assert.deepEqual(left, [], left.length ? `networks left; podman rm said: ${rm.stderr}\nthe daemon's log of the calls:\n${calls()}` : undefined);
    assert.match(d.cli(['network', 'ls', '--format', '{{.Name}}']).stdout, /^ownnet$/m, "Switchyard's own network stays");
    await waitFor(() => !/podman\d|syv/.test(d.onHost('ip', ['-o', 'link', 'show']).stdout) || undefined, 'no bridge or veth of the containers on the host');
    const ruleset = d.onHost('nft', ['list', 'ruleset']).stdout;
    assert.doesNotMatch(ruleset, /18480|18490/, 'no published port left in the firewall');
    assert.notEqual(d.onHost('curl', ['-s', '-m', '2', 'http://127.0.0.1:18480/'], { allowFail: true }).status, 0, 'the port is closed');
    assert.deepEqual(JSON.parse(d.cli(['ps', '-a', '--format', 'json'], { allowFail: true }).stdout || '[]'), [], 'no attachment left');
  });
});
