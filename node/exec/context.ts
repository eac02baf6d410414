// What one block's execution and one invocation in it carry, so the steps of an invocation (checks, fee, bank,
// deploy, contract call, settle, receipt) take one argument instead of threading a dozen. Both are classes with
// every field set in the constructor: one fixed shape for V8, one allocation per block and per invocation.

import type { ContractVersionInfo, SignedInvocation, TransferPayload } from "../codec/types.ts";
import { ExecError } from "./errors.ts";
import type { Overlay } from "./overlay.ts";
import { keyString, stateKeys } from "./state-keys.ts";
import type { StateView } from "./state-view.ts";
import type { VerifiedIds } from "./types.ts";

const EMPTY = new Uint8Array(0);

/** A deployed contract version as a block found it. */
export interface ContractVersion {
  readonly info: ContractVersionInfo;
  /** stateKeys.storagePrefix(info.name). */
  readonly prefix: Uint8Array;
}

/** What one block's invocations share: its state, its overlay, its height and proposer, versions looked up. */
export class BlockContext {
  readonly proposerKey: Uint8Array;
  readonly proposerStr: string;
  /**
   * Contract versions found in this block's state, by name and version. A version never changes once it
   * exists, so within one block (one fork's state) a hit is final; absence is not cached (a deploy may add it).
   */
  readonly versions = new Map<string, ContractVersion>();

  constructor(
    /** The block's layers over the committed state; `overlay` is the top one. */
    readonly view: StateView,
    /** Where this block's invocations write. */
    readonly overlay: Overlay,
    readonly height: bigint,
    readonly proposer: Uint8Array,
    /** Ids whose signatures are already checked (undefined: check every one). */
    readonly verified: VerifiedIds | undefined,
  ) {
    this.proposerKey = stateKeys.account(proposer);
    this.proposerStr = keyString(this.proposerKey);
  }
}

/**
 * One invocation of a block, from its checks to its receipt. The invoker's account key and a transfer's decoded
 * payload and recipient are filled in (invocation.ts) once the chain and signature checks pass: an invocation
 * those checks reject never needs them.
 */
export class InvocationContext {
  readonly view: StateView;
  readonly overlay: Overlay;
  accountKey: Uint8Array = EMPTY;
  accountStr = "";
  /** bank.transfer's payload, or why it does not decode; null for any other invocation. */
  transfer: TransferPayload | string | null = null;
  /** The transfer recipient's account key (null when there is no decoded transfer). */
  toKey: Uint8Array | null = null;
  toStr = "";

  constructor(
    readonly block: BlockContext,
    readonly inv: SignedInvocation,
    readonly id: Uint8Array,
    readonly index: number,
  ) {
    this.view = block.view;
    this.overlay = block.overlay;
  }

  /** A value this invocation made sure is in memory (its account, a transfer's recipient, the proposer). */
  inMemory(str: string): Uint8Array | null {
    const v = this.view.peek(str);
    if (v === undefined) throw new ExecError("invariant", "internal: state loaded for this invocation is no longer in memory", this.block.height);
    return v;
  }
}
