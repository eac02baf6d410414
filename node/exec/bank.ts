// The bank built-in: bank.transfer moves native balance between accounts. Its payload is decoded and its
// recipient's account loaded before the invocation runs (see invocation.ts), so the transfer itself never waits.

import { decode } from "../codec/codec.ts";
import { TransferPayload, type TransferPayload as TransferPayloadT } from "../codec/types.ts";
import { decodeAccount, encodeAccount, type AccountState } from "./account.ts";
import type { InvocationContext } from "./context.ts";
import { EXEC_GAS, U64_MAX, intrinsicGas } from "./gas.ts";
import { invalidOutcome, okOutcome, outOfGasOutcome, revertedOutcome, EMPTY, type Outcome } from "./outcome.ts";

const TRANSFER_PAYLOAD_BYTES = 40;
/** Gas of every well-formed transfer: its payload is always 40 bytes. */
const TRANSFER_GAS = intrinsicGas(TRANSFER_PAYLOAD_BYTES) + EXEC_GAS.transfer;
const transferScratch = new Uint8Array(8);
const transferScratchView = new DataView(transferScratch.buffer);

/** decode(TransferPayload, input) without the generic codec when the length is right (it is all the codec checks then). */
export function decodeTransfer(input: Uint8Array): TransferPayloadT {
  if (input.length !== TRANSFER_PAYLOAD_BYTES) return decode(TransferPayload, input, "transfer payload");
  for (let i = 0; i < 8; i++) transferScratch[i] = input[32 + i]!;
  return { to: input.slice(0, 32), amount: transferScratchView.getBigUint64(0, true) };
}

/**
 * bank.transfer: the fee is set aside first, so a transfer can never leave the invoker unable to pay it.
 * `from` is the invoker's account as read for the checks; the recipient's account is already in memory.
 */
export function runBank(ctx: InvocationContext, from: AccountState): Outcome {
  const inv = ctx.inv;
  if (inv.method !== "transfer") return invalidOutcome(inv.gasLimit, `bank has no method ${JSON.stringify(inv.method)} (it has: transfer)`);
  const transfer = ctx.transfer;
  if (typeof transfer === "string") return invalidOutcome(inv.gasLimit, transfer);
  const payload = transfer!;
  const gas = TRANSFER_GAS;
  if (inv.gasLimit < gas) return outOfGasOutcome(inv.gasLimit, gas);
  const balance = from.balance;
  const fee = gas * inv.gasPrice;
  const available = balance - fee;
  if (available < payload.amount) {
    return revertedOutcome(gas, `insufficient funds: balance ${balance} minus fee ${fee} leaves ${available}, transfer needs ${payload.amount}`);
  }
  // Nothing has written the invoker's account since `from` was read.
  const fromAfter = from.balance - payload.amount;
  // A self-transfer: debit and credit cancel (the fee is charged by settle, which writes the account).
  if (ctx.toStr === ctx.accountStr) return okOutcome(gas, EMPTY);
  const to = decodeAccount(ctx.inMemory(ctx.toStr));
  if (to.balance + payload.amount > U64_MAX) return revertedOutcome(gas, "recipient balance would overflow u64");
  ctx.overlay.set(ctx.accountKey, encodeAccount(fromAfter, from.nonce), ctx.accountStr);
  ctx.overlay.set(ctx.toKey!, encodeAccount(to.balance + payload.amount, to.nonce), ctx.toStr);
  return okOutcome(gas, EMPTY);
}
