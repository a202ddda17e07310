/**
 * The contract between the embedded DNS service and the engine. The engine owns the
 * records (which sandbox is on which network under which names); the DNS service owns
 * the sockets and the wire. Every answer is computed from the directory on each query,
 * so a removed sandbox stops resolving at the next query (no cache, as Docker:
 * docs/notes/kernel-facts.md#docker-embedded-dns-names, moby#24800).
 */

/** Addresses known locally for one name, split by family. */
export interface LocalAddresses {
  v4: string[];
  v6: string[];
}

/** Where a sandbox's forwarded queries go. */
export interface UpstreamSet {
  /** Upstream servers in order, as `ip`, `ip:port`, `ipv6` or `[ipv6]:port`. Only the first 3 are used. */
  servers: string[];
  /** Dial them from the sandbox's namespace (explicit --dns) rather than the daemon's (host resolv.conf). */
  fromSandboxNs: boolean;
  /**
   * The sandbox's resolv.conf carries an ndots option set by the user (Docker §3.4): a
   * single-label A/AAAA name not known locally then gets an empty NOERROR instead of a
   * forward, so the stub resolver goes on with the search domains. Optional; default false.
   */
  userNdots?: boolean;
}

export interface DnsDirectory {
  /**
   * Local A/AAAA answer for `name` as seen from sandbox `sandboxId`: the addresses of every
   * sandbox sharing a user-defined network with it whose DNS names (container name, hostname,
   * network aliases, 12-char short id; case-insensitive; `<name>.<network>` also matches)
   * equal `name`. `name` comes lower-cased and without the trailing dot (the service
   * folds case once, so the directory can key a Map by lower-cased names).
   * Returns null when the name is not known locally at all (then the query is forwarded),
   * or the addresses when it is known (one family may be empty: the other family then gets
   * an empty NOERROR, never a forward or a timeout).
   */
  lookup(sandboxId: string, name: string): LocalAddresses | null;
  /** PTR: `ip` is canonical text (dotted quad, or RFC 5952 lower-case compressed IPv6). Returns the first DNS name (`<name>.<network>`) of the sandbox owning `ip` on a network shared with the asker, or null (→ forward). */
  reverse(sandboxId: string, ip: string): string | null;
  /** Upstream servers for this sandbox: its --dns, else the daemon's --dns, else the host's resolv.conf nameservers. */
  upstreams(sandboxId: string): UpstreamSet;
}

export interface DnsServiceOptions {
  directory: DnsDirectory;
  /** Total budget for one forwarded query across all upstreams; SERVFAIL after it. Default 1800 ms. */
  upstreamTimeoutMs?: number;
  /** Forwards in flight across all sandboxes; beyond it, REFUSED at once. Default 1024 (Docker's limit). */
  maxForwardsInFlight?: number;
  /** Forwards in flight for any one sandbox; beyond it, that sandbox gets REFUSED at once. Default 64. */
  maxForwardsPerSandbox?: number;
  /** TTL of local answers, in seconds. Default 5 (see docs/DNS.md "TTL"). */
  localTtlSeconds?: number;
  /**
   * A DNS-over-TCP client connection is closed when no answer has reached it for this long
   * (its own sending does not count). Default 10 000 ms.
   */
  tcpIdleTimeoutMs?: number;
  /** DNS-over-TCP connections per sandbox; a new one beyond is closed at once. Default 16. */
  maxTcpClientsPerSandbox?: number;
  /** DNS-over-TCP connections across all sandboxes. Default 512. */
  maxTcpClients?: number;
  /** DNS-over-TCP queries answered per second for one sandbox (all its connections); beyond, reading pauses. Default 4000. */
  tcpQueriesPerSecond?: number;
  log?: (msg: string) => void;
}
