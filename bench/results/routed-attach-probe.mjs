// Steady-state connect/disconnect of a running sandbox (on a local bridge of host0) to a routed network, 3-host lab:
// client-side p50 and the daemon's phase trace. usage: node bench/results/routed-attach-probe.mjs <repo dir> [iterations] [pin]  (pin: etcd on CPU 1, the rest on CPU 0)
const repo = process.argv[2]; const N = Number(process.argv[3] ?? 40);
process.env.SWY_TRACE_PHASES = '1';
const { startClusterLab } = await import(`${repo}/dist/test/helpers/cluster-lab.js`);
const { parsePhaseLines } = await import(`${repo}/dist/src/engine/phase-trace.js`);
const pin = process.argv[4] === 'pin';
const { execFileSync } = await import('node:child_process');
if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const lab = await startClusterLab({ hosts: 3 });
if (pin) for (const m of lab.etcd.members) execFileSync('taskset', ['-a', '-p', '-c', '1', String(m.pid())], { stdio: 'ignore' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
try {
  const c0 = lab.hosts[0].daemon.client;
  await c0.createNetwork({ Name: 'rtx', Driver: 'routed', Attachable: true, IPAM: { Config: [{ Subnet: '10.66.0.0/16' }] } });
  await c0.createNetwork({ Name: 'lbx' });
  for (const [name, net] of [['keep', 'rtx'], ['mover', 'lbx']]) { const { Id } = await c0.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: net }); await c0.startSandbox(Id); }
  const conn = [], local = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now(); await c0.connectNetwork('rtx', 'mover'); conn.push(performance.now() - t);
    await c0.disconnectNetwork('rtx', 'mover'); await sleep(250);
  }
  const tr = parsePhaseLines(lab.hosts[0].daemon.log(), 'connect rtx').slice(-N);
  const keys = [...new Set(tr.flatMap((r) => Object.keys(r)))];
  console.log(`${repo}${pin ? ' (etcd on CPU 1)' : ''}: routed connect client p50 ${med(conn).toFixed(2)} ms; phases p50: ${keys.map((k) => `${k}=${med(tr.map((r) => r[k] ?? 0)).toFixed(2)}`).join(' ')}`);
  for (const n of ['keep', 'mover']) await c0.removeSandbox(n, true);
  await c0.removeNetwork('rtx'); await c0.removeNetwork('lbx');
} finally { await lab.close(); }
