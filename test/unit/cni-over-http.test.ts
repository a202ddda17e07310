/**
 * The CNI layer as the daemon runs it behind POST /cni: the Cni-* headers as the environment
 * (percent-decoded, empty = unset), the answer with its exit code; Podman's form of the
 * aliases capability and its K8S_POD_NAME; the in-process backend over the engine answering
 * as the attachment routes would (errors without their field, the host end's MAC added); and
 * the engine's checks of CNI port mappings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cniOverHttp, environmentOf } from '../../src/frontends/cni/over-http.js';
import { EngineBackend, type EngineForCni } from '../../src/frontends/cni/engine-backend.js';
import { portRequests } from '../../src/engine/attachment-ops.js';
import { invalid, notFound, SwitchyardError } from '../../src/errors.js';
import type { AttachRequest, AttachResult } from '../../src/model/attachments.js';
import { FakeBackend } from '../helpers/cni-fake-backend.js';

const NS = '/run/netns/swy-fake';
const headers = (command: string, extra: Record<string, string> = {}) => ({
  'cni-command': command, 'cni-containerid': 'c1', 'cni-netns': NS, 'cni-ifname': 'eth0', 'cni-path': '/opt/cni/bin', ...extra,
});
const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'cninet', type: 'switchyard', network: 'blue', ...extra });

test('the Cni-* headers are the CNI_* variables: percent-decoded, empty ones unset, bad UTF-8 is error 4', async () => {
  assert.deepEqual(environmentOf({ 'cni-command': 'ADD', 'cni-netns': '/run/netns/a%20b', 'cni-args': 'K8S_POD_NAME=web%3Bx', 'cni-ifname': '' }), {
    CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/a b', CNI_ARGS: 'K8S_POD_NAME=web%3Bx'.replace('%3B', ';'),
  });
  const r = await cniOverHttp({ ...headers('ADD'), 'cni-netns': '%FF' }, conf(), new FakeBackend(), () => true);
  assert.equal(r.exitCode, 1);
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).code, 4);
});

test('the answer carries the exit code: 200/0 with the result, 400/1 with the error object', async () => {
  const b = new FakeBackend({ blue: { prefix24: '10.77.0' } });
  const ok = await cniOverHttp(headers('ADD'), conf(), b, () => true);
  assert.deepEqual([ok.status, ok.exitCode], [200, 0]);
  assert.equal(JSON.parse(ok.text).ips[0].address, '10.77.0.2/24');
  const bad = await cniOverHttp(headers('ADD'), conf({ network: 'green' }), b, () => true);
  assert.deepEqual([bad.status, bad.exitCode, JSON.parse(bad.text).code], [400, 1, 7]);
  const del = await cniOverHttp(headers('DEL'), conf(), b, () => true);
  assert.deepEqual([del.status, del.exitCode, del.text], [200, 0, '']);
});

test("Podman's aliases map (network name → list) and K8S_POD_NAME become the attachment's names", async () => {
  const b = new FakeBackend({ blue: { prefix24: '10.77.0' } });
  const r = await cniOverHttp(
    headers('ADD', { 'cni-args': 'IgnoreUnknown=1;K8S_POD_NAME=web' }),
    conf({ aliases: ['fixed'], runtimeConfig: { aliases: { cninet: ['www', 'web'], other: ['nope'] } } }),
    b, () => true);
  assert.equal(r.exitCode, 0, r.text);
  assert.deepEqual([...b.held.values()][0]!.aliases, ['fixed', 'www', 'web']);
  // The list form still works; a bad map entry names its field.
  const bad = await cniOverHttp(headers('ADD', { 'cni-containerid': 'c2' }), conf({ runtimeConfig: { aliases: { cninet: [1] } } }), b, () => true);
  assert.equal(JSON.parse(bad.text).code, 7);
  assert.match(JSON.parse(bad.text).details, /runtimeConfig\.aliases\.cninet/);
});

/** An engine whose attachment operations answer from a script. */
function fakeEngine(over: Partial<EngineForCni> = {}): EngineForCni & { attached: AttachRequest[] } {
  const attached: AttachRequest[] = [];
  const result: AttachResult = { sandboxId: 'c1', networkId: 'n1', network: 'blue', ifname: 'eth0', mac: '02:00:00:00:00:02', addresses: ['10.77.0.2/24'], gateways: ['10.77.0.1'], hostLink: 'syv0123456789' };
  return {
    attached,
    attach: async (req) => {
      attached.push(req);
      return result;
    },
    detach: async () => ({ errors: [] }),
    checkAttachment: async () => result,
    gcAttachments: async () => ({ errors: [] }),
    inspectNetwork: async (ref) => {
      if (ref !== 'blue') throw notFound('NETWORK_NOT_FOUND', `network ${ref} not found`);
      return {};
    },
    ...over,
  };
}

test('the in-process backend: host end first with its MAC, ports passed on, errors as a reply carries them', async () => {
  const engine = fakeEngine();
  const backend = EngineBackend.factory(engine, (name) => (name === 'syv0123456789' ? 'aa:bb:cc:00:00:01' : undefined));
  const r = await cniOverHttp(headers('ADD'), conf({ runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }), backend, () => true);
  const out = JSON.parse(r.text);
  assert.deepEqual(out.interfaces, [
    { name: 'syv0123456789', mac: 'aa:bb:cc:00:00:01' },
    { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: NS },
  ]);
  assert.equal(out.ips[0].interface, 1);
  assert.deepEqual(engine.attached[0]!.ports, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);

  // An engine error keeps kind, code and message; its field does not travel (as over the routes).
  const failing = EngineBackend.factory(fakeEngine({ attach: async () => { throw invalid('INVALID_ADDRESS', 'bad address', 'Addresses[0]'); } }));
  const e = JSON.parse((await cniOverHttp(headers('ADD'), conf(), failing, () => true)).text);
  assert.deepEqual([e.code, e.details], [7, 'INVALID_ADDRESS']);
  // A malformed host is refused before anything is asked (7), as the plugin process does.
  assert.equal(JSON.parse((await cniOverHttp(headers('ADD'), conf({ host: 'tcp://x' }), backend, () => true)).text).code, 7);
  // STATUS: 0 for a network that exists, 50 otherwise.
  assert.equal((await cniOverHttp(headers('STATUS'), conf({ cniVersion: '1.1.0' }), backend, () => true)).exitCode, 0);
  assert.equal(JSON.parse((await cniOverHttp(headers('STATUS'), conf({ cniVersion: '1.1.0', network: 'green' }), backend, () => true)).text).code, 50);
  // A teardown that reports errors is a failed DEL.
  const torn = EngineBackend.factory(fakeEngine({ detach: async () => ({ errors: [new SwitchyardError('internal', 'LINK_DELETE_FAILED', 'could not')] }) }));
  assert.equal(JSON.parse((await cniOverHttp(headers('DEL'), conf(), torn, () => true)).text).code, 999);
});

test('CNI port mappings as port requests: checked field by field', () => {
  assert.deepEqual(portRequests([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }]), [
    { hostPort: 8080, containerPort: 80, proto: 'tcp', hostIp: '' },
    { hostPort: 53, containerPort: 53, proto: 'udp', hostIp: '127.0.0.1' },
  ]);
  const fails = (ports: unknown, field: string) =>
    assert.throws(() => portRequests(ports as never), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_PORT' && e.field === field);
  fails([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }], 'Ports[0].hostPort');
  fails([{ hostPort: 80, containerPort: 70000, protocol: 'tcp' }], 'Ports[0].containerPort');
  fails([{ hostPort: 80, containerPort: 80, protocol: 'icmp' }], 'Ports[0].protocol');
  assert.throws(() => portRequests([{ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: 'nope' }]), (e: SwitchyardError) => e.field === 'Ports[0].hostIP');
});
