/**
 * netavark's setup and teardown over the engine (docs/frontends/netavark.md). Runs in the
 * daemon, behind POST /netavark/{setup,teardown} (api/routes-netavark.ts), so the exec'd
 * `libexec/netavark` stays a small forwarder.
 *
 * - setup: each Podman network is made a Switchyard network on first use (podman-network.ts);
 *   the namespace is attached to each with Podman's addresses, MAC, interface name and the
 *   container's name and aliases (embedded DNS); port_mappings are published through
 *   Switchyard's ports. On failure everything this call did is undone.
 * - teardown: detaches (already gone = success); a Podman network left without endpoints is
 *   removed, as netavark removes its bridge on the "complete teardown".
 * Calls are taken one at a time: two first containers of one network must not both create it.
 */
import type { Engine } from '../../engine/contract.js';
import { conflict, SwitchyardError, asSwitchyardError } from '../../errors.js';
import { validateNetworkCreate } from '../../model/network-spec.js';
import type { AttachRequest, AttachResult } from '../../model/attachments.js';
import type { PortBinding } from '../../model/port-spec.js';
import { networkOptionsOf, type NetworkOptions, type PodmanNetwork } from './network-options.js';
import { createRequestOf, isPodmanNetwork } from './podman-network.js';
import { portBindingsOf } from './port-mappings.js';
import { statusBlockOf, type StatusBlock } from './status-block.js';

/** A port binding in the attach request's shape (CNI's portMappings: hostIP '' = default). */
const attachPortOf = (b: PortBinding) => ({
  hostPort: b.hostPort,
  containerPort: b.containerPort,
  protocol: b.proto,
  ...(b.hostIp ? { hostIP: b.hostIp } : {}),
});

export class NetavarkService {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly engine: Engine) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  setup(nsPath: string, raw: unknown): Promise<Record<string, StatusBlock>> {
    const opts = networkOptionsOf(raw);
    const bindings = portBindingsOf(opts.portMappings);
    return this.serial(() => this.doSetup(nsPath, opts, bindings));
  }

  teardown(nsPath: string, raw: unknown): Promise<void> {
    const opts = networkOptionsOf(raw);
    return this.serial(() => this.doTeardown(opts));
  }

  /** The Switchyard network of a Podman network, made when missing; true when made now. */
  private async ensureNetwork(n: PodmanNetwork): Promise<boolean> {
    const found = await this.find(n.name);
    if (found) {
      if (isPodmanNetwork(found.network.labels, n)) return false;
      if (!isPodmanNetwork(found.network.labels) || found.endpoints.length > 0) {
        throw conflict('NETAVARK_NAME_TAKEN', `network ${n.name} exists in Switchyard and is not Podman's network ${n.id.slice(0, 12)}`);
      }
      // Podman removed that network and made another of the same name: the old one goes.
      await this.engine.removeNetwork(found.network.id);
    }
    await this.engine.createNetwork(validateNetworkCreate(createRequestOf(n)));
    return true;
  }

  private async find(name: string) {
    try {
      const d = await this.engine.inspectNetwork(name);
      return d.network.name === name ? d : undefined;
    } catch (err) {
      if (err instanceof SwitchyardError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  /** Removes a Podman network of ours that has no endpoint left. */
  private async dropIfUnused(n: PodmanNetwork): Promise<void> {
    const found = await this.find(n.name);
    if (found && isPodmanNetwork(found.network.labels, n) && found.endpoints.length === 0) {
      await this.engine.removeNetwork(found.network.id);
    }
  }

  private async doSetup(nsPath: string, opts: NetworkOptions, bindings: PortBinding[]): Promise<Record<string, StatusBlock>> {
    const made: PodmanNetwork[] = [];
    const attached: AttachResult[] = [];
    const out: Record<string, StatusBlock> = {};
    try {
      for (const per of opts.networks) {
        const n = opts.info.get(per.network)!;
        if (await this.ensureNetwork(n)) made.push(n);
        const req = {
          sandbox: { id: opts.containerId, nsPath },
          network: n.name,
          ifname: per.ifname,
          ...(per.staticIps.length ? { addresses: per.staticIps } : {}),
          ...(per.staticMac ? { mac: per.staticMac } : {}),
          aliases: [opts.containerName, ...per.aliases],
          // For an engine whose attach publishes ports itself (AttachRequest.ports, CNI's
          // portMappings shape); one without that field ignores it (see publishAttachment below).
          ...(bindings.length ? { ports: bindings.map(attachPortOf) } : {}),
        };
        const r = await this.engine.attach(req as AttachRequest);
        attached.push(r);
        out[per.network] = statusBlockOf(opts, n, r);
      }
      // An engine with publishAttachment publishes the ports here (they replace what the
      // container had); one without it published them on attach (AttachRequest.ports).
      const publishAttachment = (this.engine as Partial<{ publishAttachment(id: string, p: PortBinding[]): Promise<unknown> }>).publishAttachment;
      if (bindings.length && publishAttachment) await publishAttachment.call(this.engine, opts.containerId, bindings);
      return out;
    } catch (err) {
      for (const r of attached.reverse()) {
        await this.engine.detach({ sandboxId: opts.containerId, network: r.networkId, ifname: r.ifname }).catch(() => undefined);
      }
      for (const n of made) await this.dropIfUnused(n).catch(() => undefined);
      throw err;
    }
  }

  private async doTeardown(opts: NetworkOptions): Promise<void> {
    const errors: SwitchyardError[] = [];
    for (const per of [...opts.networks].reverse()) {
      const n = opts.info.get(per.network)!;
      const found = await this.find(n.name);
      if (!found || !isPodmanNetwork(found.network.labels)) continue;
      try {
        const report = await this.engine.detach({ sandboxId: opts.containerId, network: found.network.id, ifname: per.ifname });
        errors.push(...report.errors);
        await this.dropIfUnused(n);
      } catch (err) {
        errors.push(asSwitchyardError(err));
      }
    }
    if (errors.length) {
      throw new SwitchyardError(errors[0]!.kind, errors[0]!.code, `teardown: ${errors.map((e) => e.message).join('; ')}`);
    }
  }
}
