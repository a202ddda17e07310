import { test } from 'node:test';
import assert from 'node:assert/strict';
import { macFromIpv4 } from '../../src/model/ip.js';
import { SwitchyardError } from '../../src/errors.js';

test('macFromIpv4: 02:42 and the four octets (Docker overlay), prefix ignored; not IPv4 → INVALID_ARGUMENT', () => {
  assert.equal(macFromIpv4('10.77.0.4/24'), '02:42:0a:4d:00:04');
  assert.equal(macFromIpv4('192.168.255.1'), '02:42:c0:a8:ff:01');
  assert.throws(() => macFromIpv4('fd00::1/64'), (e: SwitchyardError) => e.code === 'INVALID_ARGUMENT');
});
