/**
 * What the CNI front end needs from Switchyard, in its own terms: attach a caller-owned
 * network namespace to a network, detach it, check it, collect garbage, report readiness.
 * The dispatcher calls one of these; daemon-backend.ts implements it over the daemon's socket
 * and fake-backend.ts in memory for tests. Failures are SwitchyardErrors (their `kind` picks
 * the CNI code: see dispatch.ts).
 */

export interface SandboxRef {
  /** The runtime's container id (CNI_CONTAINERID). */
  id: string;
  /** The netns path (CNI_NETNS); empty on a DEL that was not given one. */
  nsPath: string;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface AttachRequest {
  sandbox: SandboxRef;
  network: string;
  ifname: string;
  mac?: string;
  /** Addresses asked for, with or without a prefix length ("10.1.0.5" or "10.1.0.5/24"). */
  addresses?: string[];
  /** Names under which the sandbox answers in the network's DNS. */
  aliases?: string[];
  ports?: PortMapping[];
}

export interface AttachedInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The netns path for an interface inside the sandbox; absent for a host-side one. */
  sandbox?: string;
}

export interface AttachedAddress {
  /** CIDR notation, e.g. "10.1.0.5/24". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface AttachedRoute {
  dst: string;
  gw?: string;
}

export interface AttachedDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** The daemon's answer to an attach: the shape of a CNI result without its version. */
export interface Attachment {
  interfaces: AttachedInterface[];
  ips: AttachedAddress[];
  routes: AttachedRoute[];
  dns: AttachedDns;
}

export interface DetachRequest {
  sandbox: SandboxRef;
  network: string;
  ifname: string;
}

export interface CheckRequest {
  sandbox: SandboxRef;
  network: string;
  ifname: string;
  /** What the runtime recorded at ADD (prevResult), for the daemon to compare. */
  expected: Attachment;
}

export interface AttachmentKey {
  containerId: string;
  ifname: string;
}

export interface GcRequest {
  network: string;
  /** Attachments to keep; every other attachment of `network` made through CNI goes. */
  keep: AttachmentKey[];
}

export interface CniBackend {
  attach(req: AttachRequest): Promise<Attachment>;
  /** Must succeed when the attachment (or its sandbox, or its network) is already gone. */
  detach(req: DetachRequest): Promise<void>;
  check(req: CheckRequest): Promise<void>;
  gc(req: GcRequest): Promise<void>;
  /** Resolves when `network` can take an ADD now. */
  status(network: string): Promise<void>;
}
