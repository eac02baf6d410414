// Signature verification off the event loop: a few worker threads running libsodium. Only worth it for
// large batches (posting a message costs tens of microseconds), so `createVerifier` keeps small batches
// inline. Workers start lazily, never keep the process alive, and a dead worker degrades to inline
// verification rather than losing the batch.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { InlineVerifier, packBatch, verifyPacked } from "./verify.ts";
import type { SignatureVerifier } from "./types.ts";

type Item = { encoded: Uint8Array; publicKey: Uint8Array };

interface Pending {
  resolve(ok: Uint8Array): void;
  reject(e: Error): void;
}

class VerifyWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  dead = false;

  constructor() {
    this.worker = new Worker(new URL("./verify-worker.mjs", import.meta.url));
    this.worker.unref();
    this.worker.on("message", (m: { seq: number; ok: Uint8Array }) => {
      const p = this.pending.get(m.seq);
      this.pending.delete(m.seq);
      p?.resolve(m.ok);
    });
    const fail = (e: Error): void => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`verify worker exited with code ${code}`)));
  }

  run(items: readonly Item[]): Promise<Uint8Array> {
    const { buf, offsets } = packBatch(items);
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, buf, offsets }, [buf.buffer as ArrayBuffer, offsets.buffer as ArrayBuffer]);
    });
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

export interface WorkerPoolOptions {
  /** Worker threads; default: available cores minus one (the event loop keeps one), at least 1. */
  workers?: number;
}

/** Splits every batch across the workers; falls back to inline checking if a worker dies. */
export class WorkerPoolVerifier implements SignatureVerifier {
  private workers: VerifyWorker[] = [];
  private readonly count: number;

  constructor(opts: WorkerPoolOptions = {}) {
    this.count = Math.max(1, opts.workers ?? availableParallelism() - 1);
  }

  private live(): VerifyWorker[] {
    this.workers = this.workers.filter((w) => !w.dead);
    while (this.workers.length < this.count) this.workers.push(new VerifyWorker());
    return this.workers;
  }

  async verify(items: readonly Item[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const workers = this.live();
    const chunk = Math.ceil(items.length / workers.length);
    const parts: Promise<Uint8Array>[] = [];
    for (let i = 0, w = 0; i < items.length; i += chunk, w++) {
      const slice = items.slice(i, i + chunk);
      parts.push(
        workers[w]!.run(slice).catch(() => {
          const { buf, offsets } = packBatch(slice);
          return verifyPacked(buf, offsets);
        }),
      );
    }
    const results = await Promise.all(parts);
    const out: boolean[] = [];
    for (const r of results) for (const b of r) out.push(b === 1);
    return out;
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

export interface VerifierOptions extends WorkerPoolOptions {
  /**
   * Batches at least this large go to the worker pool; smaller ones verify inline. 0 sends everything
   * to workers; Infinity never starts a worker. Default from bench/mempool-verify.ts: below ~16 items the
   * message round trip eats the gain.
   */
  workerThreshold?: number;
}

export const DEFAULT_WORKER_THRESHOLD = 16;

interface Waiting {
  items: readonly Item[];
  resolve(ok: boolean[]): void;
  reject(e: unknown): void;
}

/**
 * Coalesces the verification requests made within one event-loop turn (e.g. many single-invocation POSTs
 * arriving together) into one batch, then verifies it inline when small and on the worker pool when large.
 */
class CoalescingVerifier implements SignatureVerifier {
  private readonly inline = new InlineVerifier();
  private pool: WorkerPoolVerifier | null = null;
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(private readonly opts: VerifierOptions) {}

  verify(items: readonly Item[]): Promise<boolean[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiting.push({ items, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    this.scheduled = false;
    const all = batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items);
    try {
      let ok: boolean[];
      if (all.length >= (this.opts.workerThreshold ?? DEFAULT_WORKER_THRESHOLD)) {
        this.pool ??= new WorkerPoolVerifier(this.opts);
        ok = await this.pool.verify(all);
      } else {
        ok = await this.inline.verify(all);
      }
      let pos = 0;
      for (const w of batch) {
        w.resolve(ok.slice(pos, pos + w.items.length));
        pos += w.items.length;
      }
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}

/** The mempool's default: coalesce per event-loop turn; inline for small batches, worker pool for large ones. */
export function createVerifier(opts: VerifierOptions = {}): SignatureVerifier {
  return new CoalescingVerifier(opts);
}
