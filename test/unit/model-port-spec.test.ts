import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { hostPortText, parseExposeSpec, parsePortSpec, portKey, publishAllBindings, type PortBinding } from '../../src/model/port-spec.js';

const b = (containerPort: number, hostIp = '', hostPort = 0, proto: 'tcp' | 'udp' | 'sctp' = 'tcp', hostPortEnd?: number): PortBinding =>
  hostPortEnd === undefined ? { containerPort, proto, hostIp, hostPort } : { containerPort, proto, hostIp, hostPort, hostPortEnd };

test('every -p form', () => {
  const cases: [string, PortBinding[]][] = [
    ['80', [b(80)]],
    [':80', [b(80)]],
    ['8080:80', [b(80, '', 8080)]],
    ['0:80', [b(80)]],
    ['127.0.0.1:8080:80', [b(80, '127.0.0.1', 8080)]],
    ['127.0.0.1::80', [b(80, '127.0.0.1')]],
    ['[::1]:8080:80', [b(80, '::1', 8080)]],
    ['[::]::80/udp', [b(80, '::', 0, 'udp')]],
    ['::1:8080:80', [b(80, '::1', 8080)]], // unbracketed, as go-connections allows
    ['[2001:DB8::0001]:53:53/udp', [b(53, '2001:db8::1', 53, 'udp')]],
    ['8000-8002:9000-9002', [b(9000, '', 8000), b(9001, '', 8001), b(9002, '', 8002)]],
    ['8000-8010:80', [b(80, '', 8000, 'tcp', 8010)]],
    ['80-82', [b(80), b(81), b(82)]],
    ['53/UDP', [b(53, '', 0, 'udp')]],
    ['9/sctp', [b(9, '', 0, 'sctp')]],
    ['80/', [b(80)]],
    ['65535:65535', [b(65535, '', 65535)]],
  ];
  for (const [spec, want] of cases) assert.deepEqual(parsePortSpec(spec), want, spec);
});

test('bad -p specs are invalid and quote the spec', () => {
  for (const bad of ['', 'abc', '0', '80:', '65536', '70000:80', '8000-8001:80-82', '80-70', '1.2.3:80:80', '[::1:80:80',
    'localhost:80:80', '80/icmp', '-1', '80:80:80:80', '8080:80-81']) {
    assert.throws(() => parsePortSpec(bad, 'PortSpecs[0]'), (e: unknown) =>
      e instanceof SwitchyardError && e.kind === 'invalid' && e.code === 'INVALID_PORT_SPEC' && e.field === 'PortSpecs[0]' && e.message.includes(JSON.stringify(bad)), bad);
  }
});

test('--expose and -P', () => {
  assert.deepEqual(parseExposeSpec('80'), [{ port: 80, proto: 'tcp' }]);
  assert.deepEqual(parseExposeSpec('53/udp'), [{ port: 53, proto: 'udp' }]);
  assert.deepEqual(parseExposeSpec('7000-7002/tcp').map(portKey), ['7000/tcp', '7001/tcp', '7002/tcp']);
  for (const bad of ['x', '0', '80/foo', '90-80', '']) assert.throws(() => parseExposeSpec(bad), SwitchyardError, bad);
  const published = parsePortSpec('8080:80');
  const exposed = [...parseExposeSpec('80'), ...parseExposeSpec('443'), ...parseExposeSpec('53/udp'), ...parseExposeSpec('443')];
  assert.deepEqual(publishAllBindings(exposed, published), [b(443), b(53, '', 0, 'udp')]);
});

test('HostPort text as Docker stores it', () => {
  assert.equal(hostPortText(b(80)), '');
  assert.equal(hostPortText(b(80, '', 8080)), '8080');
  assert.equal(hostPortText(parsePortSpec('8000-8010:80')[0]!), '8000-8010');
});
