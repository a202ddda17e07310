/**
 * The shared (etcd) key layout of cluster mode, under the store's prefix `/switchyard/v1`
 * (docs/STORE.md "Cluster key layout"). Node keys are in cluster-nodes.ts (CLUSTER_KEY).
 */
import type { EndpointRecord } from '../model/records.js';
import { encodeEndpointRecord } from '../model/record-codec.js';

export const SHARED_KEY = {
  networks: '/networks/',
  network: (id: string) => `/networks/${id}`,
  /** Network names, local and global: create-only claim of a global network's name. */
  name: (name: string) => `/names/${name}`,
  /** Bumped by every attach/detach txn on the network: `network rm` compares its modRevision. */
  usage: (netId: string) => `/usage/${netId}`,
  endpoints: '/endpoints/',
  endpointsOf: (netId: string) => `/endpoints/${netId}/`,
  endpoint: (netId: string, epId: string) => `/endpoints/${netId}/${epId}`,
  ipam: '/ipam/',
  ipamOf: (netId: string) => `/ipam/${netId}/`,
  address: (netId: string, ip: string) => `/ipam/${netId}/${ip}`,
  /** A driver's cluster-wide unique names (overlay: `vni/<n>`). */
  claim: (driver: string, name: string) => `/claims/${driver}/${name}`,
  nodes: '/nodes/',
  /**
   * Each node's fence: every shared txn of the node compares its modRevision unchanged, and the
   * node moves it before settling a failed call's write, so that a write held by an etcd
   * member can no longer land afterwards (engine/pending-undo.ts).
   */
  fences: '/fences/',
  fence: (nodeId: string) => `/fences/${nodeId}`,
  /** A global network's shared secret (overlay `-o encrypted`: its key ring), apart from its record. */
  secrets: '/overlay-keys/',
  secret: (netId: string) => `/overlay-keys/${netId}`,
  /** Each host's progress with that secret (overlay: HostKeyReport): /overlay-key-reports/<network id>/<node id>. */
  secretReports: '/overlay-key-reports/',
  secretReportsOf: (netId: string) => `/overlay-key-reports/${netId}/`,
  secretReport: (netId: string, nodeId: string) => `/overlay-key-reports/${netId}/${nodeId}`,
};

/** What a shared endpoint carries besides the record, so every host can answer for it. */
export interface SharedEndpointExtra {
  /** The node (host id) running it. */
  node: string;
  /** Its sandbox's name (DNS, inspect -v Peers). */
  sandboxName: string;
}

export function encodeSharedEndpoint(ep: EndpointRecord, extra: SharedEndpointExtra): string {
  return JSON.stringify({ ...(JSON.parse(encodeEndpointRecord(ep)) as object), node: extra.node, sandboxName: extra.sandboxName });
}

/** Splits a shared endpoint value into the record's JSON (for the codec) and the extras. */
export function splitSharedEndpoint(value: unknown): { record: unknown; extra: SharedEndpointExtra } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { node, sandboxName, ...record } = value as Record<string, unknown>;
  if (typeof node !== 'string' || typeof sandboxName !== 'string') return undefined;
  return { record, extra: { node, sandboxName } };
}
