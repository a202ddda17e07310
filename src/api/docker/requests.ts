/**
 * The Docker front end's parsers: Docker wire JSON (api/docker/types.ts) into the engine's
 * domain types (engine/contract.ts). The routes call these after their field type checks
 * and before the engine, so the engine never reads a wire shape.
 */
import type { EndpointSettings, SandboxSpec } from '../../engine/contract.js';
import { parseExposeSpec, parsePortSpec } from '../../model/port-spec.js';
import { invalid } from '../../errors.js';
import type { EndpointSettingsRequest, SandboxCreateRequest } from './types.js';

function strings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid('INVALID_FIELD', `${field} must be an array of strings`, field);
  return v as string[];
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid('INVALID_FIELD', `${field} must be a string`, field);
  return v;
}

/** Docker's EndpointSettings: static addresses, aliases, links and MAC (the rest is not used). */
export function endpointSettingsOf(req: EndpointSettingsRequest | null | undefined, field = 'EndpointConfig'): EndpointSettings {
  if (req === undefined || req === null) return {};
  const ipam = req.IPAMConfig ?? {};
  if (typeof ipam !== 'object' || Array.isArray(ipam)) throw invalid('INVALID_FIELD', `${field}.IPAMConfig must be an object`, `${field}.IPAMConfig`);
  const ipv4 = optionalString(ipam.IPv4Address, 'IPAMConfig.IPv4Address');
  const ipv6 = optionalString(ipam.IPv6Address, 'IPAMConfig.IPv6Address');
  const mac = optionalString(req.MacAddress, 'MacAddress');
  return {
    aliases: strings(req.Aliases, `${field}.Aliases`),
    links: strings(req.Links, `${field}.Links`),
    ...(ipv4 ? { ipv4 } : {}),
    ...(ipv6 ? { ipv6 } : {}),
    ...(mac ? { mac } : {}),
  };
}

/** POST /sandboxes/create: the port and expose specs are parsed here, so the error names the spec. */
export function sandboxSpecOf(req: SandboxCreateRequest): SandboxSpec {
  if (!req || typeof req !== 'object') throw invalid('INVALID_BODY', 'request body must be a JSON object');
  const networkMode = req.NetworkMode ?? '';
  if (typeof networkMode !== 'string') throw invalid('INVALID_FIELD', 'NetworkMode must be a string', 'NetworkMode');
  const endpoints: Record<string, EndpointSettings> = {};
  for (const [ref, settings] of Object.entries(req.EndpointsConfig ?? {})) endpoints[ref] = endpointSettingsOf(settings, `EndpointsConfig.${ref}`);
  const name = optionalString(req.Name, 'Name');
  const hostname = optionalString(req.Hostname, 'Hostname');
  const mac = optionalString(req.MacAddress, 'MacAddress');
  return {
    ...(name ? { name } : {}),
    ...(hostname ? { hostname } : {}),
    command: strings(req.Cmd, 'Cmd'),
    env: strings(req.Env, 'Env'),
    networkMode,
    endpoints,
    ...(mac ? { mac } : {}),
    publish: strings(req.PortSpecs, 'PortSpecs').flatMap((spec, i) => parsePortSpec(spec, `PortSpecs[${i}]`)),
    publishAll: !!req.PublishAll,
    expose: strings(req.Expose, 'Expose').flatMap((spec, i) => parseExposeSpec(spec, `Expose[${i}]`)),
    dns: { servers: strings(req.Dns, 'Dns'), search: strings(req.DnsSearch, 'DnsSearch'), options: strings(req.DnsOptions, 'DnsOptions') },
    links: strings(req.Links, 'Links'),
    autoRemove: !!req.AutoRemove,
  };
}
