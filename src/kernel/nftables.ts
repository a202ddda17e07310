/**
 * nftables in process, through libnftables (the library behind the `nft` command) and koffi.
 *
 * Why in process: a spawned `nft add element` costs ~4.6 ms and a spawned table replace
 * ≥16 ms, 13.5 ms of which is the kernel's deferred destroy run when nft closes its
 * nfnetlink socket. A libnftables context keeps its socket open for its whole life, so
 * one element costs ~0.1 ms (docs/notes/kernel-facts.md#libnftables-in-process). Keep one `Nft` per namespace for
 * the daemon's lifetime.
 *
 * Why text and not JSON: nft 1.0.6's JSON input cannot round-trip maps with
 * concatenated data and once segfaulted on them (docs/notes/kernel-facts.md#nft-json-gaps).
 *
 * Namespaces: libnftables opens its netlink socket in nft_ctx_new(), and a socket stays
 * in the netns it was created in. So a context created inside withNetns(nsPath) reads and
 * changes that namespace's ruleset from then on, whatever thread namespace the caller is
 * in later. (libnftables 1.0.x never reopens that socket; it opens a short-lived rtnetlink
 * socket only to resolve `iif`/`oif` indexes, which Switchyard never uses: it matches
 * `iifname`/`oifname` strings.)
 */
import koffi, { type LibraryHandle } from 'koffi';
import { SwitchyardError, internal } from '../errors.js';
import { withNetns } from './netns.js';
import { closeOnExecAll } from './libc.js';

/** NFT_CTX_OUTPUT_JSON from <nftables/libnftables.h>. */
const OUTPUT_JSON = 1 << 4;

interface Lib {
  ctxNew: (flags: number) => unknown;
  ctxFree: ((ctx: unknown) => void) & { async: (ctx: unknown, cb: (err: unknown) => void) => void };
  bufferOutput: (ctx: unknown) => number;
  bufferError: (ctx: unknown) => number;
  getOutput: (ctx: unknown) => string | null;
  getError: (ctx: unknown) => string | null;
  runCmd: (ctx: unknown, buf: string) => number;
  getFlags: (ctx: unknown) => number;
  setFlags: (ctx: unknown, flags: number) => void;
}

let lib: Lib | undefined;

/** Loads libnftables on first use, so that importing this module never fails on a host without it. */
function load(): Lib {
  if (lib) return lib;
  let so: LibraryHandle;
  try {
    so = koffi.load('libnftables.so.1');
  } catch (err) {
    throw new SwitchyardError('unavailable', 'NFT_UNAVAILABLE', 'libnftables.so.1 cannot be loaded (install libnftables1)', { cause: err });
  }
  koffi.opaque('nft_ctx');
  lib = {
    ctxNew: so.func('nft_ctx *nft_ctx_new(uint32_t flags)'),
    ctxFree: so.func('void nft_ctx_free(nft_ctx *ctx)'),
    bufferOutput: so.func('int nft_ctx_buffer_output(nft_ctx *ctx)'),
    bufferError: so.func('int nft_ctx_buffer_error(nft_ctx *ctx)'),
    getOutput: so.func('const char *nft_ctx_get_output_buffer(nft_ctx *ctx)'),
    getError: so.func('const char *nft_ctx_get_error_buffer(nft_ctx *ctx)'),
    runCmd: so.func('int nft_run_cmd_from_buffer(nft_ctx *ctx, const char *buf)'),
    getFlags: so.func('unsigned int nft_ctx_output_get_flags(nft_ctx *ctx)'),
    setFlags: so.func('void nft_ctx_output_set_flags(nft_ctx *ctx, unsigned int flags)'),
  };
  return lib;
}

export class Nft {
  private ctx: unknown;
  /** The namespace this context is bound to, for error messages ("" = the daemon's own). */
  readonly nsPath: string;

  private constructor(ctx: unknown, nsPath: string) {
    this.ctx = ctx;
    this.nsPath = nsPath;
  }

  /**
   * A context bound to the netns at nsPath (or to the calling thread's netns when omitted).
   * Output and errors are buffered so that nothing is printed and every error is returned.
   */
  static open(nsPath?: string): Nft {
    const l = load();
    const create = (): unknown => l.ctxNew(0 /* NFT_CTX_DEFAULT: opens the netlink socket now */);
    const ctx = nsPath ? withNetns(nsPath, create) : create();
    if (!ctx) throw internal('NFT_FAILED', `nft_ctx_new failed${nsPath ? ` in ${nsPath}` : ''}`);
    // libnftables opens its netlink socket without SOCK_CLOEXEC: left so, every sandbox
    // command would inherit a socket of this namespace (docs/SECURITY.md).
    closeOnExecAll();
    if (l.bufferOutput(ctx) !== 0 || l.bufferError(ctx) !== 0) {
      l.ctxFree(ctx);
      throw internal('NFT_FAILED', 'nft_ctx_buffer_output/error failed');
    }
    return new Nft(ctx, nsPath ?? '');
  }

  /**
   * Runs nft text commands (one per line, or a whole `table … { }` block) as ONE
   * transaction: either all of it applies or none of it does. Returns nft's output.
   */
  run(commands: string): string {
    const l = load();
    const ctx = this.live();
    const rc = l.runCmd(ctx, commands);
    // Both reads also rewind libnftables' buffers for the next call.
    const out = l.getOutput(ctx) ?? '';
    const err = l.getError(ctx) ?? '';
    if (rc !== 0) {
      throw new SwitchyardError('internal', 'NFT_FAILED', err.trim() || `nft failed (rc ${rc}) with no message`);
    }
    return out;
  }

  /** `list <what>` in text form, e.g. list('tables') or list('table inet switchyard'). */
  list(what: string): string {
    return this.run(`list ${what}`);
  }

  /** `list <what>` as parsed JSON (reading JSON is reliable in 1.0.6; writing it is not). */
  listJson(what: string): { nftables: Array<Record<string, unknown>> } {
    const l = load();
    const ctx = this.live();
    const flags = l.getFlags(ctx);
    l.setFlags(ctx, flags | OUTPUT_JSON);
    try {
      const out = this.run(`list ${what}`);
      return out.trim() ? JSON.parse(out) : { nftables: [] };
    } finally {
      l.setFlags(ctx, flags);
    }
  }

  /** Frees the context and closes its netlink socket. Idempotent. */
  close(): void {
    if (!this.ctx) return;
    load().ctxFree(this.ctx);
    this.ctx = null;
  }

  /**
   * close() on libuv's threadpool: the kernel's close() of a netlink socket that deleted
   * nftables set elements a moment before waits for their destruction (~11 ms here,
   * measured with strace -T, 2026-12-03), which would block the event loop. The context is unusable at once. Safe off the main thread
   * because no Switchyard rule makes libnftables fill its process-wide interface cache
   * (no `iif`/`oif`), the one global nft_ctx_free touches.
   */
  closeAsync(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return Promise.resolve();
    this.ctx = null;
    return new Promise((resolve, reject) => load().ctxFree.async(ctx, (err) => (err ? reject(err) : resolve())));
  }

  private live(): unknown {
    if (!this.ctx) throw internal('NFT_CLOSED', `nftables context${this.nsPath ? ` for ${this.nsPath}` : ''} is closed`);
    return this.ctx;
  }
}
