/**
 * Who can reach the API: the unix socket is root-only (0660 root:root, or root:GROUP with
 * --group); a TCP listener exists only with mutual TLS; sandboxes see neither the socket
 * nor the host's 127.0.0.1 services. docs/SECURITY.md.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { makeNs, removeNs, waitFor } from '../helpers/netns.js';

interface Inspected {
  State: { Pid: number };
  NetworkSettings: { SandboxKey: string };
}

/** A CA, a server certificate for 127.0.0.1, a client certificate from the CA, and one from another CA. */
function makeCertificates(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'rogueCert' | 'rogueKey', string> {
  const f = (n: string) => path.join(dir, n);
  const ossl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = (n: string) => ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(n)]);
  for (const [ca, subj] of [['ca', 'swy-test-ca'], ['rogue-ca', 'swy-rogue-ca']] as const) {
    key(`${ca}.key`);
    ossl(['req', '-x509', '-new', '-key', f(`${ca}.key`), '-subj', `/CN=${subj}`, '-days', '1', '-out', f(`${ca}.pem`)]);
  }
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = (name: string, ca: string, ext: string) => {
    key(`${name}.key`);
    ossl(['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${name}`, '-out', f(`${name}.csr`)]);
    ossl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-days', '1', '-extfile', f(ext), '-out', f(`${name}.pem`)]);
  };
  issue('server', 'ca', 'server.ext');
  issue('client', 'ca', 'client.ext');
  issue('rogue', 'rogue-ca', 'client.ext');
  return {
    ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'),
    clientCert: f('client.pem'), clientKey: f('client.key'), rogueCert: f('rogue.pem'), rogueKey: f('rogue.key'),
  };
}

describe('API access (security)', () => {
  let d: TestDaemon;
  let certDir: string;
  let certs: ReturnType<typeof makeCertificates>;
  const PORT = '23760';

  before(async () => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-certs-'));
    certs = makeCertificates(certDir);
    d = await startDaemon({
      tag: 'secapi',
      args: ['-H', `tcp://127.0.0.1:${PORT}`, '--tlsverify', '--tlscacert', certs.ca, '--tlscert', certs.serverCert, '--tlskey', certs.serverKey],
    });
  });
  after(async () => {
    await d?.stop();
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  test('the unix socket is 0660 root:root by default', () => {
    const st = fs.statSync(d.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
  });

  test('an unprivileged user cannot connect to the socket', () => {
    // nobody (65534) is neither the owner nor in the group: connect(2) needs write permission
    // on the socket (unix(7)). The test root is opened up so only the socket's mode decides.
    fs.chmodSync(d.root, 0o711);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'socat', '-u', 'OPEN:/dev/null', `UNIX-CONNECT:${d.socket}`], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Permission denied/);
  });

  const curl = (extra: string[]) =>
    d.onHost('curl', ['-sS', '--max-time', '5', '--cacert', certs.ca, ...extra, `https://127.0.0.1:${PORT}/_ping`], { allowFail: true });

  test('TCP with a client certificate from the CA works', () => {
    const r = curl(['--cert', certs.clientCert, '--key', certs.clientKey]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'OK');
  });

  test('TCP without a client certificate, or with one from another CA, is refused', () => {
    const none = curl([]);
    assert.notEqual(none.status, 0);
    assert.notEqual(none.stdout, 'OK');
    const rogue = curl(['--cert', certs.rogueCert, '--key', certs.rogueKey]);
    assert.notEqual(rogue.status, 0);
    assert.notEqual(rogue.stdout, 'OK');
    // Plain HTTP on the TLS port gets no API answer either.
    const plain = d.onHost('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${PORT}/_ping`], { allowFail: true });
    assert.notEqual(plain.stdout, 'OK');
  });

  test('the TCP listener is bound to the asked address only', () => {
    const ss = d.onHost('ss', ['-Htln']).stdout;
    assert.match(ss, new RegExp(`127\\.0\\.0\\.1:${PORT}\\b`));
    assert.doesNotMatch(ss, new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]):${PORT}\\b`));
  });

  test('a sandbox sees neither the socket nor the data root, and cannot connect', () => {
    d.cli(['run', '-d', '--name', 'peek', '--', 'sleep', 'infinity']);
    const ls = d.cli(['exec', 'peek', '--', 'ls', d.socket], { allowFail: true });
    assert.notEqual(ls.status, 0, `ls of the socket inside the sandbox succeeded: ${ls.stdout}`);
    const data = d.cli(['exec', 'peek', '--', 'ls', path.join(d.dataRoot, 'store')], { allowFail: true });
    assert.notEqual(data.status, 0);
    const conn = d.cli(['exec', 'peek', '--', 'socat', '-u', 'OPEN:/dev/null', `UNIX-CONNECT:${d.socket}`], { allowFail: true });
    assert.notEqual(conn.status, 0);
    // The sandbox's own command runs without CAP_SYS_ADMIN/CAP_SYS_PTRACE: it cannot
    // unmount the cover or walk to the socket through a host process's /proc/PID/root.
    // State.Pid is the outer process (unshare); its child is the wrapper, whose child is the command.
    const pid = (JSON.parse(d.cli(['inspect', 'peek']).stdout)[0] as Inspected).State.Pid;
    const childOf = (p: number | string) => fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)[0]!;
    const child = childOf(childOf(pid));
    const caps = fs.readFileSync(`/proc/${child}/status`, 'utf8');
    const bnd = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(caps)![1]}`);
    assert.equal(bnd & (1n << 21n), 0n, 'CAP_SYS_ADMIN dropped');
    assert.equal(bnd & (1n << 19n), 0n, 'CAP_SYS_PTRACE dropped');
    const viaProc = d.cli(['run', '--rm', '--', 'sh', '-c', `ls /proc/${d.proc.pid}/root${d.socket} || umount ${d.execRoot}; ls ${d.socket}`], { allowFail: true });
    assert.notEqual(viaProc.status, 0, `sandbox reached the socket: ${viaProc.stdout}`);
    // The API's TLS key is covered (/dev/null) for the sandbox and its exec; the host still reads it.
    const key = d.cli(['exec', 'peek', '--', 'cat', certs.serverKey], { allowFail: true });
    assert.equal(key.stdout, '', 'the TLS key reads empty inside the sandbox');
    assert.match(fs.readFileSync(certs.serverKey, 'utf8'), /PRIVATE KEY/);
    // Generated /etc files are still in place under the cover.
    const hosts = d.cli(['exec', 'peek', '--', 'cat', '/etc/hostname'], { allowFail: true });
    assert.equal(hosts.status, 0, hosts.stderr);
    // And the exit status is still recorded although the data root is covered.
    const r = d.cli(['run', '--name', 'exit7', '--', 'sh', '-c', 'exit 7'], { allowFail: true });
    assert.equal(r.status, 7);
    d.cli(['rm', '-f', 'peek', 'exit7']);
  });

  test("the host's 127.0.0.1 services are unreachable from a sandbox unless published", async () => {
    // A listener on 127.0.0.1 in the host netns (like a local database).
    const server: ChildProcess = spawn('nsenter', [`--net=${d.host.path}`, '--', 'socat', 'TCP-LISTEN:24555,bind=127.0.0.1,fork,reuseaddr', 'SYSTEM:echo local-secret'], { stdio: 'ignore' });
    try {
      await waitFor(() => d.onHost('ss', ['-Htln']).stdout.includes('127.0.0.1:24555'), 'host loopback listener');
      assert.match(d.onHost('socat', ['-T2', '-', 'TCP:127.0.0.1:24555'], { allowFail: true }).stdout, /local-secret/, 'the listener answers on the host');
      d.cli(['run', '-d', '--name', 'lo-probe', '--', 'sleep', 'infinity']);
      const key = (JSON.parse(d.cli(['inspect', 'lo-probe']).stdout)[0] as Inspected).NetworkSettings.SandboxKey;
      const gw = '172.17.0.1';
      for (const target of ['127.0.0.1', gw]) {
        const r = d.inSandbox(key, 'socat', ['-T2', '-', `TCP:${target}:24555,connect-timeout=2`], { allowFail: true });
        assert.doesNotMatch(r.stdout, /local-secret/, `sandbox reached the host's loopback service through ${target}`);
      }
      // Even a sandbox that forges a route to 127.0.0.1 via the gateway gets nothing:
      // raw-prerouting drops loopback destinations arriving on any interface but lo.
      d.inSandbox(key, 'ip', ['route', 'add', '127.0.0.2/32', 'via', gw]);
      const forged = d.inSandbox(key, 'socat', ['-T2', '-', 'TCP:127.0.0.2:24555,connect-timeout=2'], { allowFail: true });
      assert.doesNotMatch(forged.stdout, /local-secret/);
      d.cli(['rm', '-f', 'lo-probe']);
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('daemon start-up refuses unsafe listeners (security)', () => {
  const refuse = (args: string[]) => {
    const host = makeNs('secflag');
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-flags-'));
      const r = spawnSync('nsenter', [`--net=${host.path}`, '--', process.execPath, CLI, 'daemon', '--data-root', path.join(dir, 'd'), '--exec-root', path.join(dir, 'r'), '-H', `unix://${dir}/s.sock`, ...args], { encoding: 'utf8', timeout: 20_000 });
      const listed = fs.existsSync(path.join(dir, 'd', 'store'));
      fs.rmSync(dir, { recursive: true, force: true });
      return { ...r, startedStore: listed };
    } finally {
      removeNs(host);
    }
  };

  test('tcp:// without --tlsverify is refused with a clear error', () => {
    const r = refuse(['-H', 'tcp://127.0.0.1:23761']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /refusing to listen on tcp:\/\/127\.0\.0\.1:23761 without --tlsverify/);
    assert.equal(r.startedStore, false);
  });

  test('--tlsverify without the files, or a bad address, is refused', () => {
    assert.match(refuse(['-H', 'tcp://127.0.0.1:23761', '--tlsverify']).stderr, /--tlsverify needs --tlscacert/);
    assert.match(refuse(['-H', 'tcp://localhost:99999', '--tlsverify']).stderr, /want tcp:\/\/ADDRESS:PORT/);
    assert.match(refuse(['--group', 'a;b']).stderr, /invalid --group/);
  });

  test('--group chowns the socket to root:GROUP, mode 0660', async () => {
    const d = await startDaemon({ tag: 'secgrp', args: ['--group', 'nogroup'] });
    try {
      const gid = Number(fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('nogroup:'))!.split(':')[2]);
      const st = fs.statSync(d.socket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.uid, 0);
      assert.equal(st.gid, gid);
      fs.chmodSync(d.root, 0o711);
      // A member of the group (and nobody else) may connect.
      const member = spawnSync('setpriv', ['--reuid=65534', `--regid=${gid}`, '--clear-groups', '--', 'curl', '-sS', '--unix-socket', d.socket, 'http://x/_ping'], { encoding: 'utf8' });
      assert.equal(member.stdout, 'OK', member.stderr);
    } finally {
      await d.stop();
    }
  });
});
