/**
 * End-to-end: the CNI plugin binary (bin/cni/switchyard) against a REAL daemon, exec'd the
 * way a runtime calls plugins (CNI_* variables, the network config on stdin) from the daemon's
 * host namespace. ADD into fresh namespaces gives them a working interface (address and routes,
 * two of them ping each other, the attachment shows in `switchyard network inspect`, the
 * config's aliases resolve in the network's DNS from a Switchyard sandbox); CHECK
 * passes, then fails with 3 once the address is removed; DEL is idempotent; GC keeps only what
 * cni.dev/valid-attachments lists; with the daemon stopped a DEL is 11 (try again later).
 * DNS: the result names 127.0.0.11 and dig from inside an attached namespace (lo down
 * before ADD) resolves a sandbox and another attachment's alias; DEL closes the sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { REPO, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNoLeaks, inNs, makeNs, removeNs, type TestNs } from '../helpers/netns.js';

const PLUGIN = path.join(REPO, 'bin', 'cni', 'switchyard');

describe('CNI plugin against the real daemon (e2e)', () => {
  let d: TestDaemon;
  let stopped = false;
  const spaces: TestNs[] = [];
  const ns = (tag: string): TestNs => {
    const n = makeNs(tag);
    spaces.push(n);
    return n;
  };
  const conf = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ cniVersion: '1.1.0', name: 'swy-cni', type: 'switchyard', network: 'cninet', host: `unix://${d.socket}`, ...extra });

  /** One plugin exec; from the daemon's host namespace while it runs (a runtime on that host). */
  function cni(command: string, id: string, n: TestNs | undefined, stdin: string): { code: number; out: any; stderr: string } {
    const env = { PATH: process.env['PATH'] ?? '', CNI_COMMAND: command, CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent', ...(id ? { CNI_CONTAINERID: id } : {}), ...(n ? { CNI_NETNS: n.path } : {}) };
    const argv = stopped ? [PLUGIN] : ['nsenter', `--net=${d.host.path}`, '--', PLUGIN];
    const r = spawnSync(argv[0]!, argv.slice(1), { env, input: stdin, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, out: r.stdout.trim() ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
  }
  const v4 = (n: TestNs) => inNs(n.name, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0'], { allowFail: true }).stdout;

  before(async () => {
    d = await startDaemon({ tag: 'cni' });
    d.cli(['network', 'create', '--subnet', '10.94.0.0/24', 'cninet']);
  });
  after(async () => {
    if (!stopped) await d?.stop();
    for (const n of spaces) removeNs(n);
    assertNoLeaks(spaces.map((n) => n.name));
  });

  test('DNS in the attached namespace: the result names 127.0.0.11, names resolve there, DEL closes it', async () => {
    const [x, y] = [ns('cnix'), ns('cniy')];
    // lo down, as a runtime that has not run its loopback plugin yet leaves it: the daemon sets it up.
    inNs(x.name, 'ip', ['link', 'set', 'lo', 'down']);
    const dig = (n: TestNs, name: string) =>
      inNs(n.name, 'dig', ['@127.0.0.11', '+tries=1', '+time=2', '+short', name], { allowFail: true, timeoutMs: 10_000 });
    const listening = (n: TestNs) => inNs(n.name, 'ss', ['-Hlnut', 'src', '127.0.0.11']).stdout.trim().split('\n').filter(Boolean).length;
    assert.equal(listening(x), 0, 'control: nothing listens before ADD');
    assert.notEqual(dig(x, 'dnspeer').status, 0, 'control: no resolver before ADD');

    d.cli(['run', '-d', '--name', 'dnspeer', '--network', 'cninet', '--', 'sleep', 'infinity']);
    const peerIp = JSON.parse(d.cli(['inspect', 'dnspeer']).stdout)[0].NetworkSettings.Networks.cninet.IPAddress as string;
    const rx = cni('ADD', 'ctr-x', x, conf({ aliases: ['dns-x'] }));
    assert.equal(rx.code, 0, JSON.stringify(rx.out) + rx.stderr);
    assert.deepEqual(rx.out.dns, { nameservers: ['127.0.0.11'] }, 'the result points resolv.conf at the embedded DNS');
    const ry = cni('ADD', 'ctr-y', y, conf({ aliases: ['dns-y'] }));
    assert.equal(ry.code, 0, JSON.stringify(ry.out) + ry.stderr);
    const ipOf = (r: any) => (r.ips[0].address as string).split('/')[0]!;

    assert.equal(listening(x), 2, 'UDP and TCP 127.0.0.11:53 in the attached namespace');
    assert.match(inNs(x.name, 'ip', ['-o', 'link', 'show', 'lo']).stdout, /[<,]UP[,>]/, 'lo was set up');
    assert.equal(dig(x, 'dnspeer').stdout.trim(), peerIp, 'a Switchyard sandbox resolves from the attached namespace');
    assert.equal(dig(x, 'dns-y').stdout.trim(), ipOf(ry.out), "another attachment's alias resolves");
    assert.equal(dig(y, 'dns-x').stdout.trim(), ipOf(rx.out), 'and the other way round');
    assert.equal(inNs(x.name, 'dig', ['@127.0.0.11', '+tcp', '+tries=1', '+time=2', '+short', 'dnspeer'], { allowFail: true, timeoutMs: 10_000 }).stdout.trim(), peerIp, 'over TCP too');
    assert.equal(dig(x, 'dns-nobody').stdout.trim(), '', 'control: an unregistered name does not resolve');
    // The daemon writes no files for the attachments (the runtime writes resolv.conf from the result).
    assert.equal(fs.readdirSync(`${d.dataRoot}/sandboxes`).length, 1, 'only dnspeer has a directory');

    // DEL: the sockets are gone, and the name of the detached one no longer resolves for y.
    assert.equal(cni('DEL', 'ctr-x', x, conf()).code, 0);
    assert.equal(listening(x), 0, 'no resolver socket is left after DEL');
    assert.notEqual(dig(x, 'dnspeer').status, 0, 'nothing answers in x after DEL');
    assert.equal(dig(y, 'dns-x').stdout.trim(), '', 'x is no longer a name');
    assert.equal(cni('DEL', 'ctr-y', y, conf()).code, 0);
    assert.equal(listening(y), 0);
    d.cli(['rm', '-f', 'dnspeer']);
  });

  test('ADD, ping, inspect, CHECK, tampering, DEL twice, GC, and 11 once the daemon is gone', async () => {
    const [a, b, c] = [ns('cnia'), ns('cnib'), ns('cnic')];

    // ADD: a 1.1.0 result naming the interface in the sandbox and its address.
    const ra = cni('ADD', 'ctr-a', a, conf({ aliases: ['cni-web'] }));
    assert.equal(ra.code, 0, JSON.stringify(ra.out) + ra.stderr);
    const rb = cni('ADD', 'ctr-b', b, conf());
    assert.equal(rb.code, 0, JSON.stringify(rb.out) + rb.stderr);
    for (const [r, n] of [[ra.out, a], [rb.out, b]] as const) {
      assert.equal(r.cniVersion, '1.1.0');
      const mine = r.interfaces[r.ips[0].interface];
      assert.deepEqual([mine.name, mine.sandbox], ['eth0', n.path], 'ips → interface index → eth0 in the sandbox');
      assert.match(mine.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.match(r.ips[0].address, /^10\.94\.0\.\d+\/24$/);
      assert.equal(r.ips[0].gateway, '10.94.0.1');
      assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.94.0.1' }]);
      // The kernel agrees: the address is on eth0 and the routes are there.
      assert.match(v4(n), new RegExp(` ${r.ips[0].address.replace(/\./g, '\\.')} `));
      const routes = inNs(n.name, 'ip', ['-4', 'route']).stdout;
      assert.match(routes, /10\.94\.0\.0\/24 dev eth0/);
      assert.match(routes, /default via 10\.94\.0\.1 dev eth0/);
    }
    const ipOf = (r: any) => (r.ips[0].address as string).split('/')[0]!;
    assert.equal(inNs(a.name, 'ping', ['-c1', '-W2', ipOf(rb.out)], { allowFail: true }).status, 0, 'a reaches b');
    assert.equal(inNs(b.name, 'ping', ['-c1', '-W2', ipOf(ra.out)], { allowFail: true }).status, 0, 'b reaches a');

    // The attachments show in `switchyard network inspect`.
    const containers = JSON.parse(d.cli(['network', 'inspect', 'cninet']).stdout)[0].Containers as Record<string, { IPv4Address: string }>;
    const listed = Object.values(containers).map((x) => x.IPv4Address).sort();
    assert.deepEqual(listed, [ra.out.ips[0].address, rb.out.ips[0].address].sort());


    // The config's aliases are names in the network's embedded DNS, as a Switchyard sandbox sees it.
    d.cli(['run', '-d', '--name', 'peer', '--network', 'cninet', '--', 'sleep', 'infinity']);
    const key = JSON.parse(d.cli(['inspect', 'peer']).stdout)[0].NetworkSettings.SandboxKey as string;
    const dig = (name: string) => d.inSandbox(key, 'dig', ['@127.0.0.11', '+tries=1', '+time=3', '+short', name], { allowFail: true, timeoutMs: 10_000 }).stdout.trim();
    assert.equal(dig('cni-web'), ipOf(ra.out), 'the alias resolves to a');
    assert.equal(dig('cni-nobody'), '', 'control: a name nobody registered does not');

    // CHECK with the ADD result passes; after the address is removed it fails with 3.
    assert.equal(cni('CHECK', 'ctr-b', b, conf({ prevResult: rb.out })).code, 0);
    inNs(b.name, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    const bad = cni('CHECK', 'ctr-b', b, conf({ prevResult: rb.out }));
    assert.equal(bad.code, 1);
    assert.equal(bad.out.code, 3, JSON.stringify(bad.out));
    // CHECK with a prevResult that recorded another address fails too (a's attachment is intact).
    const other = structuredClone(ra.out);
    other.ips[0].address = '10.94.0.250/24';
    assert.equal(cni('CHECK', 'ctr-a', a, conf({ prevResult: other })).out.code, 3);

    // DEL twice: both succeed, the link is gone; DEL of something never added succeeds too.
    assert.deepEqual([cni('DEL', 'ctr-b', b, conf()).code, cni('DEL', 'ctr-b', b, conf()).code], [0, 0]);
    assert.equal(cni('DEL', 'never-added', undefined, conf()).code, 0);
    assert.doesNotMatch(inNs(b.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'b has no eth0 after DEL');
    assert.equal(Object.keys(JSON.parse(d.cli(['network', 'inspect', 'cninet']).stdout)[0].Containers).length, 2, 'a and peer');

    // GC: with only a listed as valid, c goes and a stays.
    assert.equal(cni('ADD', 'ctr-c', c, conf()).code, 0);
    assert.match(v4(c), /10\.94\.0\./);
    const gc = cni('GC', '', undefined, conf({ 'cni.dev/valid-attachments': [{ containerID: 'ctr-a', ifname: 'eth0' }] }));
    assert.equal(gc.code, 0, JSON.stringify(gc.out));
    assert.doesNotMatch(v4(c), /10\.94\.0\./, 'c was collected');
    assert.match(v4(a), /10\.94\.0\./, 'a was kept');
    assert.equal(cni('CHECK', 'ctr-a', a, conf({ prevResult: ra.out })).code, 0, 'a is still intact');

    // STATUS: ready while the daemon runs.
    assert.equal(cni('STATUS', '', undefined, conf()).code, 0);

    // The daemon stops: DEL is 11 (try again later), and so is ADD; STATUS is 50.
    await d.stop();
    stopped = true;
    const del = cni('DEL', 'ctr-a', a, conf());
    assert.deepEqual([del.code, del.out.code], [1, 11], JSON.stringify(del.out));
    assert.equal(cni('ADD', 'ctr-z', a, conf()).out.code, 11);
    assert.equal(cni('STATUS', '', undefined, conf()).out.code, 50);
  });
});
