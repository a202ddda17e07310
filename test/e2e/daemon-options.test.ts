/**
 * End-to-end: daemon flags (--bip, --mtu, --firewall=false, --default-address-pool), and
 * address allocation under concurrent requests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon } from '../helpers/daemon.js';
import { linksIn } from '../helpers/netns.js';

describe('daemon options (e2e)', () => {
  test('--bip, --mtu, --default-address-pool and --firewall=false', async () => {
    const d = await startDaemon({ tag: 'opt', args: ['--bip', '10.201.0.1/24', '--mtu', '1400', '--default-address-pool', 'base=10.202.0.0/16,size=24', '--firewall=false'] });
    try {
      const br = JSON.parse(d.cli(['network', 'inspect', 'bridge']).stdout)[0];
      assert.deepEqual(br.IPAM.Config[0], { Subnet: '10.201.0.0/24', Gateway: '10.201.0.1' });
      assert.match(d.onHost('ip', ['-o', 'link', 'show', 'sy0']).stdout, /mtu 1400/);
      d.cli(['network', 'create', 'pooled']);
      const n = JSON.parse(d.cli(['network', 'inspect', 'pooled']).stdout)[0];
      assert.equal(n.IPAM.Config[0].Subnet, '10.202.0.0/24', 'subnets come from --default-address-pool');
      d.cli(['run', '-d', '--name', 'm1', '--', 'sleep', 'infinity']);
      const key = JSON.parse(d.cli(['inspect', 'm1']).stdout)[0].NetworkSettings.SandboxKey;
      assert.match(d.inSandbox(key, 'ip', ['-o', 'link', 'show', 'eth0']).stdout, /mtu 1400/);
      const ruleset = d.onHost('nft', ['list', 'ruleset']).stdout.trim();
      assert.equal(ruleset, '', '--firewall=false touches no rules');
    } finally {
      await d.stop();
    }
  });

  test('the default bridge skips pools that overlap the host routes', async () => {
    const d = await startDaemon({ tag: 'ovl', args: [] });
    try {
      // The daemon started with 172.17/16 free; a second start after a route appears keeps
      // the existing bridge (it has the address), so check a new network instead.
      d.onHost('ip', ['link', 'add', 'syovl0', 'type', 'veth', 'peer', 'name', 'syovl1']);
      d.onHost('ip', ['addr', 'add', '172.18.0.1/16', 'dev', 'syovl0']);
      d.onHost('ip', ['link', 'set', 'syovl0', 'up']);
      d.cli(['network', 'create', 'auto1']);
      const n = JSON.parse(d.cli(['network', 'inspect', 'auto1']).stdout)[0];
      assert.equal(n.IPAM.Config[0].Subnet, '172.19.0.0/16', '172.18/16 is on a host route: skipped');
      d.onHost('ip', ['link', 'del', 'syovl0']);
    } finally {
      await d.stop();
    }
  });

  test('concurrent runs never get the same address', async () => {
    const d = await startDaemon({ tag: 'conc' });
    try {
      d.cli(['network', 'create', '--subnet', '10.203.0.0/24', 'cnet']);
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          d.client.createSandbox({ Name: `c${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: 'cnet' }).then((r) => d.client.startSandbox(r.Id)),
        ),
      );
      assert.equal(results.filter((r) => r.status === 'rejected').length, 0);
      const n = JSON.parse(d.cli(['network', 'inspect', 'cnet']).stdout)[0];
      const ips = Object.values(n.Containers as Record<string, { IPv4Address: string }>).map((c) => c.IPv4Address);
      assert.equal(ips.length, 40);
      assert.equal(new Set(ips).size, 40, 'all addresses distinct');
      const hostLinks = linksIn(d.host.name).filter((l) => l.startsWith('syv'));
      assert.equal(hostLinks.length, 40, 'one host-side veth per endpoint');
      // Bridge ports carry no IPv6 address of their own (no link-local, DAD or MLD per endpoint).
      assert.equal(d.onHost('ip', ['-6', '-o', 'addr', 'show', 'dev', hostLinks[0]!]).stdout.trim(), '');
      assert.equal(d.onHost('cat', [`/proc/sys/net/ipv6/conf/${hostLinks[0]}/disable_ipv6`]).stdout.trim(), '1');
    } finally {
      await d.stop();
    }
  });
});
