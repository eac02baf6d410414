// Fungible token with a single minter.
//
// Input format: UTF-8 text, fields separated by one space.
//   init()                       the invoker becomes the owner (only once; the first mint does the same)
//   mint("<to hex> <amount>")    owner only: credits <amount> to <to>, raises the total supply
//   transfer("<to hex> <amount>") moves <amount> from the invoker to <to>; reverts "insufficient balance"
//   balanceOf("<hex>")           outputs the balance of <hex> (empty input: of the invoker)
//   totalSupply()                outputs the total supply
//   owner()                      outputs the owner's public key (hex), empty before init
// <hex> is a 32-byte ed25519 public key as 64 hex digits; <amount> a decimal u64 (> 0).
// Outputs are decimal text. Storage: "owner" -> 32 bytes, "supply" -> u64, "bal:" ++ key -> u64 (LE).
import { context, storage, util } from "cairn";

const OWNER = "owner";
const SUPPLY = "supply";

function balanceKey(account: Uint8Array): Uint8Array {
  const prefix = Uint8Array.wrap(String.UTF8.encode("bal:"));
  const key = new Uint8Array(prefix.length + account.length);
  key.set(prefix, 0);
  key.set(account, prefix.length);
  return key;
}

function balanceOfKey(account: Uint8Array): u64 {
  const v = storage.get(balanceKey(account));
  if (v === null) return 0;
  return load<u64>(v.dataStart);
}

function setBalance(account: Uint8Array, amount: u64): void {
  const v = new Uint8Array(8);
  store<u64>(v.dataStart, amount);
  // A zero balance is stored as no key at all.
  storage.set(balanceKey(account), amount == 0 ? new Uint8Array(0) : v);
}

function parseAccount(hex: string): Uint8Array {
  const key = util.fromHex(hex);
  if (key === null || key.length != 32) {
    context.revert("account must be 64 hex digits");
    return new Uint8Array(0);
  }
  return key;
}

/** Splits "<hex> <amount>". */
function accountAndAmount(): Uint8Array[] {
  const parts = context.inputString().split(" ");
  if (parts.length != 2) context.revert("input must be '<account hex> <amount>'");
  const amount = util.parseU64(parts[1]);
  if (amount == 0) context.revert("amount must be positive");
  const encoded = new Uint8Array(8);
  store<u64>(encoded.dataStart, amount);
  return [parseAccount(parts[0]), encoded];
}

function ensureOwner(): Uint8Array {
  let owner = storage.get(Uint8Array.wrap(String.UTF8.encode(OWNER)));
  if (owner === null) {
    owner = context.invoker();
    storage.set(Uint8Array.wrap(String.UTF8.encode(OWNER)), owner);
  }
  return owner;
}

export function init(): void {
  if (storage.has(Uint8Array.wrap(String.UTF8.encode(OWNER)))) context.revert("already initialized");
  ensureOwner();
}

export function mint(): void {
  const owner = ensureOwner();
  if (!util.bytesEqual(owner, context.invoker())) context.revert("only the owner can mint");
  const args = accountAndAmount();
  const to = args[0];
  const amount = load<u64>(args[1].dataStart);
  const supply = storage.getU64(SUPPLY);
  if (supply + amount < supply) context.revert("total supply overflow");
  storage.setU64(SUPPLY, supply + amount);
  setBalance(to, balanceOfKey(to) + amount);
  context.outputString(balanceOfKey(to).toString());
}

export function transfer(): void {
  const args = accountAndAmount();
  const to = args[0];
  const amount = load<u64>(args[1].dataStart);
  const from = context.invoker();
  const fromBalance = balanceOfKey(from);
  if (fromBalance < amount) context.revert("insufficient balance");
  setBalance(from, fromBalance - amount);
  // Read after the debit so a transfer to oneself nets out to no change.
  setBalance(to, balanceOfKey(to) + amount);
  context.outputString(balanceOfKey(from).toString());
}

export function balanceOf(): void {
  const text = context.inputString();
  const account = text.length == 0 ? context.invoker() : parseAccount(text);
  context.outputString(balanceOfKey(account).toString());
}

export function totalSupply(): void {
  context.outputString(storage.getU64(SUPPLY).toString());
}

export function owner(): void {
  const owner = storage.get(Uint8Array.wrap(String.UTF8.encode(OWNER)));
  context.outputString(owner === null ? "" : util.toHex(owner));
}
