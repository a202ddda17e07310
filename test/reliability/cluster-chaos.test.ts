/**
 * Cluster chaos (issue 11, docs/RELIABILITY.md "Cluster"): three daemons in the cluster lab,
 * one client per host running a random mixed workload through its API (run sandboxes on a
 * local network, connect them to a shared global overlay network, with a dynamic or a static
 * address from a small pool every host asks for, disconnect, rm -f), while a random daemon
 * is killed with SIGKILL at random moments and started again. Afterwards, with every daemon
 * back: 0 addresses held twice cluster-wide, 0 orphan records in etcd (every endpoint record
 * is a sandbox on its host and every address claim an endpoint), every acknowledged
 * operation present, and each host holds exactly one port (a macvlan: a direct port) per local
 * endpoint (0 leaked kernel objects; the lab's close checks the namespaces).
 *
 * SWY_CLUSTER_KILLS (default 6) and SWY_CHAOS_SEED set the size and the seed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { sh, waitFor } from '../helpers/netns.js';
import { SeededRandom, chaosSeed } from './seeded-random.js';

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 3 });
});
after(async () => {
  await lab?.close();
});

const NET = 'gchaos';
const SLOTS = 4;
const STATIC_POOL = ['10.83.0.200', '10.83.0.201', '10.83.0.202'];
type State = { s: 'absent' } | { s: 'off' } | { s: 'on'; ip: string } | { s: 'uncertain' };
type Net = Record<string, { IPAddress: string }>;

function etcdRange(prefix: string): { key: string; value: string }[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const r = sh('ip', ['netns', 'exec', lab.hosts[0]!.ns.name, 'curl', '-s', '--max-time', '5', '-X', 'POST', '-d', JSON.stringify({ key: b64(prefix), range_end: b64(end) }), `${lab.etcd.endpoints[0]}/v3/kv/range`]);
  const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
  return kvs.map((kv) => ({ key: Buffer.from(kv.key, 'base64').toString(), value: Buffer.from(kv.value, 'base64').toString() }));
}

test('kill -9 of random daemons under a mixed multi-host workload: no address twice, no orphan record, nothing acknowledged lost, no leaked port', async (t) => {
  const seed = chaosSeed();
  const rnd = new SeededRandom(seed);
  const kills = Number(process.env.SWY_CLUSTER_KILLS ?? 6);
  t.diagnostic(`seed ${seed}, ${kills} kills`);
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.83.0.0/24', NET]);
  for (const i of [0, 1, 2]) lab.cli(i, ['network', 'create', '--subnet', `10.94.${i}.0/24`, `loc${i}`]);
  const ledger = new Map<string, State>();
  const down = [false, false, false];
  const epoch = [0, 0, 0];
  const counts = { acked: 0, rejected: 0, cut: 0 };
  const rejections = new Map<string, number>();
  let stop = false;

  const client = async (i: number) => {
    const r = new SeededRandom(seed + i + 1);
    while (!stop) {
      if (down[i]) {
        await new Promise((res) => setTimeout(res, 50));
        continue;
      }
      const c = lab.hosts[i]!.daemon.client;
      const name = `h${i}s${r.int(0, SLOTS - 1)}`;
      let st = ledger.get(name) ?? { s: 'absent' };
      const e0 = epoch[i];
      const op = async (): Promise<State> => {
        if (st.s === 'uncertain') {
          const s = await c.inspectSandbox(name).catch((err: { code?: string }) => {
            if (err.code === 'SANDBOX_NOT_FOUND' || /No such/.test(String(err))) return undefined;
            throw err;
          });
          if (!s) return { s: 'absent' };
          const on = (s as { NetworkSettings: { Networks: Net } }).NetworkSettings.Networks[NET];
          return on ? { s: 'on', ip: on.IPAddress } : { s: 'off' };
        }
        if (st.s === 'absent') {
          const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: `loc${i}` });
          await c.startSandbox(Id);
          return { s: 'off' };
        }
        if (st.s === 'off') {
          if (r.int(0, 5 - 1) === 0) {
            await c.removeSandbox(name, true);
            return { s: 'absent' };
          }
          const ip = r.int(0, 3 - 1) === 0 ? STATIC_POOL[r.int(0, STATIC_POOL.length - 1)] : undefined;
          await c.connectNetwork(NET, name, ip ? { IPAMConfig: { IPv4Address: ip } } : {});
          const s = (await c.inspectSandbox(name)) as { NetworkSettings: { Networks: Net } };
          return { s: 'on', ip: s.NetworkSettings.Networks[NET]!.IPAddress };
        }
        if (r.int(0, 3 - 1) === 0) {
          await c.removeSandbox(name, true);
          return { s: 'absent' };
        }
        await c.disconnectNetwork(NET, name);
        return { s: 'off' };
      };
      try {
        const next = await op();
        if (epoch[i] !== e0) throw new Error('cut');
        ledger.set(name, next);
        counts.acked++;
      } catch (err) {
        const status = (err as { kind?: string }).kind;
        if (epoch[i] !== e0 || down[i] || !status) {
          counts.cut++;
          ledger.set(name, { s: 'uncertain' });
        } else {
          counts.rejected++;
          const code = (err as { code?: string }).code ?? 'unknown';
          rejections.set(code, (rejections.get(code) ?? 0) + 1);
          // A clean rejection changes nothing, except a connect whose follow-up inspect failed.
          if (st.s === 'off') ledger.set(name, { s: 'uncertain' });
        }
      }
      st = ledger.get(name)!;
    }
  };
  const clients = [0, 1, 2].map((i) => client(i));
  try {
    for (let k = 0; k < kills; k++) {
      await new Promise((res) => setTimeout(res, 500 + rnd.int(0, 2000 - 1)));
      const i = rnd.int(0, 3 - 1);
      down[i] = true;
      epoch[i]++;
      await lab.kill(i);
      await new Promise((res) => setTimeout(res, rnd.int(0, 500 - 1)));
      try {
        await lab.restart(i);
      } catch (err) {
        throw new Error(`host${i}'s daemon did not start again after kill ${k + 1}: ${(err as Error).message}\n${lab.hosts[i]!.daemon.log().slice(-3000)}`);
      }
      down[i] = false;
    }
  } finally {
    stop = true;
    await Promise.all(clients);
  }
  t.diagnostic(`${counts.acked} acknowledged, ${counts.rejected} rejected (${JSON.stringify(Object.fromEntries(rejections))}), ${counts.cut} cut by a kill`);

  // Settle: the watch of every host has caught up (each sees the same endpoints).
  const netId = (await lab.hosts[0]!.daemon.client.inspectNetwork(NET)).Id;
  const nodeIds = new Map<string, number>();
  for (const i of [0, 1, 2]) {
    const id = (JSON.parse(lab.cli(i, ['node', 'inspect', `host${i}`]).stdout) as { ID: string }[])[0]!.ID;
    nodeIds.set(id, i);
  }
  // What each host has: its sandboxes on NET with their addresses.
  const actual = new Map<string, { host: number; ip: string | undefined }>();
  for (const i of [0, 1, 2]) {
    const c = lab.hosts[i]!.daemon.client;
    for (const s of await c.listSandboxes(true)) {
      const name = s.Names[0]!.replace(/^\//, '');
      const ins = (await c.inspectSandbox(name)) as { NetworkSettings: { Networks: Net } };
      actual.set(name, { host: i, ip: ins.NetworkSettings.Networks[NET]?.IPAddress });
    }
  }
  // 0 addresses held twice cluster-wide.
  const ips = [...actual.values()].map((a) => a.ip).filter((x): x is string => !!x);
  assert.equal(new Set(ips).size, ips.length, `an address held twice: ${ips.sort().join(' ')}`);
  // 0 orphan records: endpoint records ⇔ sandboxes on NET; claims ⇔ endpoints.
  const prefix = '/switchyard/v1';
  const records = etcdRange(`${prefix}/endpoints/${netId}/`).map((kv) => JSON.parse(kv.value) as { node: string; sandboxName: string; ipv4?: string });
  const recorded = records.map((r) => `${r.sandboxName}@${[...nodeIds.entries()].find(([id]) => id.startsWith(r.node) || r.node.startsWith(id))?.[1]}=${(r.ipv4 ?? '').split('/')[0]}`).sort();
  const onNet = [...actual.entries()].filter(([, a]) => a.ip).map(([n, a]) => `${n}@${a.host}=${a.ip}`).sort();
  assert.deepEqual(recorded, onNet, 'endpoint records in etcd = sandboxes on the network');
  const claims = etcdRange(`${prefix}/ipam/${netId}/`).map((kv) => kv.key.split('/').pop()!).filter((ip) => ip.includes('.') && !ip.endsWith('.0') && ip !== '10.83.0.1' && ip !== '10.83.0.255');
  assert.deepEqual(claims.sort(), [...ips].sort(), 'address claims = endpoint addresses');
  // Every acknowledged operation is there.
  for (const [name, st] of ledger) {
    if (st.s === 'uncertain') continue;
    const a = actual.get(name);
    if (st.s === 'absent') assert.equal(a, undefined, `${name} was removed`);
    else if (st.s === 'off') assert.ok(a && !a.ip, `${name} exists, not on ${NET}`);
    else assert.equal(a?.ip, st.ip, `${name} on ${NET} with ${st.ip}`);
  }
  // Kernel: one port per local endpoint (a sandbox left created or exited is started first). run's default capabilities make
  // every sandbox here sealed: its port is a macvlan in its own namespace (a direct port), and
  // the overlay namespace holds no veth (a guarded port's); a sandbox off the network holds none.
  const count = (nsPath: string, type: string) => {
    const r = spawnSync('nsenter', [`--net=${nsPath}`, '--', 'ip', '-o', 'link', 'show', 'type', type], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim().split('\n').filter(Boolean).length : 0;
  };
  for (const i of [0, 1, 2]) {
    const nsPath = path.join(lab.hosts[i]!.daemon.execRoot, 'overlay', `1-${netId.slice(0, 10)}`);
    const inspect = (n: string) =>
      (JSON.parse(lab.cli(i, ['inspect', n], { allowFail: true }).stdout || '[{}]') as { State?: { Status?: string }; NetworkSettings?: { SandboxKey?: string } }[])[0];
    const sandboxes = [...actual.entries()]
      .filter(([, a]) => a.host === i)
      .map(([n, a]) => {
        let ins = inspect(n);
        // A kill between create and start leaves a sandbox created, and one in the middle of an
        // rm -f leaves it exited: either holds its address with no port, and gets one when it
        // starts (as `docker start` would).
        if (ins?.State?.Status === 'created' || ins?.State?.Status === 'exited') {
          lab.cli(i, ['start', n]);
          ins = inspect(n);
        }
        return { name: n, ip: a.ip, status: ins?.State?.Status, key: ins?.NetworkSettings?.SandboxKey };
      });
    const local = sandboxes.filter((s) => s.ip).length;
    const keys = sandboxes.map((s) => s.key).filter((k): k is string => !!k);
    const seen = () => `${count(nsPath, 'veth')} veths in the overlay namespace; ` + sandboxes.map((s) => `${s.name} ${s.status} ${s.ip ?? 'off'}: ${s.key ? count(s.key, 'macvlan') : '-'} macvlan`).join(', ');
    await waitFor(() => {
      const macvlans = keys.reduce((n, k) => n + count(k, 'macvlan'), 0);
      return count(nsPath, 'veth') === 0 && macvlans === local;
    }, `host${i}: ${local} direct ports in its sandboxes and no guarded one`, 5_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; seen: ${seen()}\n${lab.hosts[i]!.daemon.log().slice(-4000)}`);
    });
  }
  t.diagnostic(`after: ${ips.length} endpoints on ${NET} across 3 hosts, ${actual.size} sandboxes, ${claims.length} claims`);
  for (const i of [0, 1, 2]) lab.cli(i, ['rm', '-f', ...[...actual.entries()].filter(([, a]) => a.host === i).map(([n]) => n)], { allowFail: true });
  lab.cli(0, ['network', 'rm', NET]);
});
