/**
 * A small network lab for kernel integration tests: a "host" namespace with Linux bridges,
 * sandbox namespaces on veths, and socat probes. Shared by the firewall and port tests.
 * Addresses are `<v4>.<n>.<h>/24` and `<v6>:<n>::<h>/64` for bridge n, host h (1 = bridge).
 */
import type { FirewallNetwork } from '../../src/services/firewall/firewall.js';
import { inNs, makeNs, type TestNs } from './netns.js';

export interface LabPlan {
  /** First two IPv4 octets, e.g. '10.91'. */
  v4: string;
  /** IPv6 prefix head, e.g. 'fd91'. */
  v6: string;
}

export interface LabSandbox {
  ns: TestNs;
  v4: string;
  v6: string;
  /** Host-side veth name. */
  port: string;
}

export class Lab {
  /** Every namespace made, for the leak check at the end of the file. */
  readonly created: string[] = [];
  /** Namespaces of the running test, removed when it ends whatever happened. */
  readonly live: TestNs[] = [];

  constructor(private readonly plan: LabPlan) {}

  /**
   * A namespace whose new interfaces skip IPv6 duplicate address detection: while a
   * link-local address is tentative (~1 s), neighbour discovery through it stalls and a
   * connect can time out for reasons that have nothing to do with the code under test.
   */
  ns(tag: string): TestNs {
    const ns = makeNs(tag);
    this.created.push(ns.name);
    this.live.push(ns);
    inNs(ns.name, 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    return ns;
  }

  bridge(host: TestNs, name: string, n: number): FirewallNetwork {
    const { v4, v6 } = this.plan;
    ip(host, 'link', 'add', name, 'type', 'bridge');
    ip(host, 'addr', 'add', `${v4}.${n}.1/24`, 'dev', name);
    ip(host, 'addr', 'add', `${v6}:${n}::1/64`, 'dev', name, 'nodad');
    ip(host, 'link', 'set', name, 'up');
    return { bridge: name, subnets: [`${v4}.${n}.0/24`, `${v6}:${n}::/64`], icc: true, masquerade: true, internal: false };
  }

  /** A sandbox namespace on bridge n as host h, with default routes via the bridge. */
  sandbox(host: TestNs, tag: string, bridge: string, n: number, h: number, o: { hairpin?: boolean } = {}): LabSandbox {
    const { v4: p4, v6: p6 } = this.plan;
    const ns = this.ns(tag);
    const v4 = `${p4}.${n}.${h}`;
    const v6 = `${p6}:${n}::${h}`;
    // Not `syv…`: the anti-spoofing base drops frames of unregistered `syv…` ports (fail closed).
    const port = `syl${tag}`;
    ip(host, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
    ip(host, 'link', 'set', port, 'master', bridge, 'up');
    // What BridgeDriver.join does for every port: hairpin, so DNAT back to the sender works.
    if (o.hairpin) inNs(host.name, 'bridge', ['link', 'set', 'dev', port, 'hairpin', 'on']);
    ip(ns, 'addr', 'add', `${v4}/24`, 'dev', 'eth0');
    ip(ns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad');
    ip(ns, 'link', 'set', 'eth0', 'up');
    ip(ns, 'route', 'add', 'default', 'via', `${p4}.${n}.1`);
    ip(ns, '-6', 'route', 'add', 'default', 'via', `${p6}:${n}::1`);
    return { ns, v4, v6, port };
  }
}

export function ip(ns: TestNs, ...args: string[]): void {
  inNs(ns.name, 'ip', args);
}

/** TCP connect from `from` to addr:port; the peer address the server answered with, or null when unreachable. */
export function connect(from: TestNs, addr: string, port: number): string | null {
  const target = addr.includes(':') ? `TCP6:[${addr}]:${port}` : `TCP4:${addr}:${port}`;
  const r = inNs(from.name, 'socat', ['-u', `${target},connect-timeout=0.5`, 'STDOUT'], { allowFail: true, timeoutMs: 5000 });
  if (r.status !== 0 || !r.stdout.trim()) return null;
  return canonical(r.stdout.trim());
}

/** socat prints IPv6 peers fully expanded, and IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d. */
export function canonical(text: string): string {
  const addr = text.replace(/^\[|\]$/g, '');
  if (!addr.includes(':')) return addr;
  const groups = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(groups);
  if (!mapped) return groups;
  const n = (parseInt(mapped[1]!, 16) << 16) | parseInt(mapped[2]!, 16);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
