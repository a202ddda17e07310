/**
 * Which host bindings a sandbox's -p/-P requests become (pure; services/ports/plan.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinHostPort, planPorts, type PlanInput } from '../../src/services/ports/plan.js';
import { parseExposeSpec, parsePortSpec } from '../../src/model/port-spec.js';
import { SwitchyardError } from '../../src/errors.js';

const dual = { containerIPv4: '172.18.0.2', containerIPv6: 'fd00::2', defaultHostIp: '0.0.0.0' };

function plan(specs: string[], extra: Partial<PlanInput> = {}) {
  return planPorts({ requests: specs.flatMap((s) => parsePortSpec(s)), publishAll: false, expose: [], target: dual, ...extra });
}

test('families: 0.0.0.0 is IPv4 and IPv6 on one port, :: is IPv6 only, an address is that address only', () => {
  const cases: Array<[string, Array<[4 | 6, string, string]>]> = [
    ['8080:80', [[4, '0.0.0.0', '172.18.0.2'], [6, '::', 'fd00::2']]],
    ['0.0.0.0:8080:80', [[4, '0.0.0.0', '172.18.0.2'], [6, '::', 'fd00::2']]],
    ['[::]:8080:80', [[6, '::', 'fd00::2']]],
    ['127.0.0.1:8080:80', [[4, '127.0.0.1', '172.18.0.2']]],
    ['[2001:DB8::0001]:8080:80', [[6, '2001:db8::1', 'fd00::2']]],
  ];
  for (const [spec, want] of cases) {
    const { ports } = plan([spec]);
    assert.equal(ports.length, 1, spec);
    assert.deepEqual(ports[0]!.addresses.map((a) => [a.family, a.hostIp, a.containerIp]), want, spec);
  }
});

test('host port choice: fixed, ephemeral, pick-one range, one-to-one ranges', () => {
  assert.deepEqual(plan(['8080:80']).ports[0]!.choice, { kind: 'fixed', port: 8080 });
  assert.deepEqual(plan(['80']).ports[0]!.choice, { kind: 'ephemeral' });
  assert.deepEqual(plan(['127.0.0.1::80']).ports[0]!.choice, { kind: 'ephemeral' });
  assert.deepEqual(plan(['8000-8010:80']).ports[0]!.choice, { kind: 'range', start: 8000, end: 8010 });
  const oneToOne = plan(['8000-8002:9000-9002/udp']).ports;
  assert.deepEqual(oneToOne.map((p) => [p.choice, p.containerPort, p.proto]), [
    [{ kind: 'fixed', port: 8000 }, 9000, 'udp'],
    [{ kind: 'fixed', port: 8001 }, 9001, 'udp'],
    [{ kind: 'fixed', port: 8002 }, 9002, 'udp'],
  ]);
});

test('no host address takes the network default; a default of one address binds only there', () => {
  const { ports } = plan(['8080:80'], { target: { ...dual, defaultHostIp: '10.0.0.5' } });
  assert.deepEqual(ports[0]!.addresses, [{ family: 4, hostIp: '10.0.0.5', containerIp: '172.18.0.2' }]);
  // An explicit address wins over the default.
  assert.deepEqual(plan(['127.0.0.1:8080:80'], { target: { ...dual, defaultHostIp: '10.0.0.5' } }).ports[0]!.addresses[0]!.hostIp, '127.0.0.1');
  // An empty default means 0.0.0.0.
  assert.equal(plan(['8080:80'], { target: { ...dual, defaultHostIp: '' } }).ports[0]!.addresses.length, 2);
});

test('a sandbox without IPv6 gets no IPv6 binding; a family it lacks entirely is skipped and reported', () => {
  const v4only = { containerIPv4: '172.18.0.2', defaultHostIp: '0.0.0.0' };
  assert.deepEqual(plan(['8080:80'], { target: v4only }).ports[0]!.addresses.map((a) => a.family), [4]);
  const skipped = plan(['[::]:8080:80', '9090:90'], { target: v4only });
  assert.equal(skipped.ports.length, 1);
  assert.equal(skipped.skipped.length, 1);
  assert.match(skipped.skipped[0]!, /80\/tcp on ::.*no address of that family/);
  const v6only = { containerIPv6: 'fd00::2', defaultHostIp: '0.0.0.0' };
  assert.deepEqual(plan(['8080:80'], { target: v6only }).ports[0]!.addresses, [{ family: 6, hostIp: '::', containerIp: 'fd00::2' }]);
});

test('-P adds every exposed port not already published, each on an ephemeral port', () => {
  const { ports } = plan(['8080:80'], { publishAll: true, expose: [...parseExposeSpec('80'), ...parseExposeSpec('53/udp'), ...parseExposeSpec('9000-9001')] });
  assert.deepEqual(ports.map((p) => [p.containerPort, p.proto, p.choice.kind]), [
    [80, 'tcp', 'fixed'],
    [53, 'udp', 'ephemeral'],
    [9000, 'tcp', 'ephemeral'],
    [9001, 'tcp', 'ephemeral'],
  ]);
  // Without -P the exposed ports are not published.
  assert.equal(plan([], { expose: parseExposeSpec('80') }).ports.length, 0);
});

test('a default host address that is not an address is rejected, naming the field', () => {
  assert.throws(() => plan(['8080:80'], { target: { ...dual, defaultHostIp: 'localhost' } }), (err: unknown) => {
    assert.ok(err instanceof SwitchyardError);
    assert.equal(err.code, 'INVALID_HOST_IP');
    assert.equal(err.field, 'PortBindings[0].HostIp');
    return true;
  });
});

test('[::1] is refused with a reason: IPv6 loopback cannot be DNATed into a bridge', () => {
  assert.throws(() => plan(['8080:80', '[::1]:8081:80']), (err: unknown) => {
    assert.ok(err instanceof SwitchyardError);
    assert.equal(err.code, 'PORT_IPV6_LOOPBACK');
    assert.equal(err.field, 'PortBindings[1].HostIp');
    assert.match(err.message, /use 127\.0\.0\.1/);
    return true;
  });
});

test('joinHostPort writes addresses the way Docker messages do', () => {
  assert.equal(joinHostPort('0.0.0.0', 8080), '0.0.0.0:8080');
  assert.equal(joinHostPort('::', 8080), '[::]:8080');
  assert.equal(joinHostPort('::1', '8000-8010'), '[::1]:8000-8010');
});
