/**
 * DNS over TCP frames each message with a 2-byte big-endian length (RFC 1035 §4.2.2,
 * RFC 7766 §8). A reader collects stream chunks and yields whole messages.
 */

export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/**
 * Linear in the bytes fed, however they are split: chunks are kept as they come and each
 * message is copied out once, when its last byte arrives (a 64 KiB frame trickled one byte
 * at a time costs 64 Ki appends and one copy, not 64 Ki growing copies). A message that
 * lies within one chunk is returned as a view of it, without a copy.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk (consumed ones before it are dropped in batches). */
  private head = 0;
  /** Bytes already consumed from chunks[head]. */
  private offset = 0;
  private total = 0;
  /** Length of the message being collected (after its prefix), or -1 while the prefix is incomplete. */
  private need = -1;

  /** Feeds a chunk; returns the messages it completed, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length === 0) return out;
    this.chunks.push(chunk);
    this.total += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.total < 2) break;
        const prefix = this.take(2);
        this.need = prefix.readUInt16BE(0);
      }
      if (this.total < this.need) break;
      out.push(this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  /** Bytes held waiting for the rest of a message (its length prefix included). */
  get buffered(): number {
    return this.total + (this.need >= 0 ? 2 : 0);
  }

  /** Removes and returns the next n bytes (n ≤ total): a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[this.head]!;
    let out: Buffer;
    if (first.length - this.offset >= n) {
      out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[this.head]!;
        const k = Math.min(c.length - this.offset, n - filled);
        c.copy(out, filled, this.offset, this.offset + k);
        filled += k;
        this.offset += k;
        if (this.offset === c.length && filled < n) this.advance();
      }
    }
    this.total -= n;
    if (this.offset === this.chunks[this.head]!.length) this.advance();
    return out;
  }

  private advance(): void {
    this.head++;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
