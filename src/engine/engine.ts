/**
 * The engine: the operations users ask for, each under the locks of what it touches.
 * It implements the `Engine` contract the API serves; the operations themselves live
 * in network-ops, endpoint-ops and sandbox-ops.
 */
import type { EngineContext } from './context.js';
import type { AttachmentRef, AttachRequest, Engine, EngineInfo, EndpointSettings, NetworkDetails, NetworkSpec, SandboxDetails, SandboxSpec } from './contract.js';
import * as net from './network-ops.js';
import * as ep from './endpoint-ops.js';
import * as sbx from './sandbox-ops.js';
import * as att from './attachment-ops.js';
import { findSandbox } from './sandbox-lookup.js';
import { reloadFirewall } from './firewall-reload.js';
import { catchUpNetworks } from './cluster-catchup.js';
import * as os from 'node:os';
import * as path from 'node:path';

export class SwitchyardEngine implements Engine {
  readonly runtime = new sbx.SandboxRuntime();

  constructor(readonly ctx: EngineContext) {}

  createNetwork(spec: NetworkSpec) {
    return net.createNetwork(this.ctx, spec);
  }
  async listNetworks(filters?: string): Promise<NetworkDetails[]> {
    return net.listNetworks(this.ctx, filters);
  }
  async inspectNetwork(ref: string): Promise<NetworkDetails> {
    await catchUpNetworks(this.ctx, [ref]);
    return net.inspectNetwork(this.ctx, ref);
  }
  async removeNetwork(ref: string) {
    await catchUpNetworks(this.ctx, [ref]);
    return net.removeNetwork(this.ctx, ref);
  }
  pruneNetworks(filters?: string) {
    return net.pruneNetworks(this.ctx, filters);
  }
  async connect(networkRef: string, sandboxRef: string, settings: EndpointSettings) {
    await catchUpNetworks(this.ctx, [networkRef]);
    return ep.connect(this.ctx, networkRef, sandboxRef, settings ?? {});
  }
  async disconnect(networkRef: string, sandboxRef: string, force: boolean) {
    await catchUpNetworks(this.ctx, [networkRef]);
    return ep.disconnect(this.ctx, networkRef, sandboxRef, force);
  }

  async attach(req: AttachRequest) {
    await catchUpNetworks(this.ctx, [req.network]);
    return att.attach(this.ctx, req);
  }
  detach(ref: AttachmentRef) {
    return att.detach(this.ctx, ref);
  }
  checkAttachment(ref: AttachmentRef) {
    return att.check(this.ctx, ref);
  }
  gcAttachments(keep: { sandboxId: string; ifname: string }[], network?: string) {
    return att.gc(this.ctx, keep, network);
  }

  async createSandbox(spec: SandboxSpec) {
    const mode = spec.networkMode || 'bridge';
    const named = mode === 'host' || mode === 'none' || mode.startsWith('container:') ? [] : [mode];
    await catchUpNetworks(this.ctx, [...named, ...Object.keys(spec.endpoints)]);
    return sbx.createSandbox(this.ctx, spec);
  }
  startSandbox(ref: string) {
    return sbx.startSandbox(this.ctx, this.runtime, ref);
  }
  stopSandbox(ref: string, timeoutSeconds?: number) {
    return sbx.stopSandbox(this.ctx, this.runtime, ref, timeoutSeconds);
  }
  removeSandbox(ref: string, force: boolean) {
    return sbx.removeSandbox(this.ctx, this.runtime, ref, force);
  }
  renameSandbox(ref: string, newName: string) {
    return sbx.renameSandbox(this.ctx, ref, newName);
  }
  async listSandboxes(all: boolean): Promise<SandboxDetails[]> {
    return [...this.ctx.state.sandboxes.values()]
      .filter((s) => s.owner !== 'external' && (all || s.state.status === 'running'))
      .sort((a, b) => (a.created < b.created ? 1 : -1))
      .map((s) => sbx.sandboxDetails(this.ctx, s));
  }
  async inspectSandbox(ref: string): Promise<SandboxDetails> {
    return sbx.sandboxDetails(this.ctx, findSandbox(this.ctx, ref));
  }
  waitSandbox(ref: string, signal?: AbortSignal) {
    return sbx.waitSandbox(this.ctx, this.runtime, ref, signal);
  }
  async sandboxLogPath(ref: string): Promise<string> {
    return path.join(findSandbox(this.ctx, ref).dir, 'output.log');
  }

  /** Rebuilds the firewall from the committed records, under the engine-wide lock (firewall-reload.ts). */
  firewallReload() {
    return reloadFirewall(this.ctx);
  }

  async info(): Promise<EngineInfo> {
    const sandboxes = [...this.ctx.state.sandboxes.values()];
    return {
      id: this.ctx.config.hostId,
      name: this.ctx.config.hostName,
      networks: this.ctx.state.networks.size,
      sandboxes: sandboxes.length,
      running: sandboxes.filter((s) => s.state.status === 'running').length,
      dataRoot: this.ctx.config.dataRoot,
      execRoot: this.ctx.config.execRoot,
      firewall: this.ctx.config.firewall,
      kernelVersion: os.release(),
      warnings: [],
      networkDrivers: this.ctx.drivers.all().map((d) => d.name),
      ...(this.ctx.config.cluster
        ? { cluster: { store: this.ctx.config.cluster.store, advertise: this.ctx.config.cluster.advertise, nodeId: this.ctx.config.hostId, nodeName: this.ctx.config.cluster.nodeName } }
        : {}),
    };
  }
}
