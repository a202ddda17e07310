/**
 * The network configuration a runtime passes on stdin, parsed and checked. Our own keys are
 * `network` (the Switchyard network, required), `host` (the daemon's socket) and `aliases`;
 * capability arguments arrive in `runtimeConfig` (portMappings, ips, mac, aliases).
 */
import { CNI_CODE, CniError } from './cni-error.js';
import type { Attachment, AttachmentKey, PortMapping } from './backend.js';
import { requireSupported } from './versions.js';

export interface NetworkConfig {
  cniVersion: string;
  name: string;
  type: string;
  network: string;
  host?: string;
  aliases: string[];
  runtime: {
    portMappings: PortMapping[];
    ips: string[];
    mac?: string;
    aliases: string[];
  };
  prevResult?: Attachment;
  /** GC only: `cni.dev/valid-attachments`. */
  validAttachments?: AttachmentKey[];
}

/** Keys we refuse rather than silently ignore: Switchyard allocates addresses itself. */
const UNSUPPORTED = ['ipam'];

const bad = (field: string, why: string) => new CniError(CNI_CODE.invalidNetworkConfig, `invalid network configuration: ${field} ${why}`, field);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s === '')) throw bad(field, 'must be a list of non-empty strings');
  return v as string[];
}

/**
 * The `aliases` capability: a list (CONVENTIONS.md), or Podman's CNI backend's map from the
 * network configuration's name to its list (what the dnsname plugin reads).
 */
function runtimeAliases(v: unknown, networkName: string): string[] {
  if (isObject(v) && !Array.isArray(v)) return stringList(v[networkName], `runtimeConfig.aliases.${networkName}`);
  return stringList(v, 'runtimeConfig.aliases');
}

function portMappings(v: unknown): PortMapping[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad('runtimeConfig.portMappings', 'must be a list');
  return v.map((m, i) => {
    const f = `runtimeConfig.portMappings[${i}]`;
    if (!isObject(m)) throw bad(f, 'must be an object');
    const port = (k: string) => {
      const p = m[k];
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw bad(`${f}.${k}`, 'must be a port number 1-65535');
      return p;
    };
    const protocol = m['protocol'] === undefined ? 'tcp' : String(m['protocol']).toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw bad(`${f}.protocol`, 'must be tcp, udp or sctp');
    const out: PortMapping = { hostPort: port('hostPort'), containerPort: port('containerPort'), protocol };
    if (m['hostIP'] !== undefined && m['hostIP'] !== '') {
      if (typeof m['hostIP'] !== 'string') throw bad(`${f}.hostIP`, 'must be a string');
      out.hostIP = m['hostIP'];
    }
    return out;
  });
}

/** A previous result as the runtime hands it back (any 0.4.0+ result shape). */
export function parseResult(v: unknown, field: string): Attachment {
  if (!isObject(v)) throw bad(field, 'must be an object');
  const list = (k: string) => {
    const x = v[k];
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x) || x.some((e) => !isObject(e))) throw bad(`${field}.${k}`, 'must be a list of objects');
    return x as Record<string, unknown>[];
  };
  const dns = v['dns'];
  return {
    interfaces: list('interfaces').map((i) => ({ ...i, name: String(i['name'] ?? '') })),
    ips: list('ips').map((i) => {
      if (typeof i['address'] !== 'string') throw bad(`${field}.ips`, 'entries need an "address"');
      const { version: _v, ...rest } = i;
      return rest as unknown as Attachment['ips'][number];
    }),
    routes: list('routes') as unknown as Attachment['routes'],
    dns: isObject(dns) ? (dns as Attachment['dns']) : {},
  };
}

function validAttachments(v: unknown): AttachmentKey[] | undefined {
  if (v === undefined) return undefined;
  const f = 'cni.dev/valid-attachments';
  if (!Array.isArray(v)) throw bad(f, 'must be a list');
  return v.map((a, i) => {
    if (!isObject(a) || typeof a['containerID'] !== 'string' || typeof a['ifname'] !== 'string') {
      throw bad(`${f}[${i}]`, 'must be {"containerID": string, "ifname": string}');
    }
    return { containerId: a['containerID'], ifname: a['ifname'] };
  });
}

/** Decodes stdin (code 6 when it is not JSON) and checks it (code 7, or 2 for a refused key). */
export function parseNetworkConfig(stdin: string): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_CODE.decode, 'failed to decode the network configuration', (err as Error).message);
  }
  if (!isObject(raw)) throw new CniError(CNI_CODE.decode, 'failed to decode the network configuration', 'expected a JSON object');
  const str = (k: string, required: boolean): string | undefined => {
    const v = raw[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '') throw bad(k, required && v === undefined ? 'is missing' : 'must be a non-empty string');
    return v;
  };
  const cniVersion = str('cniVersion', true)!;
  requireSupported(cniVersion);
  const name = str('name', true)!;
  const type = str('type', true)!;
  for (const k of UNSUPPORTED) {
    if (raw[k] !== undefined) {
      throw new CniError(CNI_CODE.unsupportedField, `unsupported field in network configuration: ${k}`, `${k}=${JSON.stringify(raw[k])}: Switchyard networks allocate their own addresses; set them with runtimeConfig.ips`);
    }
  }
  const rc = raw['runtimeConfig'];
  if (rc !== undefined && !isObject(rc)) throw bad('runtimeConfig', 'must be an object');
  const rt = (rc ?? {}) as Record<string, unknown>;
  if (rt['mac'] !== undefined && (typeof rt['mac'] !== 'string' || !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(rt['mac']))) {
    throw bad('runtimeConfig.mac', 'must be a MAC address like 02:42:ac:11:00:02');
  }
  const conf: NetworkConfig = {
    cniVersion,
    name,
    type,
    network: str('network', true)!,
    aliases: stringList(raw['aliases'], 'aliases'),
    runtime: {
      portMappings: portMappings(rt['portMappings']),
      ips: stringList(rt['ips'], 'runtimeConfig.ips'),
      aliases: runtimeAliases(rt['aliases'], name),
    },
  };
  const host = str('host', false);
  if (host !== undefined) conf.host = host;
  if (typeof rt['mac'] === 'string') conf.runtime.mac = rt['mac'].toLowerCase();
  if (raw['prevResult'] !== undefined && raw['prevResult'] !== null) conf.prevResult = parseResult(raw['prevResult'], 'prevResult');
  const va = validAttachments(raw['cni.dev/valid-attachments']);
  if (va) conf.validAttachments = va;
  return conf;
}

/** Just the version, for VERSION and for error bodies when the rest does not parse. */
export function peekVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as Record<string, unknown>)['cniVersion'];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
