/**
 * The engine's locks against a real daemon (audit M1 and M3; the deterministic interleavings
 * are in test/unit/engine-locks.test.ts):
 * - `firewall reload` hammered while sandboxes start and stop: at the end every running
 *   sandbox has its anti-spoofing element (its host port in `bridge switchyard ports`) and
 *   its published element (`inet switchyard published4`), and no stopped one has any.
 * - create/start racing `network rm`, many rounds: never a 5xx, `GET /containers/json`
 *   always 200, and no sandbox ever shows an endpoint on a network that does not exist.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { SwitchyardClient } from '../../src/api/client.js';
import { SwitchyardError } from '../../src/errors.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

const SERVER_CMD = ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo ok'];

function get(socketPath: string, p: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path: p }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A failure an API client may see in a race: a clean 4xx (or a 503), never a 500 or a broken reply. */
function clean(err: unknown): string | undefined {
  if (err instanceof SwitchyardError && err.kind !== 'internal' && err.message) return undefined;
  return err instanceof SwitchyardError ? `${err.kind} ${err.code}: ${err.message}` : String(err);
}

describe('engine locks (e2e)', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon({ tag: 'locks' });
  });
  after(async () => {
    await d?.stop();
  });

  test('firewall reload hammered during starts and stops: every running sandbox ends with its elements, no stopped one keeps any', { timeout: 240_000 }, async () => {
    const c = d.client;
    await c.createNetwork({ Name: 'fw', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.231.0.0/24' }] } });
    const names = Array.from({ length: 6 }, (_, i) => `f${i}`);
    for (const name of names) await c.createSandbox({ Name: name, Cmd: SERVER_CMD, NetworkMode: 'fw', PortSpecs: ['0:80'] });
    const problems: string[] = [];
    const clients = names.map(() => new SwitchyardClient({ host: `unix://${d.socket}` }));
    const reloadClients = [0, 1].map(() => new SwitchyardClient({ host: `unix://${d.socket}` }));
    let reloads = 0;
    /**
     * Runs `op` on every sandbox at once while two clients reload the firewall in a loop; the
     * reloads stop as soon as the operations are done, so a reload that overlapped the last
     * of them is the last one (its damage, if any, is not repaired by a later reload).
     */
    const underReloads = async (what: string, op: (cl: SwitchyardClient, name: string) => Promise<void>) => {
      let busy = true;
      const reloaders = reloadClients.map(async (rc) => {
        while (busy) {
          await rc.firewallReload().catch((e) => void problems.push(`reload: ${String(e)}`));
          reloads++;
        }
      });
      await Promise.all(names.map((n, i) => op(clients[i]!, n).catch((e) => void (clean(e) && problems.push(`${what} ${n}: ${clean(e)}`)))));
      busy = false;
      await Promise.all(reloaders);
    };
    const elements = async () => {
      const hostPorts = d.onHost('nft', ['list', 'set', 'bridge', 'switchyard', 'ports']).stdout;
      const published = d.onHost('nft', ['list', 'set', 'inet', 'switchyard', 'published4']).stdout;
      const hostLinks = d.onHost('ip', ['-o', 'link', 'show']).stdout;
      const out: { name: string; running: boolean; antiSpoof: boolean; published: boolean }[] = [];
      for (const name of names) {
        const sb = await c.inspectSandbox(name);
        const ip = sb.NetworkSettings.Networks['fw']!.IPAddress;
        let antiSpoof = false;
        if (sb.State.Running) {
          // The host end of the sandbox's eth0: "eth0@ifN" inside, link N outside.
          const peer = /eth0@if(\d+)/.exec(d.inSandbox(sb.NetworkSettings.SandboxKey, 'ip', ['-o', 'link', 'show', 'eth0']).stdout)?.[1];
          const veth = new RegExp(`^${peer}: ([^:@]+)`, 'm').exec(hostLinks)?.[1];
          antiSpoof = !!veth && hostPorts.includes(`"${veth}"`);
        }
        out.push({ name, running: sb.State.Running, antiSpoof, published: published.includes(`${ip} . tcp . 80`) });
      }
      return out;
    };
    const started = Date.now();
    const rounds = 10;
    for (let round = 0; round < rounds; round++) {
      await underReloads('start', (cl, n) => cl.startSandbox(n));
      for (const e of await elements()) {
        if (!e.running) problems.push(`round ${round}: ${e.name} is not running`);
        if (!e.antiSpoof) problems.push(`round ${round}: ${e.name} runs without its anti-spoofing element`);
        if (!e.published) problems.push(`round ${round}: ${e.name} runs without its published element`);
      }
      await underReloads('stop', (cl, n) => cl.stopSandbox(n, 0));
      for (const e of await elements()) if (e.published) problems.push(`round ${round}: ${e.name} is stopped and keeps its published element`);
    }
    for (const cl of [...clients, ...reloadClients]) cl.close();
    console.log(`# ${names.length} sandboxes × ${rounds} rounds of concurrent starts, then stops, each under a loop of firewall reloads from 2 clients: ${reloads} reloads in ${Date.now() - started} ms, ${problems.length} problems`);
    assert.deepEqual(problems, []);
    assert.ok(reloads >= 2 * rounds * 2, `${reloads} reloads: the race was exercised`);
    for (const name of names) await c.removeSandbox(name, true);
    await c.removeNetwork('fw');
  });

  test('create/start racing network rm: never a 5xx, /containers/json always 200, no endpoint on a missing network', { timeout: 240_000 }, async () => {
    const c = d.client;
    const problems: string[] = [];
    let lists = 0;
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    const started = Date.now();
    for (let round = 0; round < 15; round++) {
      await c.createNetwork({ Name: 'race', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.232.0.0/24' }] } });
      const clients = Array.from({ length: 4 }, () => new SwitchyardClient({ host: `unix://${d.socket}` }));
      const ops: Promise<void>[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `r${round}-${i}`;
        ops.push((async () => {
          try {
            await clients[i]!.createSandbox({ Name: name, Cmd: SERVER_CMD, NetworkMode: 'race' });
            await clients[i]!.startSandbox(name);
            count('run ok');
          } catch (e) {
            count(`run ${e instanceof SwitchyardError ? e.code : 'error'}`);
            if (clean(e)) problems.push(`run ${name}: ${clean(e)}`);
          }
        })());
      }
      ops.push((async () => {
        await new Promise((r) => setTimeout(r, (round % 5) * 2)); // from before the creates to during the starts
        for (let k = 0; k < 3; k++) {
          await clients[3]!.removeNetwork('race').then(
            () => count('rm ok'),
            (e) => {
              count(`rm ${e instanceof SwitchyardError ? e.code : 'error'}`);
              if (clean(e)) problems.push(`network rm: ${clean(e)}`);
            },
          );
          await new Promise((r) => setTimeout(r, k * 2));
        }
      })());
      ops.push((async () => {
        for (let k = 0; k < 5; k++) {
          const r = await get(d.socket, '/containers/json?all=1');
          lists++;
          if (r.status !== 200) problems.push(`GET /containers/json → ${r.status}: ${r.text}`);
        }
      })());
      await Promise.all(ops);
      for (const cl of clients) cl.close();
      // Every endpoint a sandbox shows is on a network that exists.
      const nets = new Set((await c.listNetworks()).map((n) => n.Name));
      for (const s of await c.listSandboxes(true)) {
        const sb = await c.inspectSandbox(s.Id);
        for (const net of Object.keys(sb.NetworkSettings.Networks)) if (!nets.has(net)) problems.push(`${sb.Name} has an endpoint on missing network ${net}`);
      }
      const list = await get(d.socket, '/containers/json?all=1');
      if (list.status !== 200) problems.push(`after round ${round}: GET /containers/json → ${list.status}`);
      for (const s of await c.listSandboxes(true)) await c.removeSandbox(s.Id, true);
      await c.removeNetwork('race').catch(() => {});
    }
    console.log(`# 15 rounds of 3 create+start vs 3 network rm: ${lists} concurrent lists, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, in ${Date.now() - started} ms`);
    assert.deepEqual(problems, []);
  });
});
