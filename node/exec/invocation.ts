// One invocation of a block, end to end: the checks that reject it (chain, fee floor, signature, nonce, fee cover), the
// built-in or contract that runs it, then settle (fee from the invoker to the proposer, nonce + 1) and its
// receipt. Synchronous when every state it needs is in memory (the common case); otherwise the keys are loaded
// first and the returned promise settles with the receipt.

import { BUILTIN_BANK, BUILTIN_DEPLOY, type Receipt, type SignedInvocation } from "../codec/types.ts";
import { invocationId, invocationIdHex, invocationSigningDigest } from "../crypto/digests.ts";
import { verifyStrict } from "../crypto/sodium.ts";
import { decodeAccount, encodeAccount } from "./account.ts";
import { decodeTransfer, runBank } from "./bank.ts";
import type { ContractRunner } from "./contract-call.ts";
import { InvocationContext, type BlockContext } from "./context.ts";
import type { Deployer } from "./deploy.ts";
import { ExecError } from "./errors.ts";
import { U64_MAX } from "./gas.ts";
import { rejectedReceipt, settledReceipt, type Outcome } from "./outcome.ts";
import { keyString, stateKeys } from "./state-keys.ts";
import type { ExecStats } from "./types.ts";

export class InvocationRunner {
  constructor(
    private readonly chainId: string,
    /** The genesis's fee floor: every validator rejects the same invocations below it. */
    private readonly minGasPrice: bigint,
    private readonly contracts: ContractRunner,
    private readonly deployer: Deployer,
    private readonly stats: ExecStats,
  ) {}

  /** The receipt of the `index`th invocation of the block; its effects go to the block's overlay. */
  run(block: BlockContext, inv: SignedInvocation, index: number): Receipt | Promise<Receipt> {
    const ctx = new InvocationContext(block, inv, invocationId(inv), index);
    this.stats.invocations++;
    if (inv.chainId !== this.chainId) {
      return rejectedReceipt(ctx, `wrong chain: invocation is for ${inv.chainId}, this chain is ${this.chainId}`);
    }
    // Admission already refuses these; a faulty leader can still propose one, and it must not run for less.
    if (inv.gasPrice < this.minGasPrice) {
      return rejectedReceipt(ctx, `gas price too low: invocation offers ${inv.gasPrice}, the chain's minimum gas price is ${this.minGasPrice}`);
    }
    if (!block.verified?.has(invocationIdHex(inv)) && !verifyStrict(inv.signature, invocationSigningDigest(inv), inv.invoker)) {
      return rejectedReceipt(ctx, "bad signature: the signature does not verify against the invoker's key");
    }
    resolveAccounts(ctx);
    const view = ctx.view;
    const accountMissing = view.peek(ctx.accountStr) === undefined;
    const toMissing = ctx.toKey !== null && view.peek(ctx.toStr) === undefined;
    if (accountMissing || toMissing) return this.loadThenRun(ctx, accountMissing, toMissing);
    return this.runLoaded(ctx);
  }

  private async loadThenRun(ctx: InvocationContext, accountMissing: boolean, toMissing: boolean): Promise<Receipt> {
    if (accountMissing) await ctx.view.load(ctx.accountKey, ctx.accountStr);
    if (toMissing) await ctx.view.load(ctx.toKey!, ctx.toStr);
    return this.runLoaded(ctx);
  }

  /** The rest of run, once the invoker's account (and a transfer's recipient) are in memory. */
  private runLoaded(ctx: InvocationContext): Receipt | Promise<Receipt> {
    const inv = ctx.inv;
    const account = decodeAccount(ctx.inMemory(ctx.accountStr));
    if (inv.nonce !== account.nonce) return rejectedReceipt(ctx, `bad nonce: invocation has nonce ${inv.nonce}, the account's next nonce is ${account.nonce}`);
    const maxFee = inv.gasLimit * inv.gasPrice;
    if (maxFee > U64_MAX) return rejectedReceipt(ctx, `gas limit ${inv.gasLimit} x gas price ${inv.gasPrice} overflows u64`);
    if (account.balance < maxFee) return rejectedReceipt(ctx, `insufficient balance: ${account.balance} < gas limit x gas price = ${maxFee}`);

    // Accepted: from here on the invocation pays for the gas it used and its nonce is consumed. Handlers write
    // to the block's overlay only when they succeed (every failure returns before its first write).
    if (inv.contract === BUILTIN_BANK) return settle(ctx, runBank(ctx, account));
    const pending = inv.contract === BUILTIN_DEPLOY ? this.deployer.run(ctx) : this.contracts.run(ctx);
    if (pending instanceof Promise) return pending.then((o) => settle(ctx, o));
    return settle(ctx, pending);
  }
}

/** The invoker's account key, and for bank.transfer its decoded payload and the recipient's account key. */
function resolveAccounts(ctx: InvocationContext): void {
  const inv = ctx.inv;
  ctx.accountKey = stateKeys.account(inv.invoker);
  ctx.accountStr = keyString(ctx.accountKey);
  // A transfer also needs its recipient: both are loaded before anything runs, so the run itself never waits.
  if (inv.contract === BUILTIN_BANK && inv.method === "transfer") {
    try {
      const transfer = decodeTransfer(inv.input);
      ctx.transfer = transfer;
      ctx.toKey = stateKeys.account(transfer.to);
      ctx.toStr = keyString(ctx.toKey);
    } catch (e) {
      ctx.transfer = `malformed transfer payload: ${(e as Error).message}`;
    }
  }
}

/** Charges the fee (debit the invoker, bump its nonce, credit the proposer) and makes the receipt. */
function settle(ctx: InvocationContext, outcome: Outcome): Receipt {
  const inv = ctx.inv;
  const block = ctx.block;
  const height = block.height;
  if (outcome.gasUsed > inv.gasLimit) throw new ExecError("invariant", `internal: gas used ${outcome.gasUsed} exceeds limit ${inv.gasLimit}`, height);
  const fee = outcome.gasUsed * inv.gasPrice;
  const after = decodeAccount(ctx.inMemory(ctx.accountStr));
  if (after.balance < fee) throw new ExecError("invariant", `internal: invoker balance ${after.balance} below fee ${fee}`, height);
  ctx.overlay.set(ctx.accountKey, encodeAccount(after.balance - fee, after.nonce + 1n), ctx.accountStr);
  if (fee > 0n) {
    const prop = decodeAccount(ctx.inMemory(block.proposerStr));
    if (prop.balance + fee > U64_MAX) throw new ExecError("invariant", "internal: proposer balance overflows u64", height);
    ctx.overlay.set(block.proposerKey, encodeAccount(prop.balance + fee, prop.nonce), block.proposerStr);
  }
  return settledReceipt(ctx, outcome, fee);
}
