/**
 * A sandbox's /etc/hosts, /etc/hostname and /etc/resolv.conf. The files live in the
 * sandbox's directory and are bind-mounted over /etc inside its mount namespace, so
 * they are rewritten IN PLACE (same inode) whenever its networks change: a rename
 * would leave the sandbox looking at the old file.
 */
import * as path from 'node:path';
import type { EngineContext } from './context.js';
import type { SandboxRecord } from './types.js';
import { internalOnly } from './dns-directory.js';
import { linkRecords, parseResolvConf, renderHostname, renderHosts, renderResolvConf, type LinkTarget } from '../model/etc-files.js';

const bare = (cidr: string): string => cidr.split('/')[0]!;

/** Sandboxes on at least one user-defined network resolve through the embedded DNS (Docker's rule). */
export function usesEmbeddedDns(ctx: EngineContext, sb: SandboxRecord): boolean {
  return ctx.state.endpointsOfSandbox(sb.id).some((e) => {
    const n = ctx.state.networks.get(e.networkId);
    return !!n && !n.predefined;
  });
}

function linkTargets(ctx: EngineContext, sb: SandboxRecord): LinkTarget[] {
  const out: LinkTarget[] = [];
  for (const link of sb.links) {
    const target = ctx.state.sandboxByName(link.name);
    if (!target || target.state.status !== 'running') continue;
    const ep = ctx.state.endpointsOfSandbox(target.id)[0];
    out.push({
      alias: link.alias,
      name: target.name,
      hostname: target.hostname,
      ...(ep?.ipv4 ? { ipv4: bare(ep.ipv4) } : {}),
      ...(ep?.ipv6 ? { ipv6: bare(ep.ipv6) } : {}),
    });
  }
  return out;
}

/**
 * Overwrites a file's content keeping its inode (the bind mount points at the inode), unless
 * it already holds that text (ctx.filesWritten remembers what each file was last written with).
 */
function writeInPlace(ctx: EngineContext, file: string, text: string): void {
  if (ctx.filesWritten.get(file) === text) return;
  ctx.files.writeInPlace(file, text);
  ctx.filesWritten.set(file, text);
}

/** Forgets a removed sandbox's files. */
export function forgetSandboxFiles(ctx: EngineContext, sb: SandboxRecord): void {
  for (const f of ['hosts', 'hostname', 'resolv.conf']) ctx.filesWritten.delete(path.join(sb.dir, f));
}

export function writeSandboxFiles(ctx: EngineContext, sb: SandboxRecord): void {
  if (sb.owner === 'external') return; // a namespace the caller owns: no files of ours
  ctx.files.ensureDir(sb.dir); // 0700: root only (docs/SECURITY.md)
  const hostsFile = path.join(sb.dir, 'hosts');
  const resolvFile = path.join(sb.dir, 'resolv.conf');
  writeInPlace(ctx, path.join(sb.dir, 'hostname'), renderHostname(sb.hostname));
  if (sb.networkMode === 'host') {
    writeInPlace(ctx, hostsFile, ctx.host.hostEtcHosts());
    writeInPlace(ctx, resolvFile, ctx.host.hostResolvConf());
    return;
  }
  if (sb.networkMode.startsWith('container:')) {
    const target = ctx.state.sandboxes.get(sb.networkMode.slice('container:'.length));
    if (target) {
      for (const f of ['hosts', 'resolv.conf']) writeInPlace(ctx, path.join(sb.dir, f), ctx.files.read(path.join(target.dir, f)) ?? '');
      ctx.upstreams.set(sb.id, ctx.upstreams.get(target.id) ?? { servers: [], fromSandboxNs: false });
    }
    return;
  }
  const endpoints = ctx.state.endpointsOfSandbox(sb.id);
  const ipv6 = endpoints.some((e) => e.ipv6);
  const selfIps = endpoints.flatMap((e) => [e.ipv4, e.ipv6].filter((a): a is string => !!a).map(bare));
  writeInPlace(ctx, hostsFile, renderHosts({ ipv6, extraHosts: linkRecords(linkTargets(ctx, sb)), selfIps, hostname: sb.hostname }));
  const embedded = usesEmbeddedDns(ctx, sb);
  const servers = sb.dns.servers.length ? sb.dns.servers : ctx.config.dns;
  const resolv = renderResolvConf({
    mode: embedded ? 'internal' : 'legacy',
    host: parseResolvConf(ctx.host.hostResolvConf()),
    hostPath: '/etc/resolv.conf',
    dns: servers,
    dnsSearch: sb.dns.search,
    dnsOptions: sb.dns.options,
    ipv6,
    internalOnly: internalOnly(ctx, sb.id),
  });
  writeInPlace(ctx, resolvFile, resolv.text);
  ctx.upstreams.set(sb.id, {
    servers: resolv.upstreams.map((u) => u.address),
    fromSandboxNs: resolv.upstreams.some((u) => !u.fromHost),
    userNdots: userSetNdots(sb.dns.options),
  });
}

/**
 * `--dns-option ndots:N` with N > 0 (moby sandbox_dns_unix.go, `ndotsSet`): the embedded
 * DNS then answers an unknown single-label name with an empty NOERROR so the stub
 * resolver goes on with its search domains instead of stopping at an upstream NXDOMAIN.
 */
function userSetNdots(options: readonly string[]): boolean {
  return options.some((o) => /^ndots:[0-9]+$/.test(o) && Number(o.slice('ndots:'.length)) > 0);
}
