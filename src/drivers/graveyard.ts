/**
 * Batched link deletion. Deleting a device costs an RCU grace period taken with the RTNL
 * lock held (~30 ms here), and every other netlink change waits behind it. Links that must
 * go are instead moved into a device group of Switchyard's own (one fast request) and the
 * whole group is deleted in one request a moment later: one grace period per batch.
 *
 * The deletion runs on a netlink socket of its own through the libuv threadpool, so the
 * event loop and the daemon's request socket never wait for it.
 */
import type { Rtnl } from '../kernel/netlink/index.js';

/** "SY" in ASCII: a group number no other tool is likely to use. */
export const GRAVEYARD_GROUP = 0x5359;

export class Graveyard {
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    /** Used for the quick "move to the group" requests. */
    private readonly rtnl: Rtnl,
    /** A second socket in the same namespace, only for the slow group deletion. */
    private readonly deleter: Rtnl,
    private readonly log: (msg: string) => void,
    private readonly delayMs = 100,
  ) {}

  /** Takes a link out of service at once (down, renamed) and schedules its deletion. */
  bury(index: number, newName?: string): void {
    this.rtnl.setLink(index, { up: false, group: GRAVEYARD_GROUP, ...(newName ? { name: newName } : {}) });
    this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
  }

  /** Deletes everything buried so far (also at start-up, for leftovers of a crash). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    this.flushing = this.deleter
      .deleteGroupAsync(GRAVEYARD_GROUP)
      .catch((err) => this.log(`delete buried links: ${String(err)}`))
      .finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /** Resolves when nothing is buried or being deleted. */
  async settle(): Promise<void> {
    if (this.timer || this.flushing) await this.flush();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.deleter.close();
  }
}
