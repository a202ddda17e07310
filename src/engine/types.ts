/**
 * Re-exports for older imports: the records live in model/records.ts, the engine's
 * contract in engine/contract.ts, Docker's wire types in api/docker/types.ts.
 */
export type {
  EndpointRecord, ExposedPort, NetworkRecord, PoolRecord, PortRequest, PublishedPort, RequestedEndpointSettings, SandboxRecord, SandboxState, SandboxStatus,
} from '../model/records.js';
export type * from './contract.js';
