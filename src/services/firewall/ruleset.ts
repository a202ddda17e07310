/**
 * The text of Switchyard's two nftables tables, rendered from records. Pure: no I/O.
 * One module per concern (docs/FIREWALL.md "Code layout"):
 * - ruleset/names.ts: table, set, map and chain names;
 * - ruleset/network.ts: `table inet switchyard`'s base and the per-network objects;
 * - ruleset/ports.ts: published ports (DNAT and published elements);
 * - ruleset/antispoof.ts: `table bridge switchyard`, per-endpoint anti-spoofing;
 * - ruleset/port-guard.ts: `table netdev switchyard`, the same check on a port's own egress;
 * - ruleset/elements.ts: validation, element text and chain shapes they share.
 */
export * from './ruleset/names.js';
export * from './ruleset/network.js';
export * from './ruleset/ports.js';
export * from './ruleset/antispoof.js';
export * from './ruleset/port-guard.js';
export { elementText, splitSubnets, validateBridge } from './ruleset/elements.js';
