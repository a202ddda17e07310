/**
 * End-to-end: `switchyard system reset -f` takes Switchyard off a host. In a fresh host
 * namespace with private roots: snapshot (links, nftables ruleset, mounts, processes, roots),
 * start a daemon, make networks, sandboxes and published ports, reset, snapshot again:
 * identical. Links a user made with Switchyard-like names (`sy-uplink`, a veth pair with an
 * alias of its own) survive. Once with the daemon running, once after it was SIGKILLed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { inNs, makeNs, type TestNs } from '../helpers/netns.js';

interface HostSnapshot {
  links: string[];
  ruleset: string;
  mounts: string[];
  processes: string[];
  roots: string[];
  forwarding: string;
}

function snapshot(host: TestNs, root: string, roots: string[]): HostSnapshot {
  const links = (JSON.parse(inNs(host.name, 'ip', ['-j', '-d', 'link', 'show']).stdout) as Array<{ ifname: string; ifalias?: string; linkinfo?: { info_kind?: string } }>)
    .map((l) => `${l.ifname} kind=${l.linkinfo?.info_kind ?? '-'} alias=${l.ifalias ?? ''}`)
    .sort();
  const ruleset = inNs(host.name, 'nft', ['list', 'ruleset']).stdout.trim();
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root) || l.includes(host.name));
  // Processes in the host namespace, or whose argv names the private root (sandboxes).
  const hostNs = fs.statSync(host.path).ino;
  const processes: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      const netIno = fs.statSync(`/proc/${pid}/ns/net`).ino;
      if (netIno === hostNs || argv.includes(root)) processes.push(`${pid} ${argv}`);
    } catch {
      // gone meanwhile
    }
  }
  const forwarding = inNs(host.name, 'sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']).stdout.trim().split('\n').join(' ');
  return { links, ruleset, mounts, processes, roots: roots.filter((r) => fs.existsSync(r)), forwarding };
}

async function populate(d: TestDaemon): Promise<void> {
  d.cli(['network', 'create', '--subnet', '10.231.0.0/24', 'appnet']);
  d.cli(['network', 'create', '--internal', '--subnet', '10.232.0.0/24', 'backnet']);
  d.cli(['network', 'create', '--subnet', '10.233.0.0/24', '-o', 'com.docker.network.bridge.name=sy-named', 'namednet']);
  d.cli(['run', '-d', '--name', 'web', '--network', 'appnet', '-p', '18080:80', '--', 'sleep', 'infinity']);
  d.cli(['run', '-d', '--name', 'db', '--network', 'backnet', '--', 'sleep', 'infinity']);
  d.cli(['run', '-d', '--name', 'plain', '--', 'sleep', 'infinity']);
  d.cli(['network', 'connect', 'backnet', 'web']);
  d.cli(['network', 'connect', 'namednet', 'db']);
  const links = d.onHost('ip', ['-o', 'link']).stdout;
  assert.match(links, /sy0/, 'the daemon made its default bridge');
  assert.match(d.onHost('nft', ['list', 'tables']).stdout, /table inet switchyard/);
}

function userLinks(host: TestNs): void {
  // A user's links with names Switchyard's legacy clean-up (sy-*, syv*) would have matched:
  // a veth pair carrying an alias of its own, a macvlan on it, a bridge with an alias.
  inNs(host.name, 'ip', ['link', 'add', 'sy-user0', 'type', 'veth', 'peer', 'name', 'syvuser1']);
  inNs(host.name, 'ip', ['link', 'set', 'sy-user0', 'alias', 'my lab uplink']);
  inNs(host.name, 'ip', ['link', 'set', 'syvuser1', 'alias', 'my lab uplink, other end']);
  inNs(host.name, 'ip', ['link', 'add', 'link', 'sy-user0', 'name', 'sy-uplink', 'type', 'macvlan']);
  inNs(host.name, 'ip', ['link', 'add', 'sy-lab', 'type', 'bridge']);
  inNs(host.name, 'ip', ['link', 'set', 'sy-lab', 'alias', 'lab bridge']);
}

describe('switchyard system reset (e2e)', () => {
  for (const mode of ['daemon running', 'daemon killed'] as const) {
    test(`leaves the host as before the daemon started (${mode}); user links survive`, async () => {
      const host = makeNs('rst');
      // Before the daemon: links, ruleset, mounts and processes of this host (the private
      // root does not exist yet, so nothing can name it).
      const before = snapshot(host, '/nonexistent-root-before-start', []);
      const d = await startDaemon({ host, tag: 'rst' });
      const roots = [d.dataRoot, d.execRoot];
      // The user's links are made once the daemon runs (its start-up clean-up is the
      // engine's business; this test is about what reset deletes): they must survive reset.
      const userBefore = snapshot(host, d.root, roots).links;
      try {
        userLinks(host);
        const withUser = snapshot(host, d.root, roots).links;
        const userLinkLines = withUser.filter((l) => !userBefore.includes(l));
        assert.equal(userLinkLines.length, 4);
        await populate(d);
        if (mode === 'daemon killed') {
          const exited = new Promise((r) => d.proc.once('exit', r));
          d.proc.kill('SIGKILL');
          await exited;
        }
        const r = d.cli(['system', 'reset', '-f', '--data-root', d.dataRoot, '--exec-root', d.execRoot]);
        if (mode === 'daemon running') assert.match(r.stdout, /Stopped daemon: pid \d+ \(found through the pidfile /);
        assert.match(r.stdout, /Killed sandbox process: pid \d+/);
        assert.match(r.stdout, /Deleted nftables table: inet switchyard/);
        assert.match(r.stdout, /Deleted nftables table: bridge switchyard/);
        assert.match(r.stdout, /Deleted link: sy0 /);
        assert.match(r.stdout, /Removed directory: /);
        // The daemon turned IPv4 forwarding on for its first network (this host had it off):
        // reset turns it off again.
        assert.equal(before.forwarding.split(' ')[0], '0');
        assert.match(r.stdout, /Turned off again: net\.ipv4\.ip_forward \(Switchyard had turned it on\)/);
        assert.doesNotMatch(r.stdout, /sy-uplink|sy-user0|syvuser1|sy-lab/);
        const after = snapshot(host, d.root, roots);
        assert.deepEqual(after.links, [...before.links, ...userLinkLines].sort(), 'links as before, plus the user links (kept)');
        assert.equal(after.ruleset, before.ruleset, 'nftables ruleset as before');
        assert.deepEqual(after.mounts, before.mounts, 'no mount left for this host or under the roots');
        assert.deepEqual(after.processes, before.processes, 'no process left in the host namespace or under the roots');
        assert.deepEqual(after.roots, [], 'data and exec roots removed (they did not exist before the daemon)');
        assert.equal(after.forwarding, before.forwarding, 'IP forwarding as before');
        // Idempotent: a second reset finds nothing and says so.
        const again = d.cli(['system', 'reset', '-f', '--data-root', d.dataRoot, '--exec-root', d.execRoot]);
        assert.equal(again.stdout.trim(), 'Switchyard reset: done');
      } finally {
        for (const l of ['sy-uplink', 'sy-user0', 'sy-lab']) inNs(host.name, 'ip', ['link', 'del', l], { allowFail: true });
        await d.stop();
      }
    });
  }

  test('without -f it asks, and a closed stdin answers no (nothing removed)', async () => {
    const d = await startDaemon({ tag: 'rsq' });
    try {
      const r = d.cli(['system', 'reset', '--data-root', d.dataRoot, '--exec-root', d.execRoot], { input: '' });
      assert.match(r.stdout, /Are you sure you want to continue\? \[y\/N\]/);
      await d.client.ping();
      assert.ok(fs.existsSync(d.dataRoot));
    } finally {
      await d.stop();
    }
  });
});
