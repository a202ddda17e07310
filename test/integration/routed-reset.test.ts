/**
 * `switchyard system reset` on a host of routed networks (docs/drivers/routed.md
 * "Clean-up"): in a throwaway host namespace with private roots, the routed driver's veth,
 * its routes (protocol 83), its nftables table, a BIRD run by BirdSupervisor from
 * `<exec-root>/bird` and a route BIRD put there (protocol bird, metric 377) are all removed;
 * an admin's route (proto boot) and another BIRD's route (protocol bird, another metric) are
 * not. Needs root and bird2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { BirdSupervisor, birdDirOf } from '../../src/services/bgp/supervisor.js';
import { CLI } from '../helpers/daemon.js';
import { assertNoLeaks, inNs } from '../helpers/netns.js';
import { routedEndpoint, routedNetwork, RoutedLab } from '../helpers/routed-lab.js';

test('system reset removes the routed driver\'s links, routes and table and the daemon\'s BIRD with its routes, and nothing else', async () => {
  await warmThreadpool();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-rtreset-'));
  const [dataRoot, execRoot] = [path.join(root, 'data'), path.join(root, 'exec')];
  const lab = new RoutedLab();
  let bird: BirdSupervisor | undefined;
  try {
    const seg = lab.segment('rrs');
    const h = lab.host('rrh');
    lab.plug(h.ns, seg, 'sywan0', ['10.99.0.1/24']);
    const net = routedNetwork('9a'.repeat(32), ['10.20.0.0/16']);
    const ep = routedEndpoint(net, '10.20.0.2');
    const sb = lab.ns('rrsb');
    h.run(() => {
      h.driver.ensureNetwork(net);
      h.driver.join(net, ep, { id: ep.sandboxId, nsPath: sb.path }, { gateway: true });
      h.driver.syncRemoteBlocks(net, [{ nodeId: 'n2', nodeAddress: '10.99.0.2', cidr: '10.20.0.64/26' }]);
    });
    bird = new BirdSupervisor({ dir: birdDirOf(execRoot), netnsPath: h.ns.path, log: () => {} });
    await bird.start({ routerId: '10.99.0.1', asn: 65001, peers: [], blocks: ['10.20.0.0/26'], subnets: ['10.20.0.0/16'] });
    const birdPid = bird.pid!;
    inNs(h.ns.name, 'ip', ['route', 'add', '10.20.0.128/26', 'via', '10.99.0.3', 'proto', 'bird', 'metric', '377']);
    inNs(h.ns.name, 'ip', ['route', 'add', '10.20.0.192/26', 'via', '10.99.0.4', 'proto', 'bird', 'metric', '32']);
    inNs(h.ns.name, 'ip', ['route', 'add', '10.20.1.0/26', 'via', '10.99.0.5']);
    const r = spawnSync('nsenter', [`--net=${h.ns.path}`, '--', process.execPath, CLI, '-H', `unix://${path.join(root, 'sock')}`, 'system', 'reset', '-f', '--data-root', dataRoot, '--exec-root', execRoot], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Stopped BIRD: pid ${birdPid}`));
    assert.match(r.stdout, /Deleted nftables table: inet switchyard-routed/);
    assert.match(r.stdout, /Deleted route: 10\.20\.0\.64\/26 via 10\.99\.0\.2 dev sywan0 metric 100 \(proto 83\)/);
    assert.match(r.stdout, /Deleted route: 10\.20\.0\.128\/26 via 10\.99\.0\.3 dev sywan0 metric 377 \(proto bird\)/);
    const routes = inNs(h.ns.name, 'ip', ['route']).stdout;
    assert.doesNotMatch(routes, /proto 83|metric 377|10\.20\.0\.2 /);
    assert.match(routes, /10\.20\.0\.192\/26 via 10\.99\.0\.4 dev sywan0 proto bird metric 32/, 'another BIRD\'s route stays');
    assert.match(routes, /10\.20\.1\.0\/26 via 10\.99\.0\.5 dev sywan0/, 'the admin\'s route stays');
    assert.doesNotMatch(inNs(h.ns.name, 'nft', ['list', 'tables']).stdout, /switchyard-routed/);
    assert.ok(!inNs(h.ns.name, 'ip', ['-o', 'link']).stdout.includes('syr'), 'the veth is gone');
    // BIRD is this test's child (through the supervisor): once dead it is a zombie until reaped.
    const state = (() => { try { return fs.readFileSync(`/proc/${birdPid}/stat`, 'utf8').split(') ')[1]![0]; } catch { return 'gone'; } })();
    assert.ok(state === 'gone' || state === 'Z', `BIRD is gone (state ${state})`);
    assert.ok(!fs.existsSync(execRoot), 'the exec root (BIRD\'s files) is gone');
  } finally {
    // The supervisor would restart the BIRD reset killed (a daemon under reset is stopped first).
    await bird?.stop();
    const names = lab.names();
    await lab.destroy();
    fs.rmSync(root, { recursive: true, force: true });
    assertNoLeaks(names);
  }
});
