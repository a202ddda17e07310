/**
 * End-to-end: on a daemon that is not part of a cluster, `network create -d overlay` fails
 * with a clear error naming the cluster store (503), and nothing is made: no network, no
 * namespace, no link. (Overlays across hosts are tested against the driver's contract in
 * test/integration/overlay-driver.test.ts; the cluster lab comes with the engine's wiring.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon } from '../helpers/daemon.js';
import { assertNoLeaks, linksIn } from '../helpers/netns.js';

test('overlay on a daemon without a cluster: network create fails naming the cluster store, nothing made', async () => {
  const d = await startDaemon({ tag: 'ovn' });
  try {
    const links = linksIn(d.host.name);
    const r = d.cli(['network', 'create', '-d', 'overlay', '--subnet', '10.10.0.0/24', 'ov1'], { allowFail: true });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cluster store/, r.stderr);
    assert.doesNotMatch(d.cli(['network', 'ls']).stdout, /ov1/, 'no network recorded');
    assert.deepEqual(linksIn(d.host.name), links, 'no link made');
    const encrypted = d.cli(['network', 'create', '-d', 'overlay', '-o', 'encrypted', 'ov2'], { allowFail: true });
    assert.notEqual(encrypted.status, 0);
  } finally {
    await d.stop();
  }
  assertNoLeaks([d.host.name]);
});
