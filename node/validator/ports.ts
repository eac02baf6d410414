// The outside world as a validator's glue sees it. The node wires these to Node.js timers, TCP and RocksDB; the
// whole-validator simulator wires them to a seeded clock, a simulated network and an in-memory disk, and the
// same glue runs in both.

import type { Block, SignedInvocation } from "../codec/types.ts";
import type { AppMessage, Logger, NetMetrics } from "../net/index.ts";
import type { FetchedBlock, SyncProvider, VerifiedRange } from "../net/sync.ts";

export type { Logger };

/** A pending timer; cancelling one that already fired does nothing. */
export interface Timer {
  cancel(): void;
}

/** Time as the glue may use it: for timers only, never for anything that reaches the state machine. */
export interface Clock {
  /** Milliseconds on a monotonic clock (for durations in logs and metrics). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` every `ms` milliseconds until cancelled; a repeating timer never keeps the process alive. */
  every(ms: number, fn: () => void): Timer;
  /** Calls `fn` on a later turn of the event loop, after the current run and its promise jobs. */
  defer(fn: () => void): void;
}

/** The links to the other validators (PeerNetwork in the node). */
export interface ValidatorLinks {
  start(): Promise<unknown>;
  stop(): Promise<void>;
  send(peer: number, msg: AppMessage): boolean;
  broadcast(msg: AppMessage): number;
  isConnected(peer: number): boolean;
  onMessage(handler: (from: number, msg: AppMessage) => void): () => void;
  onPeerConnected(handler: (peer: number) => void): () => void;
  setSyncProvider(provider: SyncProvider | null): void;
  requestBlocks(peer: number, hashes: Uint8Array[], opts?: { timeoutMs?: number }): Promise<FetchedBlock[]>;
  requestCommitted(peer: number, fromHeight: bigint, maxCount: number, opts?: { timeoutMs?: number }): Promise<VerifiedRange>;
  metrics(): NetMetrics;
}

export type { AppMessage, Block, SignedInvocation };

/** Node.js timers. Repeating timers are unref'd: a validator's status announcements never hold the process open. */
export const systemClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
  defer: (fn) => void setImmediate(fn),
};
