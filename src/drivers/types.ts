/**
 * The driver contract lives in drivers/contract.ts, re-exported here for older imports.
 * A driver never knows about the firewall's internals: it is handed the slice of the
 * firewall contract it uses (services/firewall/contract.ts) to declare what its networks need.
 */
export type * from './contract.js';
