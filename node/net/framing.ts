// Length-prefixed frames over a byte stream: u32 little-endian body length, then the body.
// Incoming chunks are kept as a list and each byte is copied at most once (into the frame that
// spans chunks), so a frame trickling in byte by byte costs linear, not quadratic, time.

export const FRAME_HEADER_BYTES = 4;

export class FrameError extends Error {
  constructor(
    readonly reason: "bad_frame",
    message: string,
  ) {
    super(message);
    this.name = "FrameError";
  }
}

export class FrameReader {
  private chunks: Uint8Array[] = [];
  /** Index of the first live chunk (an index, not shift(), which is O(n) on long arrays). */
  private first = 0;
  /** Bytes of chunks[first] already consumed. */
  private head = 0;
  /** Bytes copied while reassembling frames that spanned chunks; never more than the bytes received. */
  copiedBytes = 0;
  private buffered = 0;
  /** Body length of the frame being read, or -1 while waiting for its header. */
  private bodyLength = -1;

  /** Applies to frames whose header has not been read yet (the limit rises after the handshake). */
  constructor(public maxFrameBytes: number) {}

  /** Bytes of the incomplete frame (header included): non-zero at end of stream means a truncated frame. */
  get pendingBytes(): number {
    return this.buffered + (this.bodyLength >= 0 ? FRAME_HEADER_BYTES : 0);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame body, or null until more bytes arrive. Throws FrameError on a bad length. */
  next(): Uint8Array | null {
    if (this.bodyLength < 0) {
      if (this.buffered < FRAME_HEADER_BYTES) return null;
      const h = this.take(FRAME_HEADER_BYTES);
      const len = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
      if (len === 0) throw new FrameError("bad_frame", "zero-length frame");
      if (len > this.maxFrameBytes) throw new FrameError("bad_frame", `frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
      this.bodyLength = len;
    }
    if (this.buffered < this.bodyLength) return null;
    const body = this.take(this.bodyLength);
    this.bodyLength = -1;
    return body;
  }

  /** Removes n buffered bytes (n <= buffered); a view when they sit in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    const c0 = this.chunks[this.first]!;
    if (c0.length - this.head >= n) {
      const out = c0.subarray(this.head, this.head + n);
      this.advance(c0, n);
      this.buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.first]!;
      const k = Math.min(c.length - this.head, n - filled);
      out.set(c.subarray(this.head, this.head + k), filled);
      filled += k;
      this.advance(c, k);
    }
    this.copiedBytes += n;
    this.buffered -= n;
    return out;
  }

  private advance(c: Uint8Array, k: number): void {
    this.head += k;
    if (this.head < c.length) return;
    this.head = 0;
    this.first++;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 1024 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

/** Header and body in one buffer, so a frame is one socket write. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length, 0);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}
