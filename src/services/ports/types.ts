/**
 * The ports service's contract: what the engine asks of it (services/ports/service.ts
 * implements it). It lives with the service, as services/dns/types.ts does for DNS, so the
 * engine imports downward.
 */
import type { ExposedPort, PortRequest, PublishedPort } from '../../model/records.js';

/** Where a sandbox's ports are published: its gateway endpoint (Docker's rule). */
export interface PublishTarget {
  bridge: string;
  containerIPv4?: string;
  containerIPv6?: string;
  /** The network's host_binding_ipv4 option, else the daemon's --ip (default 0.0.0.0). */
  defaultHostIp: string;
}

export interface PublishRequest {
  sandboxId: string;
  requests: PortRequest[];
  publishAll: boolean;
  expose: ExposedPort[];
  target: PublishTarget;
  /**
   * false: the caller's runtime holds the host ports itself (Podman keeps them open in
   * conmon), so no socket is bound here; the ports are still booked against Switchyard's
   * own bindings. Default true.
   */
  holdSockets?: boolean;
}

/** The port-publishing service (services/ports), as the engine sees it. */
export interface PortsPort {
  /**
   * Reserves the host ports and installs the DNAT elements for a running sandbox; returns
   * the bindings made (ephemeral ports resolved). On any conflict it undoes what it did
   * and throws (conflict, naming the host address and port).
   */
  publish(req: PublishRequest): PublishedPort[];
  /** Releases the host ports and removes the elements (already gone = success). */
  unpublish(sandboxId: string, bindings: PublishedPort[]): void;
  /** Re-reserves and re-installs exactly these bindings (after a daemon restart or a firewall reload). */
  restore(req: PublishRequest, bindings: PublishedPort[]): void;
}
