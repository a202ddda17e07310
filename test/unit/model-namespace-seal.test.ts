/**
 * model/namespace-seal.ts: which sandboxes' namespaces are sealed (no process let in may hold
 * CAP_NET_ADMIN there), the rule the overlay's direct ports rest on (docs/drivers/overlay.md
 * "Ports"). Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mayHoldNetAdmin, namespaceSealed } from '../../src/model/namespace-seal.js';
import type { SandboxRecord } from '../../src/model/records.js';

const sb = (id: string, extra: Partial<SandboxRecord> = {}): SandboxRecord => ({
  v: 1, id, owner: 'switchyard', name: id, hostname: id, created: '', command: [], env: [], networkMode: 'bridge',
  state: { status: 'running', pid: 1, exitCode: 0, startedAt: '', finishedAt: '' },
  dns: { servers: [], search: [], options: [] }, links: [], publish: [], publishAll: false, expose: [], ports: [], autoRemove: false, dir: '',
  ...extra,
} as SandboxRecord);

test('mayHoldNetAdmin follows docker run\'s capability rules', () => {
  assert.equal(mayHoldNetAdmin({}), false, 'Docker\'s default set lacks NET_ADMIN');
  assert.equal(mayHoldNetAdmin({ capAdd: ['CAP_NET_ADMIN'] }), true);
  assert.equal(mayHoldNetAdmin({ capAdd: ['ALL'] }), true);
  assert.equal(mayHoldNetAdmin({ capAdd: ['ALL'], capDrop: ['CAP_NET_ADMIN'] }), false);
  assert.equal(mayHoldNetAdmin({ capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'] }), true, 'drop ALL keeps only the added ones');
  assert.equal(mayHoldNetAdmin({ privileged: true }), true);
  assert.equal(mayHoldNetAdmin({ capAdd: ['CAP_NET_RAW'] }), false, 'raw sockets alone do not unseal');
});

test('namespaceSealed: a Switchyard sandbox of its own namespace without NET_ADMIN, and no sharer with it', () => {
  const a = sb('a');
  assert.equal(namespaceSealed(a, [a]), true);
  assert.equal(namespaceSealed(sb('b', { capAdd: ['CAP_NET_ADMIN'] }), []), false, '--cap-add NET_ADMIN');
  assert.equal(namespaceSealed(sb('b', { privileged: true }), []), false, '--privileged');
  assert.equal(namespaceSealed(sb('b', { owner: 'external' }), []), false, 'an external namespace (CNI, netavark): capabilities unknown');
  assert.equal(namespaceSealed(sb('b', { networkMode: 'host' }), []), false, 'host mode: no namespace of its own');
  assert.equal(namespaceSealed(sb('b', { networkMode: 'container:a' }), []), false, 'a sharer is never the one whose ports are checked');
  const plain = sb('c', { networkMode: 'container:a' });
  assert.equal(namespaceSealed(a, [a, plain]), true, 'a sharer without NET_ADMIN keeps it sealed');
  const admin = sb('d', { networkMode: 'container:a', capAdd: ['CAP_NET_ADMIN'], state: { status: 'created' } as SandboxRecord['state'] });
  assert.equal(namespaceSealed(a, [a, plain, admin]), false, 'a sharer that may hold NET_ADMIN (even one not started yet) unseals it');
  assert.equal(namespaceSealed(a, [a, sb('e', { networkMode: 'container:z', capAdd: ['CAP_NET_ADMIN'] })]), true, 'another namespace\'s sharer does not count');
});
