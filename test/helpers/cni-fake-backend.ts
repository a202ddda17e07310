/**
 * An in-memory CniBackend for tests: networks with a subnet, attachments keyed by
 * container id and ifname, addresses handed out in order. No kernel work.
 */
import { SwitchyardError, conflict, invalid, notFound, unavailable } from '../../src/errors.js';
import type { AttachRequest, Attachment, AttachmentKey, CheckRequest, CniBackend, DetachRequest, GcRequest } from '../../src/frontends/cni/backend.js';

export interface FakeNetwork {
  /** An IPv4 /24 prefix like "10.77.0" (hosts .2 to .254, gateway .1). */
  prefix24: string;
}

interface Held {
  network: string;
  key: AttachmentKey;
  attachment: Attachment;
  aliases: string[];
  ports: AttachRequest['ports'];
}

export class FakeBackend implements CniBackend {
  readonly networks = new Map<string, FakeNetwork>();
  readonly held = new Map<string, Held>();
  /** Set to make every call fail as an unreachable daemon would. */
  down = false;
  readonly calls: string[] = [];
  private nextHost = new Map<string, number>();

  constructor(networks: Record<string, FakeNetwork> = {}) {
    for (const [name, n] of Object.entries(networks)) this.networks.set(name, n);
  }

  private gate(op: string): void {
    this.calls.push(op);
    if (this.down) throw unavailable('DAEMON_UNREACHABLE', 'cannot reach the switchyard daemon (fake backend is down)');
  }

  private net(name: string): FakeNetwork {
    const n = this.networks.get(name);
    if (!n) throw notFound('NETWORK_NOT_FOUND', `network ${name} not found`);
    return n;
  }

  private static key(id: string, ifname: string): string {
    return `${id}/${ifname}`;
  }

  async attach(req: AttachRequest): Promise<Attachment> {
    this.gate('attach');
    const net = this.net(req.network);
    const k = FakeBackend.key(req.sandbox.id, req.ifname);
    if (this.held.has(k)) throw new SwitchyardError('forbidden', 'ENDPOINT_EXISTS', `container ${req.sandbox.id} already has ${req.ifname}`);
    let address: string;
    if (req.addresses?.length) {
      const ip = req.addresses[0]!.split('/')[0]!;
      if (!ip.startsWith(`${net.prefix24}.`)) throw invalid('ADDRESS_OUTSIDE_SUBNET', `address ${ip} is outside ${net.prefix24}.0/24`, 'addresses');
      if ([...this.held.values()].some((h) => h.attachment.ips.some((a) => a.address.startsWith(`${ip}/`)))) throw conflict('ADDRESS_IN_USE', `address ${ip} is in use`);
      address = `${ip}/24`;
    } else {
      const host = this.nextHost.get(req.network) ?? 2;
      this.nextHost.set(req.network, host + 1);
      address = `${net.prefix24}.${host}/24`;
    }
    const last = Number(address.split('/')[0]!.split('.')[3]);
    const attachment: Attachment = {
      interfaces: [{ name: req.ifname, mac: req.mac ?? `02:42:0a:00:00:${last.toString(16).padStart(2, '0')}`, sandbox: req.sandbox.nsPath }],
      ips: [{ address, gateway: `${net.prefix24}.1`, interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: `${net.prefix24}.1` }],
      dns: { nameservers: ['127.0.0.11'], search: [] },
    };
    this.held.set(k, { network: req.network, key: { containerId: req.sandbox.id, ifname: req.ifname }, attachment, aliases: req.aliases ?? [], ports: req.ports });
    return attachment;
  }

  async detach(req: DetachRequest): Promise<void> {
    this.gate('detach');
    const k = FakeBackend.key(req.sandbox.id, req.ifname);
    if (!this.held.delete(k)) throw notFound('SANDBOX_NOT_FOUND', `container ${req.sandbox.id} has no ${req.ifname}`);
  }

  async check(req: CheckRequest): Promise<void> {
    this.gate('check');
    this.net(req.network);
    const h = this.held.get(FakeBackend.key(req.sandbox.id, req.ifname));
    if (!h) throw notFound('SANDBOX_NOT_FOUND', `container ${req.sandbox.id} has no ${req.ifname}`);
    const want = req.expected.ips.map((i) => i.address).sort().join(',');
    const have = h.attachment.ips.map((i) => i.address).sort().join(',');
    if (!req.expected.ips.length || !req.expected.ips.every((i) => have.split(',').includes(i.address))) {
      throw conflict('ADDRESS_IN_USE', `addresses differ: expected ${want}, have ${have}`);
    }
  }

  async gc(req: GcRequest): Promise<void> {
    this.gate('gc');
    const keep = new Set(req.keep.map((k) => FakeBackend.key(k.containerId, k.ifname)));
    for (const [k, h] of this.held) if (h.network === req.network && !keep.has(k)) this.held.delete(k);
  }

  async status(network: string): Promise<void> {
    this.gate('status');
    this.net(network);
  }
}
