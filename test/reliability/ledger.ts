/**
 * What the API acknowledged to one chaos client, and what it may or may not have done.
 *
 * Each client owns its networks and sandboxes (names c<i>-…), so the ledger of a client is
 * exact: only that client changes them, one request at a time. A request that got a 2xx
 * answer is `known`; a request cut by the kill got no answer, so its effect is `unknown`
 * until the next restart, when the observed state decides (it must then be wholly there or
 * wholly absent: the invariant checker proves the "wholly").
 */
import type { Observed } from './invariants.js';
import { nameOf } from './invariants.js';

export type SandboxState = 'created' | 'running' | 'exited';

export interface NetEntry {
  name: string;
  subnet: string;
  slot: number;
  /** false while a create or remove is in doubt. */
  known: boolean;
}

export interface SandboxEntry {
  name: string;
  state: SandboxState;
  /** Networks it is connected to (endpoints exist, running or not). */
  nets: Set<string>;
  /** The fixed host port it publishes (-p <port>:80), if any. */
  fixedPort?: number;
  ephemeral: boolean;
  known: boolean;
}

export class Ledger {
  readonly nets = new Map<string, NetEntry>();
  readonly sandboxes = new Map<string, SandboxEntry>();
  /** Names whose removal was acknowledged (and not created again since). */
  readonly goneNets = new Set<string>();
  readonly goneSandboxes = new Set<string>();

  /** After a restart: decides every unknown from what the daemon shows. */
  resolve(obs: Observed): void {
    const netsSeen = new Map(obs.networks.map((n) => [n.Name, n]));
    for (const [name, e] of [...this.nets]) {
      if (e.known) continue;
      if (netsSeen.has(name)) e.known = true;
      else {
        this.nets.delete(name);
        this.dropNet(name);
      }
    }
    const sbSeen = new Map(obs.sandboxes.map((s) => [nameOf(s), s]));
    for (const [name, e] of [...this.sandboxes]) {
      if (e.known) continue;
      const s = sbSeen.get(name);
      if (!s) {
        this.sandboxes.delete(name);
        continue;
      }
      e.state = s.State.Running ? 'running' : s.State.Status === 'created' ? 'created' : 'exited';
      e.nets = new Set(Object.keys(s.NetworkSettings.Networks ?? {}));
      e.known = true;
    }
  }

  /** A network went away (acknowledged removal): stopped sandboxes' endpoints on it went too. */
  dropNet(name: string): void {
    for (const s of this.sandboxes.values()) s.nets.delete(name);
  }

  /** Every acknowledged fact the observed state contradicts. */
  contradictions(obs: Observed, client: string): string[] {
    const out: string[] = [];
    const netsSeen = new Map(obs.networks.map((n) => [n.Name, n]));
    const sbSeen = new Map(obs.sandboxes.map((s) => [nameOf(s), s]));
    for (const e of this.nets.values()) {
      const n = netsSeen.get(e.name);
      if (!n) out.push(`${client}: acknowledged network ${e.name} is gone`);
      else if (n.IPAM.Config?.[0]?.Subnet !== e.subnet) out.push(`${client}: network ${e.name} has subnet ${n.IPAM.Config?.[0]?.Subnet}, not ${e.subnet}`);
    }
    for (const name of this.goneNets) if (netsSeen.has(name) && !this.nets.has(name)) out.push(`${client}: removed network ${name} is back`);
    for (const e of this.sandboxes.values()) {
      const s = sbSeen.get(e.name);
      if (!s) {
        out.push(`${client}: acknowledged sandbox ${e.name} is gone`);
        continue;
      }
      if (e.state === 'running' && !s.State.Running) out.push(`${client}: sandbox ${e.name} was started (acknowledged) but is ${s.State.Status}`);
      if (e.state !== 'running' && s.State.Running) out.push(`${client}: sandbox ${e.name} was ${e.state} (acknowledged) but is running`);
      const seen = new Set(Object.keys(s.NetworkSettings.Networks ?? {}));
      for (const n of e.nets) if (!seen.has(n)) out.push(`${client}: acknowledged connect of ${e.name} to ${n} is lost`);
      for (const n of seen) if (!e.nets.has(n)) out.push(`${client}: ${e.name} is on ${n}, which was disconnected or never connected (acknowledged)`);
      // Ports are published on the gateway endpoint: a sandbox on no network publishes nothing.
      if (e.state === 'running' && (e.fixedPort || e.ephemeral) && seen.size) {
        const bound = (s.NetworkSettings.Ports?.['80/tcp'] ?? []).map((b) => Number(b.HostPort));
        if (!bound.length) out.push(`${client}: running ${e.name} publishes nothing`);
        if (e.fixedPort && !bound.includes(e.fixedPort)) out.push(`${client}: running ${e.name} does not publish ${e.fixedPort} (has ${bound.join(',')})`);
      }
    }
    for (const name of this.goneSandboxes) if (sbSeen.has(name)) out.push(`${client}: removed sandbox ${name} is back`);
    return out;
  }
}
