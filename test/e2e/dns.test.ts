/**
 * End-to-end: the embedded DNS (issue 4) through the real CLI against a real daemon in a
 * throwaway host namespace, queried with dig, nslookup and glibc from inside sandboxes.
 *
 * Traffic safety: every sandbox is started with `--dns` pointing at an upstream resolver
 * of the test's own (a small dns-packet server in the host namespace, on a bridge's
 * gateway address) or at an address inside the test's namespaces where nothing answers,
 * so no query ever leaves the namespaces made here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';
import dnsPacket from 'dns-packet';
import { parseResolvConf } from '../../src/model/etc-files.js';

interface InspectedSandbox {
  Id: string;
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; GlobalIPv6Address: string }> };
}

interface DigResult {
  status: string;
  /** Record data of the answer section, in order. */
  answers: string[];
  flags: string;
  ms: number;
  raw: string;
}

/**
 * A tiny upstream resolver (UDP and TCP, dns-packet), run with `node -e` inside the test's
 * host namespace. It appends every question as `udp|tcp TYPE name` to a log file, synchronously
 * and before it answers, so the log is complete by the time the client has its answer.
 *   ext.example A    → 198.51.100.7
 *   big.example A    → over UDP: one record and TC set; over TCP: 40 records
 *   anything else    → NXDOMAIN
 */
const UPSTREAM = String.raw`
const dgram = require('node:dgram'), net = require('node:net'), pkt = require('dns-packet');
const fs = require('node:fs');
const [ip, logFile] = process.argv.slice(1);
function reply(query, tcp) {
  const q = query.questions[0];
  const name = q.name.toLowerCase();
  fs.appendFileSync(logFile, (tcp ? 'tcp ' : 'udp ') + q.type + ' ' + name + '\n');
  const res = { type: 'response', id: query.id, flags: pkt.RECURSION_DESIRED | pkt.RECURSION_AVAILABLE, questions: query.questions, answers: [] };
  const a = (data) => ({ name: q.name, type: 'A', ttl: 60, data });
  if (name === 'ext.example') { if (q.type === 'A') res.answers.push(a('198.51.100.7')); }
  else if (name === 'big.example' && q.type === 'A') {
    if (tcp) for (let i = 1; i <= 40; i++) res.answers.push(a('198.51.100.' + i));
    else { res.answers.push(a('198.51.100.1')); res.flags |= pkt.TRUNCATED_RESPONSE; }
  } else res.flags |= 3; // RCODE NXDOMAIN
  return pkt.encode(res);
}
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(reply(pkt.decode(msg), false), rinfo.port, rinfo.address));
const tcp = net.createServer((c) => {
  let buf = Buffer.alloc(0);
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      const out = reply(pkt.decode(msg), true);
      const len = Buffer.alloc(2); len.writeUInt16BE(out.length);
      c.write(Buffer.concat([len, out]));
    }
  });
  c.on('error', () => {});
});
udp.bind(53, ip, () => tcp.listen(53, ip, () => process.stdout.write('ready\n')));
`;

class Upstream {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly logFile: string,
  ) {}

  static async start(d: TestDaemon, ip: string): Promise<Upstream> {
    const logFile = path.join(d.root, `upstream-${ip}.log`);
    fs.writeFileSync(logFile, '');
    const proc = spawn('nsenter', [`--net=${d.host.path}`, '--', process.execPath, '-e', UPSTREAM, ip, logFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`upstream resolver exited: ${out}`);
      return out.includes('ready');
    }, 'upstream resolver listening');
    return new Upstream(proc, logFile);
  }

  /** Questions seen since the last call. */
  take(): string[] {
    const lines = fs.readFileSync(this.logFile, 'utf8').split('\n').filter(Boolean);
    fs.writeFileSync(this.logFile, '');
    return lines;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

function parseDig(raw: string, ms: number): DigResult {
  const status = /status: ([A-Z]+)/.exec(raw)?.[1] ?? `no reply: ${raw.trim().split('\n').pop()}`;
  const flags = /;; flags: ([a-z ]+);/.exec(raw)?.[1] ?? '';
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(raw)?.[1] ?? '';
  const answers = section.split('\n').filter(Boolean).map((l) => l.split(/\s+/).pop()!);
  return { status, answers, flags, ms, raw };
}

/** The first answer of `n` successive queries (for rotation checks). */
const firsts = (n: number, fn: () => string[]): string[] => Array.from({ length: n }, () => fn()[0]!);

describe('embedded DNS (e2e)', () => {
  let d: TestDaemon;
  let up: Upstream;
  // 10.97.0.1 is dnet's gateway: the bridge's address in the host namespace, where the
  // upstream resolver listens. 10.97.0.250 is in dnet's subnet and owned by nobody.
  const UPSTREAM_IP = '10.97.0.1';
  const SILENT_IP = '10.97.0.250';
  const dnsTo = ['--dns', UPSTREAM_IP];
  const sb = (name: string): InspectedSandbox => JSON.parse(d.cli(['inspect', name]).stdout)[0];
  const nsOf = (name: string): string => sb(name).NetworkSettings.SandboxKey;
  const ipOf = (name: string, net: string): string => sb(name).NetworkSettings.Networks[net]!.IPAddress;
  const run = (name: string, args: string[]) => d.cli(['run', '-d', '--name', name, ...args, '--', 'sleep', 'infinity']);
  /** dig run inside a sandbox's namespace, against the embedded server. */
  const digNs = (ns: string, args: string[]): DigResult => {
    const t0 = Date.now();
    const r = d.inSandbox(ns, 'dig', ['@127.0.0.11', '+tries=1', '+time=3', ...args], { allowFail: true, timeoutMs: 10_000 });
    return parseDig(r.stdout, Date.now() - t0);
  };
  const dig = (from: string, args: string[]): DigResult => digNs(nsOf(from), args);
  const a = (from: string, name: string, ...extra: string[]): string[] => dig(from, [name, 'A', ...extra]).answers.sort();

  before(async () => {
    d = await startDaemon({ tag: 'dns' });
    d.cli(['network', 'create', '--subnet', '10.97.0.0/24', '--gateway', UPSTREAM_IP, 'dnet']);
    d.cli(['network', 'create', '--subnet', '10.96.0.0/24', 'dother']);
    up = await Upstream.start(d, UPSTREAM_IP);
    run('web', ['--network', 'dnet', '-h', 'webhost', '--network-alias', 'www', ...dnsTo]);
    run('cli1', ['--network', 'dnet', ...dnsTo]);
    run('lone', ['--network', 'dother', ...dnsTo]);
  });
  after(async () => {
    await up?.stop();
    await d?.stop();
  });

  test('names, hostname, aliases, short id and <name>.<network>; any case; UDP and TCP; nslookup and glibc', () => {
    const web = ipOf('web', 'dnet');
    const shortId = sb('web').Id.slice(0, 12);
    for (const name of ['web', 'webhost', 'www', shortId, 'web.dnet', 'WeB', 'WWW.DNET', 'web.']) {
      assert.deepEqual(a('cli1', name), [web], `A ${name} over UDP`);
    }
    const tcp = dig('cli1', ['+tcp', 'web', 'A']);
    assert.equal(tcp.status, 'NOERROR');
    assert.deepEqual(tcp.answers, [web], 'over TCP');
    assert.ok(!tcp.flags.includes('tc'));
    // The sandbox's own resolv.conf leads nslookup and glibc to 127.0.0.11.
    const ns = d.cli(['exec', 'cli1', '--', 'nslookup', 'www']).stdout;
    assert.match(ns, /Server:\s+127\.0\.0\.11/);
    assert.match(ns, new RegExp(`Address: ${web.replace(/\./g, '\\.')}\\b`));
    const getent = d.cli(['exec', 'cli1', '--', 'getent', 'hosts', 'webhost']).stdout;
    assert.match(getent, new RegExp(`^${web.replace(/\./g, '\\.')}\\s`));
    // A sandbox resolves itself too.
    assert.deepEqual(a('web', 'cli1'), [ipOf('cli1', 'dnet')]);
    assert.deepEqual(up.take(), [], 'nothing local was forwarded');
  });

  test('only sandboxes sharing a user-defined network resolve each other', () => {
    const fromLone = dig('lone', ['web', 'A']);
    assert.equal(fromLone.status, 'NXDOMAIN', 'web is not known to a sandbox on another network: forwarded, upstream says NXDOMAIN');
    assert.deepEqual(up.take(), ['udp A web']);
    assert.equal(dig('cli1', ['lone', 'A']).status, 'NXDOMAIN');
    up.take();
  });

  test('AAAA of a v4-only name is an empty NOERROR at once; PTR for sandbox addresses', () => {
    const r = dig('cli1', ['web', 'AAAA']);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answers, []);
    assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);
    const ptr = dig('cli1', ['-x', ipOf('web', 'dnet')]);
    assert.equal(ptr.status, 'NOERROR');
    assert.deepEqual(ptr.answers, ['web.dnet.']);
    assert.deepEqual(up.take(), [], 'neither was forwarded');
  });

  test('dual-stack network answers AAAA and v6 PTR', () => {
    d.cli(['network', 'create', '--ipv6', '--subnet', '10.95.0.0/24', '--subnet', 'fd95::/64', 'dnet6']);
    run('v6a', ['--network', 'dnet6', ...dnsTo]);
    run('v6b', ['--network', 'dnet6', ...dnsTo]);
    const b = sb('v6b').NetworkSettings.Networks['dnet6']!;
    assert.match(b.GlobalIPv6Address, /^fd95::/);
    assert.deepEqual(dig('v6a', ['v6b', 'AAAA']).answers, [b.GlobalIPv6Address]);
    assert.deepEqual(dig('v6a', ['v6b', 'A']).answers, [b.IPAddress]);
    assert.deepEqual(dig('v6a', ['+tcp', 'V6B.dnet6', 'AAAA']).answers, [b.GlobalIPv6Address]);
    assert.deepEqual(dig('v6a', ['-x', b.GlobalIPv6Address]).answers, ['v6b.dnet6.']);
    assert.deepEqual(up.take(), []);
  });

  test('one alias on several sandboxes: all addresses, rotating', () => {
    for (const n of ['p1', 'p2', 'p3']) run(n, ['--network', 'dnet', '--network-alias', 'pool', ...dnsTo]);
    const all = ['p1', 'p2', 'p3'].map((n) => ipOf(n, 'dnet')).sort();
    const ns = nsOf('cli1');
    assert.deepEqual(digNs(ns, ['pool', 'A']).answers.sort(), all);
    const first = firsts(6, () => digNs(ns, ['pool', 'A']).answers);
    assert.deepEqual([...new Set(first)].sort(), all, `the first address rotates: ${first.join(' ')}`);
  });

  test('changes take effect at once: run, rm, connect --alias, disconnect, rename', () => {
    const ns = nsOf('cli1');
    run('late', ['--network', 'dnet', ...dnsTo]);
    assert.deepEqual(digNs(ns, ['late', 'A']).answers, [ipOf('late', 'dnet')], 'resolves right after run');
    d.cli(['rm', '-f', 'late']);
    assert.equal(digNs(ns, ['late', 'A']).status, 'NXDOMAIN', 'a removed sandbox stops resolving at once');

    d.cli(['network', 'connect', '--alias', 'joiner', 'dnet', 'lone']);
    const loneIp = ipOf('lone', 'dnet');
    assert.deepEqual(digNs(ns, ['joiner', 'A']).answers, [loneIp], 'connect --alias');
    assert.deepEqual(digNs(ns, ['lone', 'A']).answers, [loneIp]);
    assert.deepEqual(dig('lone', ['web', 'A']).answers, [ipOf('web', 'dnet')], 'and the new member resolves the others');
    d.cli(['network', 'disconnect', 'dnet', 'lone']);
    assert.equal(digNs(ns, ['joiner', 'A']).status, 'NXDOMAIN', 'disconnect');
    assert.equal(dig('lone', ['web', 'A']).status, 'NXDOMAIN');

    const webIp = ipOf('web', 'dnet');
    d.cli(['rename', 'web', 'web2']);
    assert.deepEqual(digNs(ns, ['web2', 'A']).answers, [webIp], 'the new name resolves');
    assert.deepEqual(digNs(ns, ['-x', webIp]).answers, ['web2.dnet.'], 'and is the PTR');
    assert.equal(digNs(ns, ['web', 'A']).status, 'NXDOMAIN', 'the old name does not');
    assert.deepEqual(digNs(ns, ['www', 'A']).answers, [webIp], 'aliases survive a rename');
    const taken = d.cli(['rename', 'web2', 'cli1'], { allowFail: true });
    assert.equal(taken.status, 1);
    assert.match(taken.stderr, /already in use/);
    assert.deepEqual(digNs(ns, ['web2', 'A']).answers, [webIp], 'a refused rename changes nothing');
    d.cli(['rename', 'web2', 'web']);
    up.take();
  });

  test('default bridge: legacy resolv.conf, no embedded DNS; --link adds /etc/hosts entries', () => {
    run('b1', dnsTo);
    run('b2', ['--link', 'b1:bee', ...dnsTo]);
    const resolv = d.cli(['exec', 'b2', '--', 'cat', '/etc/resolv.conf']).stdout;
    assert.match(resolv, new RegExp(`^nameserver ${UPSTREAM_IP.replace(/\./g, '\\.')}$`, 'm'));
    assert.doesNotMatch(resolv, /127\.0\.0\.11/);
    assert.match(resolv, /\(legacy\)/);
    // The embedded DNS does not serve a default-bridge sandbox: its sockets are held open
    // from the start (a later connect then costs nothing) but refuse every query.
    const r = dig('b2', ['b1', 'A']);
    assert.equal(r.status, 'REFUSED');
    assert.deepEqual(r.answers, []);
    const b1 = ipOf('b1', 'bridge');
    const hosts = d.cli(['exec', 'b2', '--', 'cat', '/etc/hosts']).stdout;
    assert.match(hosts, new RegExp(`^${b1.replace(/\./g, '\\.')}\\tbee \\S+ b1$`, 'm'));
    // ahostsv4: only A lookups, so /etc/hosts answers and nothing goes to the upstream.
    assert.match(d.cli(['exec', 'b2', '--', 'getent', 'ahostsv4', 'bee']).stdout, new RegExp(`^${b1.replace(/\./g, '\\.')}\\s`));
    assert.deepEqual(up.take(), []);
    // Connecting a default-bridge sandbox to a user-defined network switches it to the
    // embedded DNS at once; disconnecting switches it back.
    d.cli(['network', 'connect', 'dnet', 'b1']);
    assert.match(d.cli(['exec', 'b1', '--', 'cat', '/etc/resolv.conf']).stdout, /^nameserver 127\.0\.0\.11$/m);
    assert.deepEqual(a('b1', 'cli1'), [ipOf('cli1', 'dnet')]);
    assert.deepEqual(a('cli1', 'b1'), [ipOf('b1', 'dnet')]);
    d.cli(['network', 'disconnect', 'dnet', 'b1']);
    assert.equal(dig('b1', ['cli1', 'A']).status, 'REFUSED');
    assert.doesNotMatch(d.cli(['exec', 'b1', '--', 'cat', '/etc/resolv.conf']).stdout, /127\.0\.0\.11/);
  });

  test('--dns, --dns-search and --dns-option land in resolv.conf as with Docker', () => {
    run('opts', ['--network', 'dnet', ...dnsTo, '--dns', SILENT_IP, '--dns-search', 'corp.example', '--dns-search', 'lab.example', '--dns-option', 'ndots:2', '--dns-option', 'timeout:3']);
    const resolv = d.cli(['exec', 'opts', '--', 'cat', '/etc/resolv.conf']).stdout;
    const body = resolv.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(body, ['nameserver 127.0.0.11', 'search corp.example lab.example', 'options ndots:2 timeout:3']);
    assert.match(resolv, new RegExp(`# ExtServers: \\[${UPSTREAM_IP.replace(/\./g, '\\.')} ${SILENT_IP.replace(/\./g, '\\.')}\\]`));
    assert.match(resolv, /# Overrides: \[nameservers search options\]/);
    assert.match(resolv, /# Option ndots from: override/);
    // Without overrides: the host's search domains and options, plus ndots:0 (Docker's
    // internal-resolver form), and the upstream named in the comments only.
    const host = parseResolvConf(fs.readFileSync('/etc/resolv.conf', 'utf8'));
    const plain = d.cli(['exec', 'cli1', '--', 'cat', '/etc/resolv.conf']).stdout.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(plain, [
      'nameserver 127.0.0.11',
      ...(host.search.length ? [`search ${host.search.join(' ')}`] : []),
      `options ${[...host.options, 'ndots:0'].join(' ')}`,
    ]);
    // A user ndots: an unknown single-label name gets an empty NOERROR (the stub then tries
    // its search domains), not a forward.
    const single = dig('opts', ['nosuchname', 'A']);
    assert.equal(single.status, 'NOERROR');
    assert.deepEqual(single.answers, []);
    assert.deepEqual(up.take(), []);
    // glibc walks the search list: nosuchname.corp.example etc. are forwarded.
    d.cli(['exec', 'opts', '--', 'getent', 'hosts', 'nosuchname'], { allowFail: true });
    const seen = up.take();
    assert.ok(seen.includes('udp A nosuchname.corp.example'), `search domains tried: ${seen.join(', ')}`);
  });

  test('forwarding: other names go upstream from the sandbox; TC over UDP → retried over TCP', () => {
    up.take();
    const ext = dig('cli1', ['ext.example', 'A']);
    assert.equal(ext.status, 'NOERROR');
    assert.deepEqual(ext.answers, ['198.51.100.7']);
    assert.deepEqual(up.take(), ['udp A ext.example']);
    assert.deepEqual(dig('cli1', ['+tcp', 'ext.example', 'A']).answers, ['198.51.100.7']);
    assert.deepEqual(up.take(), ['tcp A ext.example'], 'TCP queries are forwarded over TCP');
    assert.equal(dig('cli1', ['nothing.example', 'A']).status, 'NXDOMAIN', 'NXDOMAIN passes through');
    up.take();

    const big = dig('cli1', ['big.example', 'A']);
    assert.equal(big.status, 'NOERROR');
    assert.equal(big.answers.length, 40, 'the full TCP answer comes back over UDP (fits the EDNS size)');
    assert.ok(!big.flags.includes('tc'));
    assert.deepEqual(up.take(), ['udp A big.example', 'tcp A big.example']);
    // Without EDNS the client's limit is 512 bytes: the answer comes back truncated and dig
    // retries over TCP itself.
    const small = dig('cli1', ['+noedns', '+ignore', 'big.example', 'A']);
    assert.ok(small.flags.includes('tc'), `TC set: ${small.flags}`);
    const retried = dig('cli1', ['+noedns', 'big.example', 'A']);
    assert.equal(retried.answers.length, 40);
    up.take();
  });

  test('unreachable upstreams give SERVFAIL within 2 s', (t) => {
    // SILENT_IP: no host has it (ARP fails, nothing comes back); 10.96.0.1 is dother's
    // gateway, a host address where nothing listens on port 53 (ICMP port unreachable).
    run('dead1', ['--network', 'dnet', '--dns', SILENT_IP]);
    run('dead2', ['--network', 'dnet', '--dns', '10.96.0.1']);
    for (const name of ['dead1', 'dead2']) {
      for (const proto of ['+notcp', '+tcp']) {
        const r = dig(name, [proto, 'ext.example', 'A']);
        assert.equal(r.status, 'SERVFAIL', `${name} ${proto}: ${r.raw}`);
        assert.ok(r.ms < 2000, `${name} ${proto}: SERVFAIL after ${r.ms} ms`);
        t.diagnostic(`${name} ${proto}: SERVFAIL after ${r.ms} ms (dig wall clock, incl. nsenter)`);
      }
    }
    // Local names still answer at once.
    assert.deepEqual(a('dead1', 'cli1'), [ipOf('cli1', 'dnet')]);
    assert.deepEqual(up.take(), []);
  });

  test('internal means no way out: an internal-only sandbox never reaches the host\'s resolvers (H4)', async (t) => {
    // The daemon forwards a sandbox without --dns to the host's resolv.conf servers, from its
    // own namespace. The test's upstream takes the host resolver's address inside the test's
    // host namespace (on its lo), so those forwards stay in namespaces made here.
    const hostResolver = parseResolvConf(fs.readFileSync('/etc/resolv.conf', 'utf8')).nameservers.find((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
    if (!hostResolver) return t.skip('no IPv4 nameserver in /etc/resolv.conf');
    if (!hostResolver.startsWith('127.')) d.onHost('ip', ['addr', 'add', `${hostResolver}/32`, 'dev', 'lo']);
    const hostUp = await Upstream.start(d, hostResolver);
    try {
      // Control: a sandbox with a way out forwards to the host's resolver.
      run('hopen', ['--network', 'dnet']);
      assert.match(d.cli(['exec', 'hopen', '--', 'cat', '/etc/resolv.conf']).stdout, new RegExp(`# ExtServers: \\[host\\(${hostResolver.replace(/\./g, '\\.')}\\)\\]`));
      assert.deepEqual(dig('hopen', ['ext.example', 'A']).answers, ['198.51.100.7']);
      assert.deepEqual(hostUp.take(), ['udp A ext.example'], 'control: the host resolver sees a non-internal sandbox\'s query');

      d.cli(['network', 'create', '--internal', '--subnet', '10.92.0.0/24', '--gateway', '10.92.0.1', 'dint']);
      run('hin1', ['--network', 'dint']);
      run('hin2', ['--network', 'dint']);
      assert.match(d.cli(['exec', 'hin1', '--', 'cat', '/etc/resolv.conf']).stdout, /# ExtServers: \[\]/);
      for (const proto of ['+notcp', '+tcp']) {
        const r = dig('hin1', [proto, 'ext.example', 'A']);
        assert.equal(r.status, 'SERVFAIL', `${proto}: ${r.raw}`);
        assert.ok(r.ms < 1000, `${proto}: SERVFAIL after ${r.ms} ms`);
      }
      assert.deepEqual(hostUp.take(), [], 'the host resolver never sees an internal sandbox\'s query');
      assert.deepEqual(a('hin1', 'hin2'), [ipOf('hin2', 'dint')], 'internal names still resolve');

      // Connected to a network with a way out, it forwards again; disconnected, it stops.
      d.cli(['network', 'connect', 'dnet', 'hin1']);
      assert.deepEqual(dig('hin1', ['ext.example', 'A']).answers, ['198.51.100.7']);
      assert.deepEqual(hostUp.take(), ['udp A ext.example']);
      d.cli(['network', 'disconnect', 'dnet', 'hin1']);
      assert.equal(dig('hin1', ['ext.example', 'A']).status, 'SERVFAIL');
      assert.deepEqual(hostUp.take(), []);

      // Explicit --dns is dialled from the sandbox's namespace: a server outside the internal
      // network is unreachable from there, one on it answers.
      run('hin3', ['--network', 'dint', '--dns', UPSTREAM_IP]);
      assert.equal(dig('hin3', ['ext.example', 'A']).status, 'SERVFAIL');
      assert.deepEqual(up.take(), [], 'a --dns server outside the internal network is not reached');
      const inside = await Upstream.start(d, '10.92.0.1');
      try {
        run('hin4', ['--network', 'dint', '--dns', '10.92.0.1']);
        assert.deepEqual(dig('hin4', ['ext.example', 'A']).answers, ['198.51.100.7'], 'a --dns server on the internal network answers');
        assert.deepEqual(inside.take(), ['udp A ext.example']);
      } finally {
        await inside.stop();
      }
      assert.deepEqual(hostUp.take(), []);
      d.cli(['rm', '-f', 'hopen', 'hin1', 'hin2', 'hin3', 'hin4']);
      d.cli(['network', 'rm', 'dint']);
    } finally {
      await hostUp.stop();
      if (!hostResolver.startsWith('127.')) d.onHost('ip', ['addr', 'del', `${hostResolver}/32`, 'dev', 'lo'], { allowFail: true });
    }
  });

  test('sockets: 127.0.0.11:53 owned by the daemon; stop and rm close them', async () => {
    const pid = d.proc.pid!;
    const fds = () => fs.readdirSync(`/proc/${pid}/fd`).length;
    const baseline = fds();
    const names = ['s1', 's2', 's3'];
    for (const n of names) run(n, ['--network', 'dnet', ...dnsTo]);
    const udp = d.inSandbox(nsOf('s1'), 'ss', ['-Hlunp']).stdout;
    const tcp = d.inSandbox(nsOf('s1'), 'ss', ['-Hltnp']).stdout;
    for (const out of [udp, tcp]) {
      assert.match(out, new RegExp(`127\\.0\\.0\\.11:53 .*pid=${pid},`), out);
    }
    assert.ok(fds() >= baseline + 2 * names.length, `at least 2 fds per sandbox: ${baseline} → ${fds()}`);
    // Some traffic over TCP so client connections exist too, then stop one and remove all.
    assert.deepEqual(dig('s2', ['+tcp', 'cli1', 'A']).answers, [ipOf('cli1', 'dnet')]);
    assert.deepEqual(dig('s2', ['+tcp', 'ext.example', 'A']).answers, ['198.51.100.7']);
    d.cli(['stop', '-t', '0', 's1']);
    d.cli(['start', 's1']);
    assert.deepEqual(a('s1', 'cli1'), [ipOf('cli1', 'dnet')], 'a restarted sandbox is served again');
    d.cli(['stop', '-t', '0', 's1']);
    d.cli(['rm', '-f', ...names]);
    await waitFor(() => fds() === baseline, `daemon fds back to ${baseline} (now ${fds()})`);
    up.take();
  });
});

describe("embedded DNS with the daemon's --dns (e2e)", () => {
  let d: TestDaemon;
  let up: Upstream;
  const UPSTREAM_IP = '10.98.0.1';

  const nsOf = (name: string): string => (JSON.parse(d.cli(['inspect', name]).stdout)[0] as InspectedSandbox).NetworkSettings.SandboxKey;
  const digIn = (ns: string, args: string[]): DigResult => {
    const t0 = Date.now();
    const r = d.inSandbox(ns, 'dig', ['@127.0.0.11', '+tries=1', '+time=3', ...args], { allowFail: true, timeoutMs: 10_000 });
    return parseDig(r.stdout, Date.now() - t0);
  };

  before(async () => {
    d = await startDaemon({ tag: 'dnsd', args: ['--dns', UPSTREAM_IP] });
    d.cli(['network', 'create', '--subnet', '10.98.0.0/24', '--gateway', UPSTREAM_IP, 'dnet']);
    up = await Upstream.start(d, UPSTREAM_IP);
  });
  after(async () => {
    await up?.stop();
    await d?.stop();
  });

  test('sandboxes without --dns forward to the daemon-wide upstream', () => {
    d.cli(['run', '-d', '--name', 'x1', '--network', 'dnet', '--', 'sleep', 'infinity']);
    const resolv = d.cli(['exec', 'x1', '--', 'cat', '/etc/resolv.conf']).stdout;
    assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
    assert.match(resolv, /# ExtServers: \[10\.98\.0\.1\]/);
    const out = d.cli(['exec', 'x1', '--', 'dig', '+tries=1', '+time=3', 'ext.example', 'A']).stdout;
    assert.deepEqual(parseDig(out, 0).answers, ['198.51.100.7']);
    assert.deepEqual(up.take(), ['udp A ext.example']);
    const big = parseDig(d.cli(['exec', 'x1', '--', 'dig', '+tries=1', '+time=3', 'big.example', 'A']).stdout, 0);
    assert.equal(big.answers.length, 40);
    assert.deepEqual(up.take(), ['udp A big.example', 'tcp A big.example']);
  });

  test('an --internal sandbox forwards to the daemon-wide --dns from its own namespace: no crash, SERVFAIL at once', () => {
    // Before the fix the forwarder ignored the connect error (ENETUNREACH: an internal
    // network has no route out) and called send() on the unconnected socket, which threw
    // ERR_SOCKET_BAD_PORT out of a callback and killed the daemon.
    d.cli(['network', 'create', '--internal', '--subnet', '10.93.0.0/24', 'inet']);
    d.cli(['run', '-d', '--name', 'i1', '--network', 'inet', '--', 'sleep', 'infinity']);
    d.cli(['run', '-d', '--name', 'i2', '--network', 'inet', '--', 'sleep', 'infinity']);
    const ns = nsOf('i1');
    for (const proto of ['+notcp', '+tcp']) {
      const r = digIn(ns, [proto, 'ext.example', 'A']);
      assert.equal(r.status, 'SERVFAIL', `${proto}: ${r.raw}`);
      assert.ok(r.ms < 1500, `${proto}: SERVFAIL after ${r.ms} ms`);
      assert.equal(d.proc.exitCode, null, `the daemon is alive after a ${proto} forward from an internal sandbox:\n${d.log().slice(-2000)}`);
    }
    assert.deepEqual(up.take(), [], 'nothing reached the upstream, which is outside the internal network');
    const i2 = JSON.parse(d.cli(['inspect', 'i2']).stdout)[0].NetworkSettings.Networks['inet'].IPAddress as string;
    assert.deepEqual(digIn(ns, ['i2', 'A']).answers, [i2], 'internal names still resolve');
    assert.deepEqual(parseDig(d.cli(['exec', 'x1', '--', 'dig', '+tries=1', '+time=3', 'ext.example', 'A']).stdout, 0).answers, ['198.51.100.7'], 'others are still served');
    up.take();
  });

  test('a UDP query from source port 0 (raw socket in a sandbox) is dropped, not a crash', () => {
    // A sandbox with CAP_NET_RAW (Docker's default set has it) can send a datagram from port 0;
    // answering it threw ERR_SOCKET_BAD_PORT from the message handler.
    d.cli(['run', '-d', '--name', 'raw1', '--network', 'dnet', '--', 'sleep', 'infinity']);
    const ns = nsOf('raw1');
    const query = dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'raw1' }] });
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(0, 0);
    udp.writeUInt16BE(53, 2);
    udp.writeUInt16BE(8 + query.length, 4);
    udp.writeUInt16BE(0, 6); // no checksum (allowed over IPv4)
    const py = 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_UDP)\ns.sendto(bytes.fromhex(sys.argv[1]),("127.0.0.11",0))';
    for (const payload of [query, Buffer.from('junk-junk-junk')]) {
      d.inSandbox(ns, 'python3', ['-c', py, Buffer.concat([udp, payload]).toString('hex')]);
    }
    assert.equal(d.proc.exitCode, null, 'the daemon is alive');
    assert.deepEqual(digIn(ns, ['raw1', 'A']).answers, [JSON.parse(d.cli(['inspect', 'raw1']).stdout)[0].NetworkSettings.Networks['dnet'].IPAddress]);
  });
});
