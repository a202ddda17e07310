/**
 * A sandbox is a boundary (docs/SECURITY.md "What a sandbox can do"): real processes in
 * real sandboxes of a real daemon, each probe next to a control that shows the probe
 * would see a hole (the same probe with the protection switched off by the matching
 * `run` flag gets through), so no line passes vacuously.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';
import { capabilityMask, ALL_CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES } from '../../src/model/capabilities.js';

interface Inspected {
  Id: string;
  State: { Pid: number; Running: boolean };
  HostConfig: { CapAdd: string[] | null; CapDrop: string[] | null; Privileged: boolean; PidMode: string };
  NetworkSettings: { SandboxKey: string };
}

const DEFAULT_MASK = capabilityMask(DOCKER_DEFAULT_CAPABILITIES);
const FULL_MASK = capabilityMask(ALL_CAPABILITIES);

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childrenOf(pid)) out.push(c, ...descendants(c));
  return out;
}

function fdsOf(pid: number): { fd: string; target: string }[] {
  return fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
    let target = '?';
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      /* closed meanwhile */
    }
    return { fd, target };
  });
}

function capBnd(pid: number): bigint {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(status)![1]}`);
}

/** Host pids whose argv is exactly `argv` (NUL-joined). */
function pidsWithArgv(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8') === want) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('a sandbox is a boundary (security)', () => {
  let d: TestDaemon;
  const SECRET = 'swy-daemon-secret-7f3a';

  before(async () => {
    process.env['SWY_DAEMON_SECRET'] = SECRET; // the daemon inherits it; no sandbox may see it
    d = await startDaemon({ tag: 'secbox', args: ['--log-opt', 'max-size=64k'] });
    d.cli(['network', 'create', 'boxnet']);
  });
  after(async () => {
    delete process.env['SWY_DAEMON_SECRET'];
    await d?.stop();
  });

  const inspect = (name: string): Inspected => JSON.parse(d.cli(['inspect', name]).stdout)[0] as Inspected;
  /** An attached run: the command's output and exit status. */
  const run = (flags: string[], script: string) => {
    const r = d.cli(['run', '--rm', ...flags, '--', '/bin/sh', '-c', script], { allowFail: true, timeoutMs: 30_000 });
    return { out: r.stdout, err: r.stderr, status: r.status };
  };
  /** State.Pid is the outer process (unshare); its child is the wrapper, PID 1 of the sandbox. */
  const wrapperOf = (name: string): number => {
    const outer = inspect(name).State.Pid;
    let wrapper = 0;
    const deadline = Date.now() + 5000;
    while (!wrapper && Date.now() < deadline) wrapper = childrenOf(outer)[0] ?? 0;
    assert.ok(wrapper, `${name}: the outer process ${outer} has a wrapper`);
    return wrapper;
  };
  const commandOf = (name: string): number => {
    const wrapper = wrapperOf(name);
    let cmd = 0;
    // The wrapper starts its command right after its mounts.
    const deadline = Date.now() + 5000;
    while (!cmd && Date.now() < deadline) cmd = childrenOf(wrapper)[0] ?? 0;
    assert.ok(cmd, `${name}: the wrapper ${wrapper} has a command`);
    return cmd;
  };

  test('no daemon file descriptor reaches a sandbox, also with many sandboxes (their DNS sockets included)', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `fd${i}`);
    for (const n of names) d.cli(['run', '-d', '--name', n, '--network', 'boxnet', '--', '/bin/sh', '-c', 'sleep 1000 & wait']);
    for (const n of names) {
      const wrapper = inspect(n).State.Pid; // the outer process: it and every descendant
      await waitFor(() => descendants(wrapper).length >= 3, `${n}: wrapper, command and its child`, 5000);
      for (const pid of [wrapper, ...descendants(wrapper)]) {
        const fds = fdsOf(pid);
        assert.deepEqual(fds.map((f) => f.fd).sort(), ['0', '1', '2'], `${n}: pid ${pid} has only stdio: ${JSON.stringify(fds)}`);
        for (const f of fds) assert.ok(!/socket|mdb|netlink/.test(f.target), `${n}: pid ${pid} fd ${f.fd} → ${f.target}`);
      }
    }
    for (const n of names) d.cli(['rm', '-f', n]);
  });

  test("Docker's default capabilities, bounding set included; --cap-add/--cap-drop/--privileged change them; exec gets the same", () => {
    d.cli(['run', '-d', '--name', 'caps-default', '--', 'sleep', '1000']);
    d.cli(['run', '-d', '--name', 'caps-admin', '--cap-add', 'net_admin', '--cap-drop', 'CAP_CHOWN', '--', 'sleep', '1000']);
    d.cli(['run', '-d', '--name', 'caps-priv', '--privileged', '--', 'sleep', '1000']);
    assert.equal(capBnd(commandOf('caps-default')), DEFAULT_MASK);
    const admin = (DEFAULT_MASK | capabilityMask(['CAP_NET_ADMIN'])) & ~capabilityMask(['CAP_CHOWN']);
    assert.equal(capBnd(commandOf('caps-admin')), admin);
    // every capability the daemon has (a test machine may itself run with fewer than all)
    const daemonSet = capBnd(d.proc.pid!) & FULL_MASK;
    assert.equal(capBnd(commandOf('caps-priv')), daemonSet);
    // inspect shows Docker's HostConfig fields
    const hc = inspect('caps-admin').HostConfig;
    assert.deepEqual([hc.CapAdd, hc.CapDrop, hc.Privileged, hc.PidMode], [['CAP_NET_ADMIN'], ['CAP_CHOWN'], false, '']);
    assert.deepEqual([inspect('caps-default').HostConfig.CapAdd, inspect('caps-priv').HostConfig.Privileged], [null, true]);
    // exec: the same set, in the same PID namespace (PID 1 is the sandbox's wrapper)
    const execCaps = (name: string) => BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(d.cli(['exec', name, '--', 'cat', '/proc/self/status']).stdout)![1]}`);
    assert.equal(execCaps('caps-default'), DEFAULT_MASK);
    assert.equal(execCaps('caps-admin'), admin);
    assert.equal(execCaps('caps-priv'), daemonSet);
    const init = d.cli(['exec', 'caps-default', '--', 'cat', '/proc/1/cmdline']).stdout.split('\0');
    assert.deepEqual(init.slice(0, 2), ['/bin/sh', '-c'], 'PID 1 seen by exec is the wrapper');
    // unknown names are refused up front, naming the field
    const bad = d.cli(['run', '-d', '--cap-add', 'NET_WIZARD', '--', 'true'], { allowFail: true });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unknown capability: "NET_WIZARD"/);
    for (const n of ['caps-default', 'caps-admin', 'caps-priv']) d.cli(['rm', '-f', n]);
  });

  test('a default sandbox cannot create links in, or name, host processes; with NET_ADMIN it configures only its own namespace', () => {
    const daemonPid = d.proc.pid!;
    const hostLinks = () => d.onHost('ip', ['-o', 'link', 'show']).stdout;
    // default: no NET_ADMIN at all
    const plain = run([], 'ip link add swy-bx0 type veth peer name swy-bx0b 2>&1; echo rc=$?');
    assert.match(plain.out, /Operation not permitted[\s\S]*rc=[1-9]/);
    // NET_ADMIN: its own namespace yes; "netns 1" is its own PID 1 (same namespace); the daemon's pid is unknown
    const admin = run(['--cap-add', 'NET_ADMIN'], `ip link add swy-bx1 type veth peer name swy-bx1b && echo own=ok; ip link add swy-bx2 type veth peer name swy-bx3 netns 1 && echo ns1=made; ip link add swy-bx4 netns ${daemonPid} type veth peer name swy-bx5 netns ${daemonPid} 2>&1; echo daemon-rc=$?`);
    assert.match(admin.out, /own=ok/);
    assert.match(admin.out, /daemon-rc=[1-9]/);
    assert.ok(!/swy-bx[1-5]/.test(hostLinks()), `nothing reached the daemon's namespace:\n${hostLinks()}`);
    // control: the same probe with --pid host names the daemon's process and gets a link into its namespace
    const control = run(['--cap-add', 'NET_ADMIN', '--pid', 'host'], `ip link add swy-bx6 netns ${daemonPid} type veth peer name swy-bx7 netns ${daemonPid} && echo made`);
    assert.match(control.out, /made/, `control: ${control.err}`);
    assert.match(hostLinks(), /swy-bx7/);
    d.onHost('ip', ['link', 'del', 'swy-bx7']);
  });

  test('/proc/sys and /sys are read-only, /sys is the sandbox\'s own; --privileged makes them writable (its own namespace)', () => {
    const probe = 'echo 1 > /proc/sys/net/ipv4/ip_forward && echo procsys=w; echo 1400 > /sys/class/net/eth0/mtu && echo sys=w; ls /sys/class/net | tr "\\n" " "';
    const plain = run([], probe);
    assert.ok(!/procsys=w|sys=w/.test(plain.out), plain.out);
    assert.match(plain.out, /eth0/);
    assert.ok(!/sy0/.test(plain.out), `the host's bridge is not in the sandbox's /sys: ${plain.out}`);
    const priv = run(['--privileged'], probe);
    assert.match(priv.out, /procsys=w/);
    assert.match(priv.out, /sys=w/);
    // with NET_ADMIN too: the knobs stay read-only
    assert.ok(!/procsys=w|sys=w/.test(run(['--cap-add', 'NET_ADMIN'], probe).out));
    // host network mode (the daemon's namespace): /sys is a read-only bind there
    const host = run(['--network', 'host'], 'echo 1500 > /sys/class/net/lo/mtu && echo sys=w; echo 1 > /proc/sys/net/ipv4/ip_forward && echo procsys=w; echo ran');
    assert.match(host.out, /ran/, host.err);
    assert.ok(!/procsys=w|sys=w/.test(host.out), host.out);
  });

  test("a sandbox cannot signal the daemon or read another sandbox's environment; --pid host can (control)", () => {
    const daemonPid = d.proc.pid!;
    d.cli(['run', '-d', '--name', 'victim', '-e', 'VICTIM_SECRET=hunter2', '--', 'sleep', '1000']);
    const victim = commandOf('victim');
    const probe = `kill -0 ${daemonPid} && echo signalled; cat /proc/${victim}/environ | tr "\\0" "\\n" | grep VICTIM_SECRET; ls /proc | grep -c '^[0-9]'`;
    const plain = run([], probe);
    assert.ok(!/signalled|hunter2/.test(plain.out), plain.out);
    assert.ok(Number(plain.out.trim().split('\n').pop()) < 10, `only its own processes in /proc: ${plain.out}`);
    const admin = run(['--cap-add', 'NET_ADMIN'], probe);
    assert.ok(!/signalled|hunter2/.test(admin.out), admin.out);
    const control = run(['--pid', 'host'], probe);
    assert.match(control.out, /signalled/);
    assert.match(control.out, /hunter2/);
    assert.ok(fs.existsSync(`/proc/${daemonPid}`), 'the daemon lives');
    d.cli(['rm', '-f', 'victim']);
  });

  test('processes that setsid or double-fork are gone after rm -f', async () => {
    const marks = [['sleep', '31337'], ['sleep', '31338'], ['sleep', '31339']];
    const old = new Set(marks.flatMap(pidsWithArgv));
    const escapedNow = () => marks.flatMap(pidsWithArgv).filter((p) => !old.has(p));
    d.cli(['run', '-d', '--name', 'escaper', '--', '/bin/sh', '-c', 'setsid sh -c "sleep 31337 & sleep 31338 &" ; (sleep 31339 &) ; sleep 1000']);
    await waitFor(() => escapedNow().length === 3, 'escapes running', 5000);
    const escaped = escapedNow();
    const alive = (p: number) => fs.existsSync(`/proc/${p}`) && !fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
    try {
      // they really left the wrapper's session
      const sessionOf = (p: number) => fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[3];
      const wrapperSession = sessionOf(wrapperOf('escaper'));
      assert.ok(escaped.some((p) => sessionOf(p) !== wrapperSession), 'one left the session');
      d.cli(['rm', '-f', 'escaper']);
      await waitFor(() => escaped.every((p) => !alive(p)), 'escapes gone', 5000);
    } finally {
      for (const p of escaped) if (alive(p)) process.kill(p, 'SIGKILL'); // never leave one behind, even when failing
    }
  });

  test('store, sandbox directories, logs and namespace pins are root-only', () => {
    d.cli(['run', '-d', '--name', 'modes', '--', 'sleep', '1000']);
    const id = inspect('modes').Id;
    const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
    assert.equal(mode(d.dataRoot), '711');
    assert.equal(mode(path.join(d.dataRoot, 'store')), '700');
    for (const f of fs.readdirSync(path.join(d.dataRoot, 'store'))) assert.equal(mode(path.join(d.dataRoot, 'store', f)), '600', f);
    assert.equal(mode(path.join(d.dataRoot, 'sandboxes')), '700');
    assert.equal(mode(path.join(d.dataRoot, 'sandboxes', id)), '700');
    assert.equal(mode(path.join(d.dataRoot, 'sandboxes', id, 'output.log')), '600');
    assert.equal(mode(path.join(d.execRoot, 'netns')), '700');
    // what the sandbox reads through its bind mounts stays readable by its non-root users
    assert.equal(mode(path.join(d.dataRoot, 'sandboxes', id, 'resolv.conf')), '644');
    // and nobody else gets in: `nobody` cannot read the store or the log
    for (const p of [path.join(d.dataRoot, 'store', 'data.mdb'), path.join(d.dataRoot, 'sandboxes', id, 'output.log')]) {
      const r = d.onHost('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'cat', p], { allowFail: true });
      assert.notEqual(r.status, 0, `nobody read ${p}`);
    }
    d.cli(['rm', '-f', 'modes']);
  });

  test("the daemon's environment and the request's PATH/LD_PRELOAD never reach the host-side tools", () => {
    const evil = fs.mkdtempSync('/tmp/swy-evil-');
    const marker = path.join(evil, 'ran');
    for (const tool of ['nsenter', 'unshare', 'mount', 'setpriv', 'hostname', 'env', 'sh', 'mv']) {
      fs.writeFileSync(path.join(evil, tool), `#!/bin/sh\necho ${tool} >> ${marker}\n`, { mode: 0o755 });
    }
    try {
      // a bare NAME in the API's Env is not looked up in the daemon's environment
      const r = d.cli(['run', '--rm', '-e', `PATH=${evil}`, '-e', 'LD_PRELOAD=/nonexistent/x.so', '--', '/usr/bin/env'], { allowFail: true, env: { SWY_DAEMON_SECRET: '' } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`PATH=${evil}`), 'the command gets its PATH');
      assert.ok(!fs.existsSync(marker), `a host-side tool ran from the request's PATH: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`);
      const api = d.cli(['run', '--rm', '--', '/usr/bin/env'], { allowFail: true });
      assert.ok(!api.stdout.includes(SECRET), 'no daemon variable');
    } finally {
      fs.rmSync(evil, { recursive: true, force: true });
    }
  });

  test('a bare Env name sent to the API is not filled from the daemon environment', async () => {
    const c = await d.client.createSandbox({ Name: 'bare', Cmd: ['/usr/bin/env'], Env: ['SWY_DAEMON_SECRET'] });
    await d.client.startSandbox(c.Id);
    await d.client.waitSandbox(c.Id);
    const log = fs.readFileSync(path.join(d.dataRoot, 'sandboxes', c.Id, 'output.log'), 'utf8');
    assert.ok(!log.includes(SECRET), log);
    assert.match(log, /^PATH=/m);
    d.cli(['rm', '-f', 'bare']);
  });

  test('/etc/hosts, /etc/hostname and /etc/resolv.conf are read-only in the sandbox', () => {
    const r = run([], 'for f in hosts hostname resolv.conf; do echo x >> /etc/$f && echo $f=w; done; cat /etc/hostname');
    assert.ok(!/=w/.test(r.out), r.out);
    assert.ok(r.out.trim().length > 0);
  });

  test('a log over --log-opt max-size is rotated to output.log.1 and truncated; the command keeps writing', async () => {
    d.cli(['run', '-d', '--name', 'chatty', '--', '/bin/sh', '-c', "head -c 1048576 /dev/zero | tr '\\0' x; sleep 1; echo after-rotation; sleep 1000"]);
    const dir = path.join(d.dataRoot, 'sandboxes', inspect('chatty').Id);
    const log = path.join(dir, 'output.log');
    await waitFor(() => fs.existsSync(`${log}.1`) && fs.readFileSync(log, 'utf8').includes('after-rotation'), 'rotated, and written after', 10_000);
    assert.ok(fs.statSync(log).size <= 64 * 1024, `output.log is ${fs.statSync(log).size} bytes`);
    assert.ok(fs.statSync(`${log}.1`).size > 64 * 1024, 'the megabyte was written (then rotated)');
    assert.equal((fs.statSync(`${log}.1`).mode & 0o777).toString(8), '600');
    assert.match(d.cli(['logs', 'chatty']).stdout, /after-rotation/);
    d.cli(['rm', '-f', 'chatty']);
  });

  test('known limit: a default sandbox is root on the host filesystem (it writes a host file outside the daemon roots)', () => {
    const target = `/tmp/swy-hostwrite-${process.pid}`;
    try {
      const r = run([], `echo from-sandbox > ${target} && echo wrote`);
      assert.match(r.out, /wrote/);
      assert.equal(fs.readFileSync(target, 'utf8'), 'from-sandbox\n', 'docs/SECURITY.md says so: the host filesystem is shared');
    } finally {
      fs.rmSync(target, { force: true });
    }
  });

  test("container: mode copies at most 1 MiB of the target's hosts and resolv.conf", () => {
    d.cli(['run', '-d', '--name', 'bigtarget', '--', 'sleep', '1000']);
    const target = path.join(d.dataRoot, 'sandboxes', inspect('bigtarget').Id);
    // The target cannot grow its files itself any more (read-only in it): stand in for that here.
    fs.appendFileSync(path.join(target, 'hosts'), `# ${'x'.repeat(3 << 20)}\n`);
    d.cli(['run', '-d', '--name', 'joiner', '--network', 'container:bigtarget', '--', 'sleep', '1000']);
    const copy = path.join(d.dataRoot, 'sandboxes', inspect('joiner').Id, 'hosts');
    assert.equal(fs.statSync(copy).size, 1 << 20);
    d.cli(['rm', '-f', 'joiner', 'bigtarget']);
  });
});
