/**
 * The data plane outlives the control plane: while the daemon is killed with SIGKILL and
 * started again several times, a ping every 50 ms between two sandboxes loses no packet,
 * and a TCP stream of numbered lines between them neither breaks nor skips a line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';
import { killDaemon } from './chaos.js';
import { settledProblems } from './invariants.js';

let d: TestDaemon;
before(async () => {
  d = await startDaemon({ tag: 'dplane' });
});
after(async () => {
  await d?.stop();
});

/** Writes "1\n2\n…" to host:port, one line every 2 ms, `lines` lines; exits non-zero on any socket error. */
const SENDER = `
const net = require('net');
const [host, port, lines] = process.argv.slice(1);
const s = net.connect(Number(port), host);
let i = 0;
s.on('error', (e) => { console.error('stream error: ' + e.message); process.exit(3); });
s.on('connect', () => {
  const t = setInterval(() => {
    s.write(++i + '\\n');
    if (i >= Number(lines)) { clearInterval(t); s.end(() => process.exit(0)); }
  }, 2);
});`;

test('a ping and a TCP stream between sandboxes lose nothing across repeated kill -9 and restart', { timeout: 180_000 }, async () => {
  const c = d.client;
  await c.createNetwork({ Name: 'dp', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.95.0.0/24' }] } });
  for (const name of ['dp1', 'dp2']) {
    await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: 'dp' });
    await c.startSandbox(name);
  }
  const a = await c.inspectSandbox('dp1');
  const b = await c.inspectSandbox('dp2');
  const target = b.NetworkSettings.Networks.dp!.IPAddress;
  const received = path.join(d.root, 'stream.txt');

  const receiver = spawn('nsenter', [`--net=${b.NetworkSettings.SandboxKey}`, '--', 'socat', '-u', 'TCP-LISTEN:5001,reuseaddr', `OPEN:${received},creat,trunc`], { stdio: 'ignore' });
  await waitFor(() => d.inSandbox(b.NetworkSettings.SandboxKey, 'ss', ['-ltnH', 'sport', '=', ':5001']).stdout.trim() !== '', 'receiver listening');

  const LINES = 4000; // 8 s at one line every 2 ms
  const PINGS = 200; // 10 s at 50 ms
  const sender = spawn('nsenter', [`--net=${a.NetworkSettings.SandboxKey}`, '--', process.execPath, '-e', SENDER, target, '5001', String(LINES)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let senderErr = '';
  sender.stderr.on('data', (x: Buffer) => (senderErr += x.toString()));
  const senderDone = new Promise<number | null>((resolve) => sender.once('exit', resolve));
  const pinger = spawn('nsenter', [`--net=${a.NetworkSettings.SandboxKey}`, '--', 'ping', '-i', '0.05', '-c', String(PINGS), '-W', '1', target], { stdio: ['ignore', 'pipe', 'pipe'] });
  let pingOut = '';
  pinger.stdout.on('data', (x: Buffer) => (pingOut += x.toString()));
  const pingDone = new Promise<number | null>((resolve) => pinger.once('exit', resolve));
  const receiverDone = new Promise<number | null>((resolve) => receiver.once('exit', resolve));

  const lineCount = () => {
    try {
      return fs.readFileSync(received, 'utf8').split('\n').length - 1;
    } catch {
      return 0;
    }
  };
  const KILLS = 4;
  for (let k = 0; k < KILLS; k++) {
    const before = lineCount();
    await waitFor(() => lineCount() > before + 100, `stream flowing before kill ${k + 1}`, 10_000);
    await killDaemon(d);
    await d.restart();
  }

  assert.equal(await senderDone, 0, `sender: ${senderErr}`);
  assert.equal(await receiverDone, 0, 'receiver ended with the stream');
  const lines = fs.readFileSync(received, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, LINES, 'every line arrived');
  const firstGap = lines.findIndex((l, i) => Number(l) !== i + 1);
  assert.equal(firstGap, -1, `line ${firstGap + 1} is "${lines[firstGap]}"`);

  assert.equal(await pingDone, 0, pingOut.slice(-500));
  assert.match(pingOut, new RegExp(`${PINGS} packets transmitted, ${PINGS} received, 0% packet loss`));

  const { problems } = await settledProblems(d, c);
  assert.deepEqual(problems, []);
});
