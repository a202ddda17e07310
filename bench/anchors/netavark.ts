/**
 * netavark 1.4 invoked directly the way podman 4.3 calls it (../shared/anchors/31-netavark-bench.sh):
 *   netavark --config DIR --rootless=false --aardvark-binary=PATH setup|teardown NETNS  < options.json
 * inside a "host" netns of its own; each sandbox is a netns made with `ip netns add`. Podman
 * does the IPAM and passes static_ips, so the caller gives each sandbox an index → address.
 */
import * as fs from 'node:fs';
import { makeNs, removeNs, type TestNs } from '../../test/helpers/netns.js';
import { runIn } from '../host-tools.js';

export const NETAVARK = '/usr/lib/podman/netavark';
export const AARDVARK = '/usr/lib/podman/aardvark-dns';

export function netavarkInstalled(): boolean {
  return fs.existsSync(NETAVARK) && fs.existsSync(AARDVARK);
}

export interface NetavarkNetwork {
  name: string;
  bridge: string;
  /** first two octets of a /16 (e.g. "10.91") */
  prefix: string;
  dns: boolean;
}

export class NetavarkAnchor {
  readonly config: string;
  private constructor(readonly host: TestNs) {
    this.config = fs.mkdtempSync('/run/swy-bench-netavark-');
  }

  static start(): NetavarkAnchor {
    return new NetavarkAnchor(makeNs('nvk'));
  }

  version(): string {
    return runIn(this.host.path, NETAVARK, ['version']).stdout.match(/"version":\s*"([^"]+)"/)?.[1] ?? '?';
  }

  addressOf(net: NetavarkNetwork, index: number): string {
    return `${net.prefix}.${Math.floor((index + 2) / 250)}.${((index + 2) % 250) + 2}`;
  }

  gateway(net: NetavarkNetwork): string {
    return `${net.prefix}.0.1`;
  }

  private options(net: NetavarkNetwork, index: number, ports: Array<[number, number]>): string {
    return JSON.stringify({
      container_id: String(index).padStart(64, '0'),
      container_name: `c${index}`,
      port_mappings: ports.map(([h, c]) => ({ host_ip: '', container_port: c, host_port: h, range: 1, protocol: 'tcp' })),
      networks: { [net.name]: { static_ips: [this.addressOf(net, index)], aliases: [`c${index}`], interface_name: 'eth0' } },
      network_info: {
        [net.name]: {
          name: net.name, id: net.name.padStart(64, '0'), driver: 'bridge', network_interface: net.bridge,
          subnets: [{ subnet: `${net.prefix}.0.0/16`, gateway: this.gateway(net) }],
          ipv6_enabled: false, internal: false, dns_enabled: net.dns, ipam_options: { driver: 'host-local' },
        },
      },
    });
  }

  private call(verb: 'setup' | 'teardown', sandboxNs: string, net: NetavarkNetwork, index: number, ports: Array<[number, number]>): void {
    runIn(this.host.path, NETAVARK, ['--config', this.config, '--rootless=false', `--aardvark-binary=${AARDVARK}`, verb, sandboxNs], { input: this.options(net, index, ports) });
  }

  setup(sandbox: TestNs, net: NetavarkNetwork, index: number, ports: Array<[number, number]> = []): void {
    this.call('setup', sandbox.path, net, index, ports);
  }

  teardown(sandbox: TestNs, net: NetavarkNetwork, index: number, ports: Array<[number, number]> = []): void {
    this.call('teardown', sandbox.path, net, index, ports);
  }

  aardvarkPid(): number | undefined {
    try {
      return Number(fs.readFileSync(`${this.config}/aardvark-dns/aardvark.pid`, 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** Callers tear down what they set up first (netavark stops aardvark and the bridge at the last teardown). */
  stop(): void {
    const pid = this.aardvarkPid();
    if (pid) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
    fs.rmSync(this.config, { recursive: true, force: true });
    removeNs(this.host);
  }
}

