/**
 * Upstream server addresses as the directory gives them: `ip`, `ip:port`, `ipv6`,
 * `[ipv6]:port`. Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Upstream {
  ip: string;
  port: number;
  family: 4 | 6;
}

/** Docker uses at most 3 upstreams (docs/notes/kernel-facts.md#docker-resolvconf-and-upstreams), as glibc's MAXNS. */
export const MAX_UPSTREAMS = 3;

/** The usable upstreams, in order, at most MAX_UPSTREAMS; entries that are not addresses are skipped (and reported). */
export function parseUpstreams(servers: readonly string[], onInvalid?: (text: string) => void): Upstream[] {
  const out: Upstream[] = [];
  for (const text of servers) {
    const u = parseUpstream(text);
    if (u) out.push(u);
    else onInvalid?.(text);
    if (out.length === MAX_UPSTREAMS) break;
  }
  return out;
}

export function parseUpstream(text: string): Upstream | null {
  const t = text.trim();
  if (isIPv4(t)) return { ip: t, port: 53, family: 4 };
  if (isIPv6(t)) return { ip: t, port: 53, family: 6 };
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(t);
  if (bracketed && isIPv6(bracketed[1]!)) return withPort(bracketed[1]!, bracketed[2]!, 6);
  const v4port = /^([0-9.]+):(\d{1,5})$/.exec(t);
  if (v4port && isIPv4(v4port[1]!)) return withPort(v4port[1]!, v4port[2]!, 4);
  return null;
}

function withPort(ip: string, portText: string, family: 4 | 6): Upstream | null {
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { ip, port, family } : null;
}
