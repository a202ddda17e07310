/**
 * The engine's records: held in memory for reads (a connect must not wait on a
 * disk read), written through to the store in one transaction per operation.
 *
 * Store schema (docs/STORE.md "Schema (engine)"):
 *   /networks/<id>          NetworkRecord
 *   /sandboxes/<id>         SandboxRecord
 *   /endpoints/<id>         EndpointRecord
 *   /ipam/<netid>/<ip>      the endpoint id holding that address
 * An address is claimed with a create-only compare (createRevision = 0) in the same
 * transaction that writes the endpoint, so it can never be handed out twice, not
 * even by two daemons sharing an etcd.
 */
import type { Store, Op, Compare } from '../store/contract.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/records.js';
import {
  decodeEndpointRecord, decodeNetworkRecord, decodeSandboxRecord, encodeEndpointRecord, encodeNetworkRecord, encodeSandboxRecord,
} from '../model/record-codec.js';
import { asSwitchyardError, conflict, invalid, type SwitchyardError } from '../errors.js';
import { parseIp } from '../model/ip.js';

export const KEY = {
  networks: '/networks/',
  sandboxes: '/sandboxes/',
  endpoints: '/endpoints/',
  ipam: '/ipam/',
  network: (id: string) => `/networks/${id}`,
  sandbox: (id: string) => `/sandboxes/${id}`,
  endpoint: (id: string) => `/endpoints/${id}`,
  address: (netId: string, ip: string) => `/ipam/${netId}/${ip}`,
};

export interface AddressClaim {
  networkId: string;
  ip: string; // bare address
  owner: string; // endpoint id
}

export interface Change {
  networks?: NetworkRecord[];
  sandboxes?: SandboxRecord[];
  endpoints?: EndpointRecord[];
  claims?: AddressClaim[];
  removeNetworks?: string[];
  removeSandboxes?: string[];
  removeEndpoints?: string[];
  releases?: { networkId: string; ip: string }[];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid('INVALID_RECORD', 'invalid record: not JSON');
  }
}

const bare = (cidr: string): string => cidr.split('/')[0]!;

/** The bare addresses an endpoint holds. */
export function endpointAddresses(ep: EndpointRecord): string[] {
  const out: string[] = [];
  if (ep.ipv4) out.push(bare(ep.ipv4));
  if (ep.ipv6) out.push(bare(ep.ipv6));
  return out;
}

/** A stored record that load() did not trust, with the reason. */
export interface RefusedRecord {
  key: string;
  error: SwitchyardError;
}

export class EngineState {
  readonly networks = new Map<string, NetworkRecord>();
  readonly sandboxes = new Map<string, SandboxRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  private readonly byNetwork = new Map<string, Set<string>>();
  private readonly bySandbox = new Map<string, Set<string>>();
  private gen = 0;
  /** Ids of the records load() refused: reconcile leaves what they name alone. */
  refusedIds: ReadonlySet<string> = new Set();
  /** Next-fit cursors of the allocator: `<netId>/<family>` → last address handed out. */
  readonly cursors = new Map<string, bigint>();
  /** networkId → bare address → endpoint id. */
  private readonly used = new Map<string, Map<string, string>>();
  /** networkId → numeric addresses held, the allocator's input. */
  private readonly usedNumbers = new Map<string, Set<bigint>>();

  constructor(private readonly store: Store) {}

  /**
   * Reads every record through its codec (model/record-codec.ts). A record that does not
   * decode (malformed, a newer schema version, written by hand or by another host) is not
   * trusted: it is left out of memory, left untouched in the store for an operator, and
   * reported in `refused`. Legacy records are upgraded in memory (written as v1 at their
   * next change).
   */
  async load(): Promise<{ strayClaims: string[]; refused: RefusedRecord[] }> {
    const refused: RefusedRecord[] = [];
    const each = async <T>(prefix: string, decode: (v: unknown) => T, keep: (r: T, key: string) => void): Promise<void> => {
      for (const kv of await this.store.range(prefix)) {
        let rec: T;
        try {
          const r = decode(parseJson(kv.value));
          if ((r as { id: string }).id !== kv.key.slice(prefix.length)) throw invalid('INVALID_RECORD', 'invalid record: its id does not match its key', 'id');
          rec = r;
        } catch (err) {
          refused.push({ key: kv.key, error: asSwitchyardError(err) });
          continue;
        }
        keep(rec, kv.key);
      }
    };
    await each(KEY.networks, decodeNetworkRecord, (n) => this.setNetwork(n));
    await each(KEY.sandboxes, decodeSandboxRecord, (s) => this.sandboxes.set(s.id, s));
    await each(KEY.endpoints, decodeEndpointRecord, (e) => {
      // An endpoint of a network or sandbox that was refused (or is missing) cannot be served.
      if (!this.networks.has(e.networkId) || !this.sandboxes.has(e.sandboxId)) {
        refused.push({ key: KEY.endpoint(e.id), error: invalid('INVALID_RECORD', `endpoint ${e.id.slice(0, 12)} belongs to a network or sandbox that is not loaded`) });
        return;
      }
      this.setEndpoint(e);
    });
    // Claims without a live endpoint can only come from a bug or a hand edit: report them.
    // (A claim held by a refused endpoint is kept: the address is not handed out again.)
    const refusedIds = new Set(refused.map((r) => r.key.slice(r.key.lastIndexOf('/') + 1)));
    const stray: string[] = [];
    for (const kv of await this.store.range(KEY.ipam)) {
      const [netId, ip] = kv.key.slice(KEY.ipam.length).split('/') as [string, string];
      if (refusedIds.has(kv.value)) {
        this.claim(netId, ip, kv.value);
        continue;
      }
      if (this.used.get(netId)?.get(ip) !== kv.value) stray.push(kv.key);
    }
    this.refusedIds = refusedIds;
    return { strayClaims: stray, refused };
  }

  /** Deletes store keys directly (reconcile's clean-up of stray claims). */
  async deleteKeys(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await this.store.txn({ compare: [], success: keys.map((key) => ({ type: 'delete', key }) as Op) });
  }

  /** Writes a change atomically, then applies it to memory. Address claims are create-only. */
  async commit(change: Change): Promise<void> {
    const compare: Compare[] = [];
    const ops: Op[] = [];
    for (const n of change.networks ?? []) ops.push({ type: 'put', key: KEY.network(n.id), value: encodeNetworkRecord(n) });
    for (const s of change.sandboxes ?? []) ops.push({ type: 'put', key: KEY.sandbox(s.id), value: encodeSandboxRecord(s) });
    for (const e of change.endpoints ?? []) ops.push({ type: 'put', key: KEY.endpoint(e.id), value: encodeEndpointRecord(e) });
    for (const c of change.claims ?? []) {
      const key = KEY.address(c.networkId, c.ip);
      compare.push({ key, target: 'createRevision', op: '=', value: 0 });
      ops.push({ type: 'put', key, value: c.owner });
    }
    for (const id of change.removeNetworks ?? []) ops.push({ type: 'delete', key: KEY.network(id) });
    for (const id of change.removeSandboxes ?? []) ops.push({ type: 'delete', key: KEY.sandbox(id) });
    for (const id of change.removeEndpoints ?? []) ops.push({ type: 'delete', key: KEY.endpoint(id) });
    for (const r of change.releases ?? []) ops.push({ type: 'delete', key: KEY.address(r.networkId, r.ip) });
    if (!ops.length) return;
    const res = await this.store.txn({ compare, success: ops });
    if (!res.succeeded) {
      const ips = (change.claims ?? []).map((c) => c.ip).join(', ');
      throw conflict('ADDRESS_IN_USE', `address already in use: ${ips}`);
    }
    this.apply(change);
  }

  private apply(change: Change): void {
    this.gen++;
    for (const r of change.releases ?? []) this.release(r.networkId, r.ip);
    for (const id of change.removeEndpoints ?? []) this.unsetEndpoint(id);
    for (const id of change.removeSandboxes ?? []) {
      this.sandboxes.delete(id);
      this.bySandbox.delete(id);
    }
    for (const id of change.removeNetworks ?? []) {
      this.networks.delete(id);
      this.byNetwork.delete(id);
      this.used.delete(id);
      this.usedNumbers.delete(id);
    }
    for (const n of change.networks ?? []) this.setNetwork(n);
    for (const s of change.sandboxes ?? []) this.sandboxes.set(s.id, s);
    for (const e of change.endpoints ?? []) this.setEndpoint(e);
    for (const c of change.claims ?? []) this.claim(c.networkId, c.ip, c.owner);
  }

  private setNetwork(n: NetworkRecord): void {
    this.networks.set(n.id, n);
    if (!this.byNetwork.has(n.id)) this.byNetwork.set(n.id, new Set());
  }

  private setEndpoint(e: EndpointRecord): void {
    const old = this.endpoints.get(e.id);
    if (old) this.unsetEndpoint(e.id);
    this.endpoints.set(e.id, e);
    if (!this.byNetwork.has(e.networkId)) this.byNetwork.set(e.networkId, new Set());
    this.byNetwork.get(e.networkId)!.add(e.id);
    if (!this.bySandbox.has(e.sandboxId)) this.bySandbox.set(e.sandboxId, new Set());
    this.bySandbox.get(e.sandboxId)!.add(e.id);
    for (const ip of endpointAddresses(e)) this.claim(e.networkId, ip, e.id);
  }

  private unsetEndpoint(id: string): void {
    const e = this.endpoints.get(id);
    if (!e) return;
    this.endpoints.delete(id);
    this.byNetwork.get(e.networkId)?.delete(id);
    this.bySandbox.get(e.sandboxId)?.delete(id);
    for (const ip of endpointAddresses(e)) this.release(e.networkId, ip, id);
  }

  private usedOf(netId: string): Map<string, string> {
    let m = this.used.get(netId);
    if (!m) this.used.set(netId, (m = new Map()));
    return m;
  }

  private claim(netId: string, ip: string, owner: string): void {
    this.usedOf(netId).set(ip, owner);
    this.usedValues(netId).add(parseIp(ip).value);
  }

  private release(netId: string, ip: string, owner?: string): void {
    const m = this.used.get(netId);
    if (!m || (owner && m.get(ip) !== owner)) return;
    m.delete(ip);
    this.usedNumbers.get(netId)?.delete(parseIp(ip).value);
  }

  /** The addresses held on a network, as numbers (the allocator's input). */
  usedValues(netId: string): Set<bigint> {
    let s = this.usedNumbers.get(netId);
    if (!s) this.usedNumbers.set(netId, (s = new Set()));
    return s;
  }

  /** Bumped on every change; caches derived from the records compare against it. */
  get generation(): number {
    return this.gen;
  }

  usedAddresses(netId: string): ReadonlyMap<string, string> {
    return this.usedOf(netId);
  }

  endpointsOfNetwork(netId: string): EndpointRecord[] {
    return [...(this.byNetwork.get(netId) ?? [])].map((id) => this.endpoints.get(id)!);
  }

  endpointsOfSandbox(sbId: string): EndpointRecord[] {
    return [...(this.bySandbox.get(sbId) ?? [])].map((id) => this.endpoints.get(id)!).sort((a, b) => a.order - b.order);
  }

  networkByName(name: string): NetworkRecord | undefined {
    for (const n of this.networks.values()) if (n.name === name) return n;
    return undefined;
  }

  sandboxByName(name: string): SandboxRecord | undefined {
    for (const s of this.sandboxes.values()) if (s.name === name) return s;
    return undefined;
  }
}
