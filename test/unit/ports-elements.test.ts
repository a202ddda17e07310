/**
 * The nftables text of publishing and unpublishing (pure; firewall/ruleset.ts): elements
 * only, one statement per map, idempotent removal. Applied for real in
 * test/integration/ports.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishedKey, renderAddPorts, renderDeleteDnatKey, renderDeletePorts, type PortElement } from '../../src/services/firewall/ruleset.js';
import { SwitchyardError } from '../../src/errors.js';

const T = 'inet switchyard';
const any4: PortElement = { family: 4, hostIp: '', proto: 'tcp', hostPort: 8080, containerIp: '172.18.0.2', containerPort: 80 };
const any6: PortElement = { family: 6, hostIp: '', proto: 'tcp', hostPort: 8080, containerIp: 'fd00::2', containerPort: 80 };
const local: PortElement = { family: 4, hostIp: '127.0.0.1', proto: 'udp', hostPort: 5353, containerIp: '172.18.0.2', containerPort: 53 };
const one6: PortElement = { family: 6, hostIp: '2001:db8::1', proto: 'sctp', hostPort: 9, containerIp: 'fd00::2', containerPort: 9 };

test('publish: one add-element statement per map, whatever the number of ports', () => {
  assert.equal(renderAddPorts([any4, any6, local, one6, { ...any4, hostPort: 8081 }]), [
    `add element ${T} dnat4-any { tcp . 8080 : 172.18.0.2 . 80, tcp . 8081 : 172.18.0.2 . 80 }`,
    `add element ${T} dnat6-any { tcp . 8080 : fd00::2 . 80 }`,
    `add element ${T} dnat4 { 127.0.0.1 . udp . 5353 : 172.18.0.2 . 53 }`,
    `add element ${T} dnat6 { 2001:db8::1 . sctp . 9 : fd00::2 . 9 }`,
    // Two host ports to one container port: one published element.
    `add element ${T} published4 { 172.18.0.2 . tcp . 80, 172.18.0.2 . udp . 53 }`,
    `add element ${T} published6 { fd00::2 . tcp . 80, fd00::2 . sctp . 9 }`,
    '',
  ].join('\n'));
});

test('unpublish: add then delete each element, so a missing one is not an error; published only as asked', () => {
  assert.equal(renderDeletePorts([any4, local], [{ family: 4, containerIp: '172.18.0.2', proto: 'udp', containerPort: 53 }]), [
    `add element ${T} dnat4-any { tcp . 8080 : 172.18.0.2 . 80 }`,
    `delete element ${T} dnat4-any { tcp . 8080 }`,
    `add element ${T} dnat4 { 127.0.0.1 . udp . 5353 : 172.18.0.2 . 53 }`,
    `delete element ${T} dnat4 { 127.0.0.1 . udp . 5353 }`,
    `add element ${T} published4 { 172.18.0.2 . udp . 53 }`,
    `delete element ${T} published4 { 172.18.0.2 . udp . 53 }`,
    '',
  ].join('\n'));
  assert.equal(renderDeletePorts([], []), '');
  assert.equal(renderDeleteDnatKey(local), `delete element ${T} dnat4 { 127.0.0.1 . udp . 5353 }\n`);
});

test('published keys identify the container end only', () => {
  assert.equal(publishedKey(any4), publishedKey({ ...any4, hostPort: 9999, hostIp: '10.0.0.1' } as PortElement));
  assert.notEqual(publishedKey(any4), publishedKey(any6));
});

test('anything that would be pasted into nft text is checked first', () => {
  const bad: Array<[Partial<PortElement>, string]> = [
    [{ proto: 'icmp' as never }, 'proto'],
    [{ hostPort: 0 }, 'hostPort'],
    [{ hostPort: 65536 }, 'hostPort'],
    [{ containerPort: 1.5 }, 'containerPort'],
    [{ containerIp: 'fd00::2' }, 'containerIp'],
    [{ containerIp: '1.2.3.4 } ; flush ruleset ; {' }, 'containerIp'],
    [{ hostIp: '::1' }, 'hostIp'],
  ];
  for (const [patch, field] of bad) {
    assert.throws(() => renderAddPorts([{ ...any4, ...patch }]), (err: unknown) => {
      assert.ok(err instanceof SwitchyardError);
      assert.equal(err.code, 'FIREWALL_INVALID_PORT');
      assert.equal(err.field, field);
      return true;
    }, JSON.stringify(patch));
  }
});
