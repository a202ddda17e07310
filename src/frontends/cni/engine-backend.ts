/**
 * The CniBackend inside the daemon (behind POST /cni): the engine's attachment operations
 * called in process. It answers exactly as DaemonBackend does over the attachment routes
 * (same conversion through the routes' attachment view, same errors: kind, code and message,
 * no field, as a reply carries them), plus what only the daemon can see: the MAC address of
 * the host end of the link (`hostLinkMac`, looked up in the daemon's namespace).
 */
import { asSwitchyardError, SwitchyardError } from '../../errors.js';
import type { Attachments } from '../../model/attachments.js';
import { attachmentView, teardownView } from '../../api/routes-attachments.js';
import type { Attachment, AttachRequest, CheckRequest, CniBackend, DetachRequest, GcRequest } from './backend.js';
import { attachmentOf, compareWithPrevResult, DAMAGED, socketOf, teardownFailure, type AttachmentView } from './daemon-backend.js';

export interface EngineForCni extends Attachments {
  /** Resolves when the network exists (STATUS). */
  inspectNetwork(ref: string): Promise<unknown>;
}

/** As a reply carries an error: kind, code and message (the field does not travel). */
function asReplied(err: unknown): SwitchyardError {
  const e = asSwitchyardError(err);
  return new SwitchyardError(e.kind, e.code, e.message, { cause: e });
}

async function replied<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (err) {
    throw asReplied(err);
  }
}

export class EngineBackend implements CniBackend {
  constructor(
    private readonly engine: EngineForCni,
    private readonly hostLinkMac: (name: string) => string | undefined = () => undefined,
  ) {}

  /** A backend per config, refusing a malformed `host` as the plugin process does (error 7). */
  static factory(engine: EngineForCni, hostLinkMac?: (name: string) => string | undefined) {
    const backend = new EngineBackend(engine, hostLinkMac);
    return (conf: { host?: string }): CniBackend => {
      socketOf(conf.host);
      return backend;
    };
  }

  private withHostMac(a: Attachment): Attachment {
    const interfaces = a.interfaces.map((i) => {
      if (i.sandbox !== undefined || i.mac) return i;
      const mac = this.hostLinkMac(i.name);
      return mac ? { ...i, mac } : i;
    });
    return { ...a, interfaces };
  }

  async attach(req: AttachRequest): Promise<Attachment> {
    const r = await replied(() => this.engine.attach({
      sandbox: { id: req.sandbox.id, nsPath: req.sandbox.nsPath },
      network: req.network,
      ifname: req.ifname,
      ...(req.mac ? { mac: req.mac } : {}),
      ...(req.addresses?.length ? { addresses: req.addresses } : {}),
      ...(req.aliases?.length ? { aliases: req.aliases } : {}),
      ...(req.ports?.length ? { ports: req.ports } : {}),
    }));
    return this.withHostMac(attachmentOf(attachmentView(r) as AttachmentView, req.sandbox.nsPath));
  }

  async detach(req: DetachRequest): Promise<void> {
    const report = await replied(() => this.engine.detach({ sandboxId: req.sandbox.id, network: req.network, ifname: req.ifname }));
    teardownFailure(`detaching ${req.sandbox.id} from ${req.network}`, teardownView(report));
  }

  async check(req: CheckRequest): Promise<void> {
    let v: AttachmentView;
    try {
      v = attachmentView(await replied(() => this.engine.checkAttachment({ sandboxId: req.sandbox.id, network: req.network, ifname: req.ifname }))) as AttachmentView;
    } catch (err) {
      if (err instanceof SwitchyardError && DAMAGED.has(err.code)) throw new SwitchyardError('not-found', err.code, err.message, { cause: err });
      throw err;
    }
    compareWithPrevResult(req, v);
  }

  async gc(req: GcRequest): Promise<void> {
    const report = await replied(() => this.engine.gcAttachments(req.keep.map((k) => ({ sandboxId: k.containerId, ifname: k.ifname })), req.network));
    teardownFailure(`garbage-collecting ${req.network}`, teardownView(report));
  }

  async status(network: string): Promise<void> {
    await replied(() => this.engine.inspectNetwork(network));
  }
}
