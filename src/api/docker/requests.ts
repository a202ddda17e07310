/**
 * The Docker front end's parsers: Docker wire JSON (api/docker/types.ts) into the engine's
 * domain types (engine/contract.ts). The routes call these after their field type checks
 * and before the engine, so the engine never reads a wire shape.
 */
import type { EndpointSettings, SandboxSpec } from '../../engine/contract.js';
import { parseExposeSpec, parsePortSpec } from '../../model/port-spec.js';
import { invalid } from '../../errors.js';
import { requestedEcho, validateEndpointSettings, validateInterfaceMac } from '../../model/endpoint-settings.js';
import type { SandboxCreateRequest } from './types.js';

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

/**
 * Docker's EndpointSettings: checked field by field (model/endpoint-settings.ts: a 400 naming
 * the field), then static addresses, aliases, links and MAC for the engine, and the echo of
 * what the client sent (`requested`: Docker shows null as null, [] as []). `gwPriority`:
 * false below API 1.48, where Docker ignores GwPriority.
 */
export function endpointSettingsOf(req: unknown, field = 'EndpointConfig', options: { gwPriority?: boolean } = {}): EndpointSettings {
  const s = validateEndpointSettings(req, field);
  if (options.gwPriority === false) delete s.GwPriority;
  const ipv4 = s.IPAMConfig?.IPv4Address || undefined;
  const ipv6 = s.IPAMConfig?.IPv6Address || undefined;
  return {
    aliases: s.Aliases ?? [],
    links: s.Links ?? [],
    ...(ipv4 ? { ipv4 } : {}),
    ...(ipv6 ? { ipv6 } : {}),
    ...(s.MacAddress ? { mac: s.MacAddress } : {}),
    requested: requestedEcho(s),
  };
}

/** POST /sandboxes/create: the port and expose specs are parsed here, so the error names the spec. */
export function sandboxSpecOf(req: SandboxCreateRequest): SandboxSpec {
  if (!req || typeof req !== 'object') throw invalid('INVALID_BODY', 'request body must be a JSON object');
  const networkMode = req.NetworkMode ?? '';
  if (typeof networkMode !== 'string') throw invalid('INVALID_FIELD', 'NetworkMode must be a string', 'NetworkMode');
  const endpoints: Record<string, EndpointSettings> = {};
  for (const [ref, settings] of Object.entries(req.EndpointsConfig ?? {})) endpoints[ref] = endpointSettingsOf(settings, `EndpointsConfig.${ref}`);
  const hc = req.HostConfig ?? {};
  if (typeof hc !== 'object' || Array.isArray(hc)) throw invalid('BAD_FIELD', 'HostConfig must be an object', 'HostConfig');
  const name = optionalString(req.Name, 'Name');
  const hostname = optionalString(req.Hostname, 'Hostname');
  const macText = optionalString(req.MacAddress, 'MacAddress');
  const mac = macText ? validateInterfaceMac(macText, 'MacAddress') : undefined;
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
    // The privileges (docs/SECURITY.md); the engine normalizes the names and refuses unknown ones.
    ...(hc.CapAdd ? { capAdd: strings(hc.CapAdd, 'HostConfig.CapAdd') } : {}),
    ...(hc.CapDrop ? { capDrop: strings(hc.CapDrop, 'HostConfig.CapDrop') } : {}),
    ...(hc.Privileged ? { privileged: true } : {}),
    ...(typeof hc.PidMode === 'string' && hc.PidMode !== '' ? { pidMode: hc.PidMode } : {}),
  };
}
