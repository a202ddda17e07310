/**
 * The cluster flags of `switchyard daemon` (Docker 1.9–20.10's names; docs/CLUSTER.md):
 * `--cluster-store etcd://A:P[,A:P…]` (`etcds://` = TLS), `--cluster-store-opt
 * kv.cacertfile=F,kv.certfile=F,kv.keyfile=F`, `--cluster-advertise ADDR[:PORT]`,
 * `--data-path-addr ADDR` (given once per family for routed IPv6 across hosts),
 * `--data-path-port N`, `--node-name NAME`. Pure parsing: every error names its flag.
 */
import { isIP } from 'node:net';
import { invalid } from '../errors.js';

export interface ClusterFlags {
  /** etcd client URLs (http:// or https://), one per member. */
  endpoints: string[];
  /** The store text as given (info's ClusterStore). */
  store: string;
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  /** --cluster-advertise: the address (and optional port) other hosts reach this one at. */
  advertise: string;
  /** The bare address of --cluster-advertise. */
  advertiseAddress: string;
  /**
   * --data-path-addr (default: the advertise address); given twice (one IPv4, one IPv6):
   * the IPv4 one, which the overlay's VXLAN uses as before.
   */
  dataPathAddress: string;
  /**
   * The IPv6 data-path address when --data-path-addr was given once per family: the next
   * hop of this host's IPv6 blocks of routed networks (docs/drivers/routed.md).
   */
  dataPathAddress6?: string;
  /** --data-path-port: the VXLAN UDP port (default 4789). */
  dataPathPort: number;
  /** --node-name (default: the hostname). */
  nodeName: string;
  /** --overlay-key-rotation: lifetime of an encrypted overlay's key (default 12 h). */
  keyRotationMs: number;
}

export interface ClusterFlagValues {
  'cluster-store'?: string;
  'cluster-store-opt'?: string[];
  'cluster-advertise'?: string;
  /** Once, or once per family (IPv4 and IPv6). */
  'data-path-addr'?: string | string[];
  'data-path-port'?: string;
  'node-name'?: string;
  'overlay-key-rotation'?: string;
}

export const DEFAULT_KEY_ROTATION_MS = 12 * 3600_000;

/** `90s`, `30m`, `12h`, `500ms` (at least 1 s, so a rotation can finish before the next). */
export function parseKeyRotation(text: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)$/.exec(text);
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'] : NaN;
  if (!(ms >= 1000)) throw invalid('INVALID_FLAG', `invalid --overlay-key-rotation ${JSON.stringify(text)}: want a duration of at least 1s, e.g. 12h, 30m, 90s`, '--overlay-key-rotation');
  return ms;
}

export const DEFAULT_DATA_PATH_PORT = 4789;

/** Node names: what a hostname may be (RFC 1123 labels, dots), 1–63 characters. */
const NODE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

function hostPort(text: string, flag: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    throw invalid('INVALID_FLAG', `invalid ${flag} member ${JSON.stringify(text)}: want HOST:PORT with a port 1-65535`, flag);
  }
  return `${m[1]}:${port}`;
}

function parseStore(text: string): { endpoints: string[]; https: boolean } {
  const m = /^(etcds?):\/\/(.+)$/.exec(text);
  if (!m) throw invalid('INVALID_FLAG', `invalid --cluster-store ${JSON.stringify(text)}: want etcd://HOST:PORT[,HOST:PORT…] (etcds:// for TLS); only etcd is supported`, '--cluster-store');
  const https = m[1] === 'etcds';
  const members = m[2]!.split(',').map((s) => s.trim());
  if (members.some((s) => s === '')) throw invalid('INVALID_FLAG', `invalid --cluster-store ${JSON.stringify(text)}: an empty member`, '--cluster-store');
  return { https, endpoints: members.map((s) => `${https ? 'https' : 'http'}://${hostPort(s, '--cluster-store')}`) };
}

function parseStoreOpts(opts: string[]): ClusterFlags['tls'] | undefined {
  const files: Record<string, string> = {};
  for (const item of opts.flatMap((o) => o.split(','))) {
    const t = item.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    const key = eq < 0 ? t : t.slice(0, eq);
    const value = eq < 0 ? '' : t.slice(eq + 1);
    if (!['kv.cacertfile', 'kv.certfile', 'kv.keyfile'].includes(key)) {
      throw invalid('INVALID_FLAG', `unknown --cluster-store-opt ${JSON.stringify(key)}: want kv.cacertfile, kv.certfile or kv.keyfile`, '--cluster-store-opt');
    }
    if (!value) throw invalid('INVALID_FLAG', `--cluster-store-opt ${key} needs a file: ${key}=FILE`, '--cluster-store-opt');
    files[key] = value;
  }
  if (!Object.keys(files).length) return undefined;
  if (!files['kv.cacertfile']) throw invalid('INVALID_FLAG', '--cluster-store-opt: kv.certfile/kv.keyfile need kv.cacertfile=FILE too', '--cluster-store-opt');
  if (!files['kv.certfile'] !== !files['kv.keyfile']) throw invalid('INVALID_FLAG', '--cluster-store-opt: kv.certfile and kv.keyfile go together', '--cluster-store-opt');
  return { caFile: files['kv.cacertfile'], ...(files['kv.certfile'] ? { certFile: files['kv.certfile'], keyFile: files['kv.keyfile']! } : {}) };
}

function parseAdvertise(text: string): string {
  const bracket = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  const m = bracket ?? plain ?? (isIP(text) === 6 ? [text, text] : null);
  const port = m?.[2] === undefined ? 1 : Number(m[2]);
  if (!m || !isIP(m[1]!) || port < 1 || port > 65535) {
    throw invalid('INVALID_FLAG', `invalid --cluster-advertise ${JSON.stringify(text)}: want an IP address, optionally with :PORT (IPv6 in brackets with a port)`, '--cluster-advertise');
  }
  return m[1]!;
}

/**
 * `--data-path-addr`, none (the advertise address), one, or one per family: two of one
 * family are refused. With both, the IPv4 one stays `dataPathAddress` (the overlay's VXLAN
 * endpoint, the BGP router id) and the IPv6 one is `dataPathAddress6`.
 */
export function parseDataPathAddrs(given: string | string[] | undefined, advertiseAddress: string): { dataPathAddress: string; dataPathAddress6?: string } {
  const list = given === undefined ? [] : Array.isArray(given) ? given : [given];
  if (!list.length) return { dataPathAddress: advertiseAddress };
  const flag = '--data-path-addr';
  for (const a of list) if (!isIP(a)) throw invalid('INVALID_FLAG', `invalid ${flag} ${JSON.stringify(a)}: want an IP address`, flag);
  if (list.length > 2) throw invalid('INVALID_FLAG', `${flag} is given ${list.length} times: give it at most once per family (one IPv4, one IPv6 address)`, flag);
  if (list.length === 1) return { dataPathAddress: list[0]! };
  const v4 = list.find((a) => isIP(a) === 4);
  const v6 = list.find((a) => isIP(a) === 6);
  if (!v4 || !v6) throw invalid('INVALID_FLAG', `${flag} is given twice for IPv${v4 ? 4 : 6} (${list.join(', ')}): give one IPv4 and one IPv6 address`, flag);
  return { dataPathAddress: v4, dataPathAddress6: v6 };
}

/**
 * Undefined without --cluster-store (single host, exactly as before); the other cluster
 * flags are then refused, so a typo never silently runs a host outside its cluster.
 */
export function parseClusterFlags(values: ClusterFlagValues, hostname: string): ClusterFlags | undefined {
  const store = values['cluster-store'];
  if (store === undefined) {
    for (const f of ['cluster-store-opt', 'cluster-advertise', 'data-path-addr', 'data-path-port', 'overlay-key-rotation'] as const) {
      if (values[f] !== undefined) throw invalid('INVALID_FLAG', `--${f} needs --cluster-store`, `--${f}`);
    }
    return undefined;
  }
  const { endpoints, https } = parseStore(store);
  const tls = parseStoreOpts(values['cluster-store-opt'] ?? []);
  if (tls && !https) throw invalid('INVALID_FLAG', '--cluster-store-opt kv.* files need an etcds:// --cluster-store', '--cluster-store-opt');
  const advertise = values['cluster-advertise'];
  if (advertise === undefined) throw invalid('INVALID_FLAG', '--cluster-store needs --cluster-advertise ADDR: the address other hosts reach this one at', '--cluster-advertise');
  const advertiseAddress = parseAdvertise(advertise);
  const { dataPathAddress, dataPathAddress6 } = parseDataPathAddrs(values['data-path-addr'], advertiseAddress);
  const portText = values['data-path-port'];
  const dataPathPort = portText === undefined ? DEFAULT_DATA_PATH_PORT : Number(portText);
  if (!/^\d{1,5}$/.test(portText ?? '4789') || dataPathPort < 1024 || dataPathPort > 49151) {
    throw invalid('INVALID_FLAG', `invalid --data-path-port ${JSON.stringify(portText)}: want a UDP port 1024-49151`, '--data-path-port');
  }
  const nodeName = values['node-name'] ?? hostname;
  if (!NODE_NAME.test(nodeName)) throw invalid('INVALID_FLAG', `invalid --node-name ${JSON.stringify(nodeName)}: want 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit`, '--node-name');
  return {
    endpoints,
    store,
    ...(tls ? { tls } : {}),
    advertise,
    advertiseAddress,
    dataPathAddress,
    ...(dataPathAddress6 ? { dataPathAddress6 } : {}),
    dataPathPort,
    nodeName,
    keyRotationMs: values['overlay-key-rotation'] === undefined ? DEFAULT_KEY_ROTATION_MS : parseKeyRotation(values['overlay-key-rotation']),
  };
}
