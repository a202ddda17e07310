/** The embedded DNS service (127.0.0.11 in every sandbox); see docs/DNS.md. */
export { DnsService, RESOLVER_IP, RESOLVER_PORT } from './service.js';
export type { DnsDirectory, DnsServiceOptions, LocalAddresses, UpstreamSet } from './types.js';
