/**
 * The embedded DNS with real namespaces, sockets and clients (dig, nslookup run inside
 * the sandbox namespaces). The directory is an in-test table; upstream resolvers are tiny
 * dns-packet servers run by this test: one inside sandbox A's namespace (127.0.0.53:53,
 * reachable only from there) and one on the daemon's own loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import * as fs from 'node:fs';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import { DnsService } from '../../src/services/dns/index.js';
import type { DnsDirectory, LocalAddresses, UpstreamSet } from '../../src/services/dns/types.js';
import { openSocketInNetns, warmThreadpool } from '../../src/kernel/netns.js';
import { FrameReader, frame } from '../../src/services/dns/tcp-framing.js';
import { assertNoLeaks, makeNs, removeNs, sh, waitFor, type TestNs } from '../helpers/netns.js';

/** Runs a command in a namespace WITHOUT blocking the event loop (the DNS server lives in this process). */
function run(ns: TestNs, cmd: string, args: string[]): Promise<{ out: string; code: number; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=${ns.path}`, '--', cmd, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ out: `${stdout}${stderr}`, code, ms: Date.now() - t0 });
    });
  });
}
const dig = (ns: TestNs, ...args: string[]) => run(ns, 'dig', ['@127.0.0.11', '+tries=1', '+timeout=4', ...args]);
const short = async (ns: TestNs, ...args: string[]) => (await dig(ns, '+short', ...args)).out.trim().split('\n').filter(Boolean);
const status = (out: string) => /status: (\w+)/.exec(out)?.[1];

/** A tiny upstream: answers `fwd.example` A 192.0.2.1, truncates `big.example` over UDP (40 A over TCP), ignores `silent.*`, NXDOMAIN for the rest. */
class Upstream {
  udpQueries = 0;
  tcpQueries = 0;
  private udp: dgram.Socket;
  private tcp: net.Server;
  constructor(fds: { udp?: number; tcp?: number }) {
    this.udp = dgram.createSocket('udp4');
    this.udp.on('message', (msg, r) => {
      this.udpQueries++;
      const ans = this.answer(msg, 'udp');
      if (ans) this.udp.send(ans, r.port, r.address);
    });
    this.tcp = net.createServer((c) => {
      const reader = new FrameReader();
      c.on('data', (d) => reader.push(d).forEach((m) => { this.tcpQueries++; const a = this.answer(m, 'tcp'); if (a) c.write(frame(a)); }));
      c.on('error', () => c.destroy());
    });
    if (fds.udp !== undefined) this.udp.bind({ fd: fds.udp });
    if (fds.tcp !== undefined) this.tcp.listen({ fd: fds.tcp });
  }
  static inNs(ns: TestNs, ip: string): Upstream {
    return new Upstream({
      udp: openSocketInNetns(ns.path, { family: 4, protocol: 'udp', bindV4: { ip, port: 53 } }),
      tcp: openSocketInNetns(ns.path, { family: 4, protocol: 'tcp', bindV4: { ip, port: 53 } }),
    });
  }
  static async onLoopback(): Promise<{ up: Upstream; port: number }> {
    const up = new Upstream({});
    await new Promise<void>((r) => up.udp.bind(0, '127.0.0.1', () => r()));
    const port = up.udp.address().port;
    await new Promise<void>((r) => up.tcp.listen(port, '127.0.0.1', () => r()));
    return { up, port };
  }
  private answer(msg: Buffer, via: 'udp' | 'tcp'): Buffer | null {
    const q = dnsPacket.decode(msg);
    const name = q.questions![0]!.name.toLowerCase();
    if (name.startsWith('silent')) return null;
    const base = { type: 'response' as const, id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions };
    if (name === 'fwd.example') return dnsPacket.encode({ ...base, answers: [{ type: 'A', name, ttl: 30, data: '192.0.2.1' }] });
    if (name === 'big.example') {
      if (via === 'udp') return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
      const answers: Answer[] = Array.from({ length: 40 }, (_, i) => ({ type: 'A', name, ttl: 30, data: `198.51.100.${i + 1}` }));
      return dnsPacket.encode({ ...base, answers });
    }
    return dnsPacket.encode({ ...base, flags: base.flags | 3 /* NXDOMAIN */ });
  }
  close(): Promise<void> {
    return new Promise((r) => { this.udp.close(); this.tcp.close(() => r()); });
  }
}

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('embedded DNS at 127.0.0.11 in two sandbox namespaces, served by this one process', async (t) => {
  await warmThreadpool();
  const nsA = makeNs('dnsa');
  const nsB = makeNs('dnsb');
  const created = [nsA.name, nsB.name];
  const fdsBefore = fdCount();
  const nsUpstream = Upstream.inNs(nsA, '127.0.0.53');
  const { up: hostUpstream, port: hostPort } = await Upstream.onLoopback();

  const names: Record<string, Record<string, LocalAddresses>> = {
    a: { web: { v4: ['10.10.0.2', '10.10.0.3'], v6: [] }, 'web.front': { v4: ['10.10.0.2', '10.10.0.3'], v6: [] }, 'only-a': { v4: ['10.10.0.7'], v6: ['fd10::7'] } },
    b: { web: { v4: ['10.20.0.5'], v6: [] } },
  };
  let upstreamsA: UpstreamSet = { servers: ['127.0.0.53'], fromSandboxNs: true };
  const directory: DnsDirectory = {
    lookup: (sid, name) => names[sid]?.[name] ?? null,
    reverse: (sid, ip) => (sid === 'a' && ip === '10.10.0.2' ? 'web.front' : null),
    upstreams: (sid) => (sid === 'a' ? upstreamsA : { servers: [], fromSandboxNs: false }),
  };
  const logs: string[] = [];
  const svc = new DnsService({ directory, log: (m) => logs.push(m) });

  try {
    svc.attach('a', nsA.path);
    svc.attach('a', nsA.path); // idempotent
    svc.attach('b', nsB.path);

    await t.test('the listeners live in the sandbox namespaces, not in the daemon\'s', () => {
      const inA = sh('nsenter', [`--net=${nsA.path}`, '--', 'ss', '-lunHp']).stdout;
      assert.match(inA, new RegExp(`127\\.0\\.0\\.11:53 .*pid=${process.pid}`));
      assert.match(sh('nsenter', [`--net=${nsA.path}`, '--', 'ss', '-ltnHp']).stdout, new RegExp(`127\\.0\\.0\\.11:53 .*pid=${process.pid}`));
      const root = sh('ss', ['-lunHp']).stdout.split('\n').filter((l) => l.includes('127.0.0.11:53') && l.includes(`pid=${process.pid},`));
      assert.deepEqual(root, []);
    });

    await t.test('A over UDP and TCP, and nslookup, inside the sandbox', async () => {
      assert.deepEqual((await short(nsA, 'web')).sort(), ['10.10.0.2', '10.10.0.3']);
      assert.deepEqual((await short(nsA, '+tcp', 'WEB.front')).sort(), ['10.10.0.2', '10.10.0.3']);
      const ns = await run(nsA, 'nslookup', ['only-a', '127.0.0.11']);
      assert.match(ns.out, /Address: 10\.10\.0\.7/);
      assert.match(ns.out, /Address: fd10::7/);
    });

    await t.test('rotation: consecutive queries start with different addresses', async () => {
      const firsts = new Set<string>();
      for (let i = 0; i < 4; i++) firsts.add((await short(nsA, 'web'))[0]!);
      assert.equal(firsts.size, 2);
    });

    await t.test('the answer depends on which namespace asked', async () => {
      assert.deepEqual(await short(nsB, 'web'), ['10.20.0.5']);
      assert.deepEqual(await short(nsA, 'only-a'), ['10.10.0.7']);
      const b = await dig(nsB, 'only-a');
      assert.equal(status(b.out), 'SERVFAIL', 'B has no upstream, and only-a is not B\'s');
    });

    await t.test('AAAA for a v4-only name: NOERROR with no answer, at once', async () => {
      const r = await dig(nsA, 'web', 'AAAA');
      assert.equal(status(r.out), 'NOERROR');
      assert.match(r.out, /ANSWER: 0,/);
      assert.ok(r.ms < 1000, `${r.ms} ms`);
    });

    await t.test('PTR for a sandbox address', async () => {
      assert.deepEqual(await short(nsA, '-x', '10.10.0.2'), ['web.front.']);
    });

    await t.test('unknown names go to the upstream dialled from the sandbox namespace', async () => {
      const before = nsUpstream.udpQueries;
      assert.deepEqual(await short(nsA, 'fwd.example'), ['192.0.2.1']);
      assert.equal(nsUpstream.udpQueries, before + 1);
      assert.equal(status((await dig(nsA, 'nope.example')).out), 'NXDOMAIN');
      assert.deepEqual(await short(nsA, '+tcp', 'fwd.example'), ['192.0.2.1']);
    });

    await t.test('a truncated UDP answer is retried over TCP upstream', async () => {
      const tcpBefore = nsUpstream.tcpQueries;
      const full = await dig(nsA, '+bufsize=1232', 'big.example');
      assert.equal((full.out.match(/IN\s+A\s+198\.51\.100\./g) ?? []).length, 40);
      assert.doesNotMatch(full.out, /flags: [^;]*\btc\b/);
      assert.equal(nsUpstream.tcpQueries, tcpBefore + 1);
      // Without EDNS the full answer does not fit 512 bytes: the client gets TC and retries over TCP itself.
      const classic = await dig(nsA, '+noedns', '+ignore', 'big.example');
      assert.match(classic.out, /flags: [^;]*\btc\b/);
      const retried = await dig(nsA, '+noedns', 'big.example');
      assert.equal((retried.out.match(/IN\s+A\s+198\.51\.100\./g) ?? []).length, 40);
    });

    await t.test('the next upstream is tried when one refuses; the daemon namespace is used when asked', async () => {
      upstreamsA = { servers: ['127.0.0.54', `127.0.0.1:${hostPort}`], fromSandboxNs: false };
      const before = hostUpstream.udpQueries;
      const r = await dig(nsA, 'fwd.example');
      assert.match(r.out, /192\.0\.2\.1/);
      assert.equal(hostUpstream.udpQueries, before + 1);
      assert.ok(r.ms < 1000, `${r.ms} ms`);
      upstreamsA = { servers: ['127.0.0.53'], fromSandboxNs: true };
    });

    await t.test('an upstream that never answers gives SERVFAIL within 2 s', async () => {
      const udp = await dig(nsA, 'silent.example');
      assert.equal(status(udp.out), 'SERVFAIL');
      assert.ok(udp.ms < 2500, `${udp.ms} ms`);
      const tcp = await dig(nsA, '+tcp', 'silent.example');
      assert.equal(status(tcp.out), 'SERVFAIL');
      assert.ok(tcp.ms < 2500, `${tcp.ms} ms`);
    });

    await t.test('detach closes the sockets', async () => {
      svc.detach('a');
      svc.detach('a');
      await waitFor(() => !sh('nsenter', [`--net=${nsA.path}`, '--', 'ss', '-lunH']).stdout.includes('127.0.0.11:53'), 'udp listener gone');
      assert.doesNotMatch(sh('nsenter', [`--net=${nsA.path}`, '--', 'ss', '-ltnH']).stdout, /127\.0\.0\.11:53/);
      const r = await run(nsA, 'dig', ['@127.0.0.11', '+tries=1', '+timeout=1', 'web']);
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.out, /10\.10\.0\./);
      assert.ok(r.ms < 1800, `${r.ms} ms`);
      assert.deepEqual(await short(nsB, 'web'), ['10.20.0.5'], 'B keeps being served');
    });
  } finally {
    await svc.close();
    await nsUpstream.close();
    await hostUpstream.close();
    removeNs(nsA);
    removeNs(nsB);
  }
  assert.deepEqual(svc.attached(), []);
  await waitFor(() => fdCount() <= fdsBefore, `fds back to ${fdsBefore} (now ${fdCount()})`);
  assertNoLeaks(created);
  assert.deepEqual(logs.filter((l) => !l.includes('cannot reach')), []);
});
