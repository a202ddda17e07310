import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_BRIDGE, needsGatewayBridge } from '../../src/engine/gateway-bridge.js';
import type { NetworkRecord } from '../../src/model/records.js';

const net = (o: Partial<NetworkRecord>): NetworkRecord =>
  ({ name: 'n', driver: 'bridge', scope: 'local', internal: false, pools: [{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }], ...o }) as unknown as NetworkRecord;

test('needsGatewayBridge: a non-internal overlay without a routed local network (Docker\'s rule)', () => {
  const ov = net({ name: 'ov', driver: 'overlay', scope: 'global' });
  assert.equal(needsGatewayBridge([ov]), true);
  assert.equal(needsGatewayBridge([net({ name: 'ovi', driver: 'overlay', scope: 'global', internal: true })]), false, 'internal overlay: no way out');
  assert.equal(needsGatewayBridge([ov, net({})]), false, 'a local bridge with a gateway gives the route');
  assert.equal(needsGatewayBridge([ov, net({ internal: true })]), true, 'an internal local network gives none');
  assert.equal(needsGatewayBridge([ov, net({ name: GATEWAY_BRIDGE })]), true, 'the gateway bridge itself does not count');
  assert.equal(needsGatewayBridge([net({ name: 'g', driver: 'bridge', scope: 'global' })]), false, 'another global driver: not the overlay rule');
  assert.equal(needsGatewayBridge([]), false);
});
