/**
 * The engine's view of the host (the namespace the daemon runs in), built on the
 * kernel layer.
 */
import { FORWARDING_SYSCTL } from './forwarding-marker.js';
import * as fs from 'node:fs';
import type { HostPorts } from '../engine/context.js';
import type { Rtnl } from '../kernel/netlink/index.js';
import { deleteNetns, ensureNetns, isNetnsMount } from '../kernel/netns.js';
import { readSysctl, writeSysctl } from '../kernel/sysctl.js';
import { parseResolvConf } from '../model/etc-files.js';

export interface HostPortsOptions {
  rtnl: Rtnl;
  openRtnl: (nsPath: string) => Rtnl;
  ipForward: boolean;
  /**
   * Forwarding of `family` was off and the daemon turned it on: the firewall then stops
   * the host from forwarding what is not Switchyard's (docs/FIREWALL.md "Forwarding").
   */
  onForwardingEnabled?: (family: 4 | 6) => void;
  log: (msg: string) => void;
}

export function makeHostPorts(o: HostPortsOptions): HostPorts {
  const forwarding = new Set<4 | 6>();
  // Read again only when the file changes (one stat per connect instead of a read).
  const hostResolv = {
    mtime: -1,
    text: '',
    read(): string {
      let mtime = 0;
      try {
        mtime = fs.statSync('/etc/resolv.conf').mtimeMs;
      } catch {
        /* no file: empty */
      }
      if (mtime !== this.mtime) {
        this.text = readOr('/etc/resolv.conf', '');
        this.mtime = mtime;
      }
      return this.text;
    },
  };
  const readOr = (file: string, dflt: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return dflt;
    }
  };
  return {
    reservedPrefixes() {
      // Docker skips pools overlapping the host's on-link routes and nameservers
      // (libnetwork/netutils InferReservedNetworks).
      const out: string[] = [];
      for (const family of [4, 6] as const) {
        for (const r of o.rtnl.listRoutes(family)) {
          if (r.dst !== 'default' && !r.gateway) out.push(r.dst);
        }
      }
      for (const ns of parseResolvConf(readOr('/etc/resolv.conf', '')).nameservers) {
        out.push(ns.includes(':') ? `${ns}/128` : `${ns}/32`);
      }
      return out;
    },
    ensureSandboxNetns(nsPath) {
      ensureNetns(nsPath);
      const rt = o.openRtnl(nsPath);
      try {
        rt.setLink('lo', { up: true });
      } finally {
        rt.close();
      }
    },
    ensureLoopbackUp(nsPath) {
      const rt = o.openRtnl(nsPath);
      try {
        rt.setLink('lo', { up: true });
      } finally {
        rt.close();
      }
    },
    deleteSandboxNetns(nsPath) {
      deleteNetns(nsPath);
    },
    sandboxNetnsPresent(nsPath) {
      return isNetnsMount(nsPath);
    },
    hostResolvConf: () => hostResolv.read(),
    hostEtcHosts: () => readOr('/etc/hosts', '127.0.0.1\tlocalhost\n'),
    ensureForwarding(family) {
      if (!o.ipForward || forwarding.has(family)) return;
      const key = FORWARDING_SYSCTL[family];
      // Already on: the host forwards by its admin's choice, and it stays their router.
      // Off: Switchyard turns it on for its bridges only (Docker: FORWARD policy DROP).
      if (readSysctl(key) !== '1') {
        writeSysctl(key, '1');
        o.onForwardingEnabled?.(family);
        o.log(`turned on IPv${family} forwarding; traffic that no Switchyard bridge sends or receives is not forwarded`);
      }
      forwarding.add(family);
    },
  };
}
