// Native accounts on the hot path. Every invocation reads and writes a few accounts, so their encoding is done
// by hand here instead of through the generic struct codec; the bytes are exactly encode(Account, ...) (u64 LE
// balance, then u64 LE nonce: 16 bytes), and anything that is not 16 bytes goes through the codec, which names
// what is wrong with it.

import { CodecError, decode } from "../codec/codec.ts";
import { Account } from "../codec/types.ts";
import { U64_MAX } from "./gas.ts";

export interface AccountState {
  readonly balance: bigint;
  readonly nonce: bigint;
}

const ACCOUNT_BYTES = 16;
const NO_ACCOUNT: AccountState = Object.freeze({ balance: 0n, nonce: 0n });
// Values are copied into this scratch so one DataView serves every account (no view per value).
const scratch = new Uint8Array(ACCOUNT_BYTES);
const scratchView = new DataView(scratch.buffer);

/** The account stored under a key's value; null (no value) is the empty account. */
export function decodeAccount(raw: Uint8Array | null): AccountState {
  if (raw === null) return NO_ACCOUNT;
  if (raw.length !== ACCOUNT_BYTES) return decode(Account, raw, "account");
  for (let i = 0; i < ACCOUNT_BYTES; i++) scratch[i] = raw[i]!;
  return { balance: scratchView.getBigUint64(0, true), nonce: scratchView.getBigUint64(8, true) };
}

/** encode(Account, { balance, nonce }). */
export function encodeAccount(balance: bigint, nonce: bigint): Uint8Array {
  if (balance < 0n || balance > U64_MAX) throw new CodecError("malformed_encoding", `u64 out of range: ${balance}`);
  if (nonce < 0n || nonce > U64_MAX) throw new CodecError("malformed_encoding", `u64 out of range: ${nonce}`);
  const out = new Uint8Array(ACCOUNT_BYTES);
  const view = scratchView;
  view.setBigUint64(0, balance, true);
  view.setBigUint64(8, nonce, true);
  for (let i = 0; i < ACCOUNT_BYTES; i++) out[i] = scratch[i]!;
  return out;
}
