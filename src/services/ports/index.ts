/** The port-publishing service (docs/PORTS.md). */
export { PortsService, type PortsServiceOptions, type PortsFirewall } from './service.js';
export { planPorts, joinHostPort, type PlannedPort, type AddressBinding, type HostPortChoice } from './plan.js';
