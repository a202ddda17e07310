/**
 * The attachment operations' types: endpoints in network namespaces a caller owns. The
 * engine implements `Attachments` (engine/attachment-ops.ts) and so does the typed client
 * (api/client.ts), so a front end such as a CNI plugin runs in process or as a thin client
 * of the daemon without change. Plain types, no logic.
 */
import type { SwitchyardError } from '../errors.js';

/** One endpoint in a network namespace the caller owns (CNI ADD, netavark setup, remote-driver Join). */
export interface AttachRequest {
  /** The caller's id for the namespace's owner (e.g. CNI_CONTAINERID) and the namespace's path. */
  sandbox: { id: string; nsPath: string };
  /** Network reference (name, id or unique id prefix). */
  network: string;
  /** Interface name inside the namespace (CNI_IFNAME). */
  ifname: string;
  mac?: string;
  /** Addresses chosen by the caller (CIDR or bare), at most one per family. */
  addresses?: string[];
  aliases?: string[];
  /** Create the host side and leave the sandbox end for the caller to move (needs capabilities.handsOverLinks). */
  handOver?: boolean;
  /**
   * Host ports to publish to this sandbox (CNI's portMappings), through the daemon's own
   * ports service as `run -p` does; unpublished when the endpoint they point at goes.
   */
  ports?: AttachPort[];
}

export interface AttachPort {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** A host address to bind; absent or '' = the network's default. */
  hostIP?: string;
}

export interface AttachmentRef {
  sandboxId: string;
  network: string;
  ifname: string;
}

export interface AttachResult {
  sandboxId: string;
  networkId: string;
  network: string;
  ifname: string;
  mac: string;
  /** CIDR form. */
  addresses: string[];
  gateways: string[];
  /** The host-side link, when the driver makes one. */
  hostLink?: string;
  /**
   * The resolver to write into the namespace's resolv.conf (by the caller: Switchyard writes
   * no files there): the embedded DNS at 127.0.0.11, present when the sandbox has an
   * endpoint on a user-defined network.
   */
  dns?: AttachedResolver;
}

export interface AttachedResolver {
  nameservers: string[];
  search?: string[];
  options?: string[];
}

/** What a teardown could not do, as coded errors (empty = everything went). */
export interface TeardownReport {
  errors: SwitchyardError[];
}

export interface Attachments {
  /** Idempotent per (sandbox id, network, ifname): a repeat returns the same result. */
  attach(req: AttachRequest): Promise<AttachResult>;
  /** Already gone = success; repeatable. */
  detach(ref: AttachmentRef): Promise<TeardownReport>;
  checkAttachment(ref: AttachmentRef): Promise<AttachResult>;
  /** Removes every external attachment not listed. */
  /** Detaches every external attachment not in `keep`; with `network`, only those on that network. */
  gcAttachments(keep: { sandboxId: string; ifname: string }[], network?: string): Promise<TeardownReport>;
}
