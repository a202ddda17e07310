/**
 * The driver conformance suite (hono's common.case pattern): every network driver runs it,
 * written against drivers/contract.ts only. A fixture gives the driver, where it acts (a
 * throwaway host namespace for kernel drivers) and how to see the links it made. A case a
 * driver cannot meet is skipped with a reason, never silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostLink, NetworkDriver, SandboxNs } from '../../src/drivers/contract.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';

export interface DriverFixture {
  driver: NetworkDriver;
  /** A network record whose state the driver planned (planNetwork). */
  network: NetworkRecord;
  /** The n-th endpoint on it (planEndpoint applied). */
  endpoint(n: number): EndpointRecord;
  /** A fresh sandbox namespace. */
  sandbox(): SandboxNs;
  /** Runs a synchronous driver call where the driver acts (e.g. inside the host namespace). */
  inHost<T>(fn: () => T): T;
  /** The links in the host namespace now. */
  hostLinks(): HostLink[];
  /** Leaves a join half made (as a crash between its steps would): the endpoint exists in part. */
  halfJoin(ep: EndpointRecord, sb: SandboxNs): void;
  /** Lets background work (batched deletions) finish. */
  settle(): Promise<void>;
  cleanup(): Promise<void>;
}

export type ConformanceCase = 'ensure twice' | 'join, leave, join' | 'half-made join' | 'delete when gone' | 'owned links';

export function driverConformance(label: string, make: () => Promise<DriverFixture>, skip: Partial<Record<ConformanceCase, string>> = {}): void {
  const run = (name: ConformanceCase, body: (f: DriverFixture) => Promise<void> | void): void => {
    const reason = skip[name];
    test(`${label}: ${name}`, reason ? { skip: reason } : {}, async () => {
      const f = await make();
      try {
        await body(f);
      } finally {
        await f.cleanup();
      }
    });
  };
  const names = (links: HostLink[]) => links.map((l) => l.name).sort();

  run('ensure twice', (f) => {
    f.inHost(() => f.driver.ensureNetwork(f.network));
    const once = names(f.hostLinks());
    f.inHost(() => f.driver.ensureNetwork(f.network));
    assert.deepEqual(names(f.hostLinks()), once, 'a second ensure changes nothing');
  });

  run('join, leave, join', async (f) => {
    const sb = f.sandbox();
    const ep = f.endpoint(1);
    f.inHost(() => f.driver.ensureNetwork(f.network));
    f.inHost(() => f.driver.join(f.network, ep, sb, { gateway: true }));
    assert.ok(f.inHost(() => f.driver.endpointPresent(f.network, ep, sb)), 'present after join');
    await f.inHost(() => f.driver.leave(f.network, ep, sb));
    await f.settle();
    assert.ok(!f.inHost(() => f.driver.endpointPresent(f.network, ep)), 'gone after leave');
    f.inHost(() => f.driver.join(f.network, ep, sb, { gateway: true }));
    assert.ok(f.inHost(() => f.driver.endpointPresent(f.network, ep, sb)), 'present after joining again');
  });

  run('half-made join', (f) => {
    const sb = f.sandbox();
    const ep = f.endpoint(2);
    f.inHost(() => f.driver.ensureNetwork(f.network));
    f.inHost(() => f.halfJoin(ep, sb));
    assert.ok(!f.inHost(() => f.driver.endpointPresent(f.network, ep, sb)), 'a half-made join is not present');
    f.inHost(() => f.driver.join(f.network, ep, sb, { gateway: false }));
    assert.ok(f.inHost(() => f.driver.endpointPresent(f.network, ep, sb)), 'joining again completes it');
  });

  run('delete when gone', async (f) => {
    f.inHost(() => f.driver.ensureNetwork(f.network));
    await f.inHost(() => f.driver.deleteNetwork(f.network));
    await f.settle();
    await f.inHost(() => f.driver.deleteNetwork(f.network));
    await f.settle();
  });

  run('owned links', async (f) => {
    const before = new Set(names(f.hostLinks()));
    f.inHost(() => f.driver.ensureNetwork(f.network));
    f.inHost(() => f.driver.join(f.network, f.endpoint(3), f.sandbox(), { gateway: true }));
    const made = f.hostLinks().filter((l) => !before.has(l.name));
    assert.ok(made.length > 0, 'the driver made host links');
    for (const l of made) assert.ok(f.driver.ownsLink(l), `ownsLink recognises ${l.name} (alias ${l.alias ?? 'none'})`);
    for (const l of made) assert.ok(l.alias?.startsWith('switchyard:'), `${l.name} carries a switchyard: alias`);
    for (const name of ['sy-uplink', 'syv0123456789', 'eth0']) assert.ok(!f.driver.ownsLink({ name }), `an unmarked ${name} is not the driver's`);
  });
}
