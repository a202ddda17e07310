/**
 * The cluster's hosts (docs/CLUSTER.md): GET /nodes, GET /nodes/{id-or-name},
 * DELETE /nodes/{id-or-name}[?force=1]. Switchyard's own routes (docs/api/openapi.yaml),
 * served only with --cluster-store; without it these paths keep Docker's answer for a daemon
 * outside a swarm (routes-unserved.ts: 503 "This node is not a swarm manager…").
 */
import type { NodeRecord, NodeView } from '../engine/cluster-nodes.js';
import { boolQuery, empty, json, type RouteTable } from './http-context.js';

/** What the routes need of the cluster layer (engine/cluster-nodes.ts ClusterNodes). */
export interface NodesPort {
  list(): Promise<NodeView[]>;
  find(ref: string): Promise<NodeView>;
  remove(ref: string, force: boolean): Promise<{ node: NodeRecord; endpoints: number }>;
}

/** The JSON of one node: GET /nodes and GET /nodes/{id}. */
export interface NodeJson {
  ID: string;
  Name: string;
  Address: string;
  DataPathAddress: string;
  /** The IPv6 data-path address (a second --data-path-addr), when the node has one. */
  DataPathAddress6?: string;
  DataPathPort: number;
  Status: 'ready' | 'down';
  Self: boolean;
  Started: string;
}

export function nodeView(v: NodeView): NodeJson {
  return {
    ID: v.node.id,
    Name: v.node.name,
    Address: v.node.address,
    DataPathAddress: v.node.dataPathAddress,
    ...(v.node.dataPathAddress6 ? { DataPathAddress6: v.node.dataPathAddress6 } : {}),
    DataPathPort: v.node.dataPathPort,
    Status: v.status,
    Self: v.self,
    Started: v.node.started,
  };
}

export function addNodeRoutes(routes: RouteTable, nodes: NodesPort | undefined): void {
  if (!nodes) return;
  const port = (): NodesPort => nodes;
  routes.add('GET', '/nodes', {
    async handle() {
      return json(200, (await port().list()).map(nodeView));
    },
  });
  routes.add('GET', '/nodes/{id}', {
    async handle(ctx) {
      return json(200, nodeView(await port().find(ctx.params['id']!)));
    },
  });
  routes.add('DELETE', '/nodes/{id}', {
    async handle(ctx) {
      await port().remove(ctx.params['id']!, boolQuery(ctx.query, 'force'));
      return empty(204);
    },
  });
}
