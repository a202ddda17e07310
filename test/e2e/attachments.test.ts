/**
 * End-to-end: attachments to network namespaces the caller owns (an "external" sandbox),
 * through the typed client, the way a CNI or netavark front end will call them: attach is
 * idempotent, detach of what is gone succeeds and can be repeated, check tells a broken
 * attachment, gc keeps only what it is told, and reconcile keeps an external sandbox while
 * its namespace exists and drops it when the namespace is gone. No process, no /etc files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { inNs, makeNs, removeNs, type TestNs } from '../helpers/netns.js';
import { SwitchyardError } from '../../src/errors.js';

describe('attachments to namespaces the caller owns (e2e)', () => {
  let d: TestDaemon;
  const spaces: TestNs[] = [];
  const ns = (tag: string): TestNs => {
    const n = makeNs(tag);
    spaces.push(n);
    return n;
  };
  const addrs = (n: TestNs) => inNs(n.name, 'ip', ['-o', '-4', 'addr']).stdout;
  const listening = (n: TestNs) => inNs(n.name, 'ss', ['-Hlnut', 'src', '127.0.0.11']).stdout.trim().split('\n').filter(Boolean).length;
  const digIn = (n: TestNs, name: string) =>
    inNs(n.name, 'dig', ['@127.0.0.11', '+tries=1', '+time=2', '+short', name], { allowFail: true, timeoutMs: 10_000 }).stdout.trim();
  const peerAddress = () => JSON.parse(d.cli(['inspect', 'peer']).stdout)[0].NetworkSettings.Networks.anet.IPAddress as string;
  const rejects = async (p: Promise<unknown>, code: string) =>
    assert.rejects(p, (e: unknown) => e instanceof SwitchyardError && e.code === code, code);

  before(async () => {
    d = await startDaemon({ tag: 'att' });
    d.cli(['network', 'create', '--subnet', '10.93.0.0/24', 'anet']);
    d.cli(['run', '-d', '--name', 'peer', '--network', 'anet', '--', 'sleep', 'infinity']);
  });
  after(async () => {
    await d?.stop();
    for (const n of spaces) removeNs(n);
  });

  test('attach is idempotent, gives a working interface, and writes no files or process', async () => {
    const c = ns('ext');
    const req = { sandbox: { id: 'ctr-one', nsPath: c.path }, network: 'anet', ifname: 'net0' };
    const first = await d.client.attach(req);
    assert.equal(first.ifname, 'net0');
    assert.deepEqual(first.dns, { nameservers: ['127.0.0.11'] }, 'a user-defined network: the embedded DNS');
    assert.equal(digIn(c, 'peer'), peerAddress(), 'the peer sandbox resolves from the attached namespace');
    assert.match(first.addresses[0]!, /^10\.93\.0\.\d+\/24$/);
    assert.deepEqual(first.gateways, ['10.93.0.1']);
    const again = await d.client.attach(req);
    assert.deepEqual(again, first, 'a repeated ADD returns the same result');
    assert.match(addrs(c), new RegExp(` ${first.addresses[0]!.replace(/\./g, '\\.')} `));
    assert.equal((addrs(c).match(/ net0 /g) ?? []).length, 1, 'one interface, not two');
    const peerIp = JSON.parse(d.cli(['inspect', 'peer']).stdout)[0].NetworkSettings.Networks.anet.IPAddress;
    assert.equal(inNs(c.name, 'ping', ['-c1', '-W2', peerIp], { allowFail: true }).status, 0, 'reaches a Switchyard sandbox on the network');
    await d.client.checkAttachment({ sandboxId: 'ctr-one', network: 'anet', ifname: 'net0' });
    // Not a Switchyard sandbox: not listed, no directory of its own.
    assert.doesNotMatch(d.cli(['ps', '-a']).stdout, /external-/);
    assert.deepEqual(fs.readdirSync(`${d.dataRoot}/sandboxes`).length, 1, 'only peer has a directory');
    // Network inspect shows the endpoint, and the network cannot be removed under it.
    assert.equal(Object.keys(JSON.parse(d.cli(['network', 'inspect', 'anet']).stdout)[0].Containers).length, 2);
    assert.notEqual(d.cli(['network', 'rm', 'anet'], { allowFail: true }).status, 0);

    const report = await d.client.detach({ sandboxId: 'ctr-one', network: 'anet', ifname: 'net0' });
    assert.deepEqual(report.errors, []);
    assert.doesNotMatch(addrs(c), /10\.93\.0\./, 'the address is gone once detach returned');
    assert.equal(listening(c), 0, 'detach closed the resolver sockets');
    assert.deepEqual((await d.client.detach({ sandboxId: 'ctr-one', network: 'anet', ifname: 'net0' })).errors, [], 'detach again: success');
    assert.deepEqual((await d.client.detach({ sandboxId: 'never-seen', network: 'no-such-net', ifname: 'net0' })).errors, [], 'unknown: success');
    await rejects(d.client.checkAttachment({ sandboxId: 'ctr-one', network: 'anet', ifname: 'net0' }), 'ATTACHMENT_NOT_FOUND');
  });

  test('bad requests name the field; hand-over is refused by the bridge (not implemented)', async () => {
    const c = ns('ext');
    await rejects(d.client.attach({ sandbox: { id: 'a b', nsPath: c.path }, network: 'anet', ifname: 'net0' }), 'INVALID_SANDBOX_ID');
    await rejects(d.client.attach({ sandbox: { id: 'x', nsPath: c.path }, network: 'anet', ifname: 'bad name' }), 'INVALID_IFNAME');
    await rejects(d.client.attach({ sandbox: { id: 'x', nsPath: '/tmp' }, network: 'anet', ifname: 'net0' }), 'NETNS_NOT_FOUND');
    await rejects(d.client.attach({ sandbox: { id: 'x', nsPath: c.path }, network: 'host', ifname: 'net0' }), 'NETWORK_NOT_ATTACHABLE');
    await rejects(d.client.attach({ sandbox: { id: 'x', nsPath: c.path }, network: 'anet', ifname: 'net0', handOver: true }), 'HAND_OVER_NOT_SUPPORTED');
    await rejects(d.client.attach({ sandbox: { id: 'x', nsPath: c.path }, network: 'anet', ifname: 'net0', addresses: ['10.99.0.5'] }), 'STATIC_IP_OUTSIDE');
    assert.equal(inNs(c.name, 'ip', ['-o', 'link']).stdout.trim().split('\n').length, 1, 'nothing was made');
  });

  test('caller-given addresses (netavark style) on a network whose subnet was picked by the daemon', async () => {
    d.cli(['network', 'create', 'autonet']);
    const subnet = JSON.parse(d.cli(['network', 'inspect', 'autonet']).stdout)[0].IPAM.Config[0].Subnet as string;
    const given = subnet.replace(/\.0\/\d+$/, '.77');
    const c = ns('ext');
    const r = await d.client.attach({ sandbox: { id: 'ctr-given', nsPath: c.path }, network: 'autonet', ifname: 'eth0', addresses: [given] });
    assert.equal(r.addresses[0]!.split('/')[0], given);
    await rejects(d.client.attach({ sandbox: { id: 'ctr-other', nsPath: ns('ext').path }, network: 'autonet', ifname: 'eth0', addresses: [given] }), 'ADDRESS_IN_USE');
    await d.client.detach({ sandboxId: 'ctr-given', network: 'autonet', ifname: 'eth0' });
    d.cli(['network', 'rm', 'autonet']);
  });

  test('gc keeps only what it is told; reconcile keeps an external sandbox while its namespace lives', async () => {
    const [a, b, e] = [ns('ext'), ns('ext'), ns('ext')];
    await d.client.attach({ sandbox: { id: 'ctr-a', nsPath: a.path }, network: 'anet', ifname: 'eth0' });
    await d.client.attach({ sandbox: { id: 'ctr-b', nsPath: b.path }, network: 'anet', ifname: 'eth0' });
    const gcReport = await d.client.gcAttachments([{ sandboxId: 'ctr-a', ifname: 'eth0' }]);
    assert.deepEqual(gcReport.errors, []);
    await d.client.checkAttachment({ sandboxId: 'ctr-a', network: 'anet', ifname: 'eth0' });
    await rejects(d.client.checkAttachment({ sandboxId: 'ctr-b', network: 'anet', ifname: 'eth0' }), 'ATTACHMENT_NOT_FOUND');
    assert.doesNotMatch(addrs(b), /10\.93\.0\./);
    assert.equal(listening(b), 0, 'gc closed the resolver sockets in b');
    assert.equal(listening(a), 2, 'a keeps its resolver (UDP and TCP 127.0.0.11:53)');

    const ea = await d.client.attach({ sandbox: { id: 'ctr-e', nsPath: e.path }, network: 'anet', ifname: 'eth0' });
    // The daemon goes down; ctr-a's namespace stays, ctr-e's is deleted meanwhile.
    const exited = new Promise((resolve) => d.proc.once('exit', resolve));
    d.proc.kill('SIGKILL');
    await exited;
    removeNs(e);
    await d.restart();
    await d.client.checkAttachment({ sandboxId: 'ctr-a', network: 'anet', ifname: 'eth0' });
    assert.equal(listening(a), 2, 'reconcile reopened the resolver in a kept namespace');
    assert.equal(digIn(a, 'peer'), peerAddress(), 'and it answers');
    await rejects(d.client.checkAttachment({ sandboxId: 'ctr-e', network: 'anet', ifname: 'eth0' }), 'ATTACHMENT_NOT_FOUND');
    // Its address is free again: a new attachment asking for it gets it.
    const again = await d.client.attach({ sandbox: { id: 'ctr-e2', nsPath: b.path }, network: 'anet', ifname: 'eth0', addresses: [ea.addresses[0]!] });
    assert.equal(again.addresses[0], ea.addresses[0]);
    await d.client.gcAttachments([]);
    await rejects(d.client.checkAttachment({ sandboxId: 'ctr-a', network: 'anet', ifname: 'eth0' }), 'ATTACHMENT_NOT_FOUND');
    assert.equal(listening(a), 0, 'gc closed it again');
  });
});
