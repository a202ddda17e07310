/** What `system reset` may delete: links it can prove Switchyard made, mounts under its roots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountsUnder, switchyardLinkReason } from '../../src/cli/host-ownership.js';
import { GRAVEYARD_GROUP } from '../../src/drivers/graveyard.js';
import { parseCommandLine } from '../../src/cli/command-line.js';

test('links: the alias mark, the graveyard group, legacy bridge/veth names without alias', () => {
  assert.equal(switchyardLinkReason({ name: 'br-anything', alias: 'switchyard:network:abc', kind: 'bridge' }), 'alias');
  assert.equal(switchyardLinkReason({ name: 'x1', group: GRAVEYARD_GROUP, kind: 'veth' }), 'graveyard');
  assert.equal(switchyardLinkReason({ name: 'sy0', kind: 'bridge' }), 'legacy-name');
  assert.equal(switchyardLinkReason({ name: 'syv0123456789', alias: '', kind: 'veth' }), 'legacy-name');
  assert.equal(switchyardLinkReason({ name: 'sy-3f2a', kind: 'bridge' }), 'legacy-name');
});

test("links: a user's sy-uplink is never taken (other kind, or an alias of its own)", () => {
  assert.equal(switchyardLinkReason({ name: 'sy-uplink', kind: 'macvlan' }), undefined);
  assert.equal(switchyardLinkReason({ name: 'sy-uplink' }), undefined, 'a physical device');
  assert.equal(switchyardLinkReason({ name: 'sy-uplink', kind: 'veth', alias: 'my uplink' }), undefined);
  assert.equal(switchyardLinkReason({ name: 'sy-lab', kind: 'bridge', alias: 'lab' }), undefined);
  assert.equal(switchyardLinkReason({ name: 'eth0', kind: 'veth' }), undefined);
  assert.equal(switchyardLinkReason({ name: 'docker0', kind: 'bridge', alias: 'switchyard' }), undefined, 'the prefix is "switchyard:"');
});

test('mounts: at or under the roots, deepest first, escapes decoded', () => {
  const info = [
    '46 45 0:4 net:[1] /run/switchyard/netns/abc rw shared:2 - nsfs nsfs rw',
    '45 24 0:25 /switchyard/netns /run/switchyard/netns rw shared:1 - tmpfs tmpfs rw',
    '47 24 0:25 / /run/switchyardX rw - tmpfs tmpfs rw',
    '48 24 0:25 / /var/lib/switchyard/a\\040b rw - tmpfs tmpfs rw',
    '49 24 0:25 / /run rw - tmpfs tmpfs rw',
  ].join('\n');
  assert.deepEqual(mountsUnder(info, ['/run/switchyard', '/var/lib/switchyard']), ['/run/switchyard/netns/abc', '/var/lib/switchyard/a b', '/run/switchyard/netns']);
});

test('system reset: flags', () => {
  const p = parseCommandLine(['system', 'reset', '-f', '--data-root', '/srv/sy', '--exec-root', '/run/sy'], { env: {} });
  assert.deepEqual(p.command, { name: 'system reset', force: true, dataRoot: '/srv/sy', execRoot: '/run/sy' });
  const d = parseCommandLine(['system', 'reset'], { env: {} });
  assert.deepEqual(d.command, { name: 'system reset', force: false, dataRoot: '/var/lib/switchyard', execRoot: '/run/switchyard' });
});
