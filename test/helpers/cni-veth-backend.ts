/**
 * A CniBackend that does real (minimal) kernel work with `ip`, for the CNI differential
 * tests until the engine's external-sandbox operations exist: a veth pair per attachment,
 * host end on a bridge in the test's host namespace, container end moved into the
 * caller's netns with the next free address of one /24 and a default route.
 */
import { basename } from 'node:path';
import { SwitchyardError, conflict, notFound } from '../../src/errors.js';
import type { AttachRequest, Attachment, CheckRequest, CniBackend, DetachRequest, GcRequest } from '../../src/frontends/cni/backend.js';
import { sh } from './netns.js';

interface Held { hostIf: string; nsName: string; ifname: string; network: string; address: string }

export class VethBackend implements CniBackend {
  readonly held = new Map<string, Held>();
  private next = 2;
  private seq = 0;

  /** `hostNs` holds `bridge` (made here, with `prefix24`.1/24) for network `network`. */
  constructor(readonly hostNs: string, readonly network: string, readonly bridge: string, readonly prefix24: string) {
    sh('ip', ['-n', hostNs, 'link', 'add', bridge, 'type', 'bridge']);
    sh('ip', ['-n', hostNs, 'addr', 'add', `${prefix24}.1/24`, 'dev', bridge]);
    sh('ip', ['-n', hostNs, 'link', 'set', bridge, 'up']);
  }

  private checkNetwork(network: string): void {
    if (network !== this.network) throw notFound('NETWORK_NOT_FOUND', `network ${network} not found`);
  }

  async attach(req: AttachRequest): Promise<Attachment> {
    this.checkNetwork(req.network);
    const key = `${req.sandbox.id}/${req.ifname}`;
    if (this.held.has(key)) throw new SwitchyardError('forbidden', 'ENDPOINT_EXISTS', `container ${req.sandbox.id} already has ${req.ifname}`);
    const nsName = basename(req.sandbox.nsPath);
    const host = req.addresses?.length ? Number(req.addresses[0]!.split('/')[0]!.split('.')[3]) : this.next++;
    const address = `${this.prefix24}.${host}/24`;
    if ([...this.held.values()].some((h) => h.address === address)) throw conflict('ADDRESS_IN_USE', `address ${address} is in use`);
    const hostIf = `sycv${process.pid % 1000}x${this.seq++}`;
    const n = ['-n', this.hostNs];
    sh('ip', [...n, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', req.ifname, 'netns', nsName]);
    try {
      sh('ip', [...n, 'link', 'set', hostIf, 'master', this.bridge, 'up']);
      if (req.mac) sh('ip', ['-n', nsName, 'link', 'set', req.ifname, 'address', req.mac]);
      sh('ip', ['-n', nsName, 'addr', 'add', address, 'dev', req.ifname]);
      sh('ip', ['-n', nsName, 'link', 'set', req.ifname, 'up']);
      sh('ip', ['-n', nsName, 'route', 'add', 'default', 'via', `${this.prefix24}.1`]);
    } catch (err) {
      sh('ip', [...n, 'link', 'del', hostIf], { allowFail: true });
      throw err;
    }
    const mac = (ns: string, dev: string) => (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', dev]).stdout) as { address: string }[])[0]!.address;
    this.held.set(key, { hostIf, nsName, ifname: req.ifname, network: req.network, address });
    return {
      interfaces: [{ name: hostIf, mac: mac(this.hostNs, hostIf) }, { name: req.ifname, mac: mac(nsName, req.ifname), sandbox: req.sandbox.nsPath }],
      ips: [{ address, gateway: `${this.prefix24}.1`, interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: `${this.prefix24}.1` }],
      dns: { nameservers: [`${this.prefix24}.1`] },
    };
  }

  async detach(req: DetachRequest): Promise<void> {
    const key = `${req.sandbox.id}/${req.ifname}`;
    const h = this.held.get(key);
    if (!h) throw notFound('SANDBOX_NOT_FOUND', `container ${req.sandbox.id} has no ${req.ifname}`);
    sh('ip', ['-n', this.hostNs, 'link', 'del', h.hostIf], { allowFail: true });
    this.held.delete(key);
  }

  async check(req: CheckRequest): Promise<void> {
    this.checkNetwork(req.network);
    const h = this.held.get(`${req.sandbox.id}/${req.ifname}`);
    if (!h) throw notFound('SANDBOX_NOT_FOUND', `container ${req.sandbox.id} has no ${req.ifname}`);
    const r = sh('ip', ['-n', h.nsName, '-j', 'addr', 'show', 'dev', h.ifname], { allowFail: true });
    const have = r.status === 0 ? (JSON.parse(r.stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`) : [];
    const missing = req.expected.ips.map((i) => i.address).filter((a) => a.startsWith(`${this.prefix24}.`) && !have.includes(a));
    if (r.status !== 0 || missing.length) throw notFound('ENDPOINT_LINK_MISSING', `${req.ifname} in ${h.nsName} lacks ${missing.join(', ') || 'its link'}`);
  }

  async gc(req: GcRequest): Promise<void> {
    this.checkNetwork(req.network);
    const keep = new Set(req.keep.map((k) => `${k.containerId}/${k.ifname}`));
    for (const [key, h] of [...this.held]) {
      if (keep.has(key)) continue;
      sh('ip', ['-n', this.hostNs, 'link', 'del', h.hostIf], { allowFail: true });
      this.held.delete(key);
    }
  }

  async status(network: string): Promise<void> {
    this.checkNetwork(network);
  }
}
