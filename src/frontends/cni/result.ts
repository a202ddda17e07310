/** CNI results (types 0.4.0, 1.0.0, 1.1.0) built from an attachment, and chained onto a prevResult. */
import type { Attachment } from './backend.js';

/**
 * Our attachment appended to what earlier plugins returned: their interfaces keep their
 * indexes, ours come after (and our ips' `interface` indexes shift with them).
 */
export function chain(prev: Attachment | undefined, ours: Attachment): Attachment {
  if (!prev) return ours;
  const offset = prev.interfaces.length;
  return {
    interfaces: [...prev.interfaces, ...ours.interfaces],
    ips: [...prev.ips, ...ours.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset }))],
    routes: [...prev.routes, ...ours.routes],
    dns: Object.keys(ours.dns).length ? ours.dns : prev.dns,
  };
}

/** The result object for `cniVersion`; 0.4.0 results carry each address's IP version. */
export function versionedResult(cniVersion: string, a: Attachment): Record<string, unknown> {
  const ips = a.ips.map((ip) => {
    const out: Record<string, unknown> = {};
    if (cniVersion === '0.4.0') out['version'] = ip.address.includes(':') ? '6' : '4';
    Object.assign(out, ip);
    return out;
  });
  const result: Record<string, unknown> = { cniVersion, interfaces: a.interfaces, ips };
  if (a.routes.length) result['routes'] = a.routes;
  result['dns'] = a.dns;
  return result;
}
