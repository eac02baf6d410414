// Per-object memo of values derived from an immutable decoded value (its encoding, id, hashes).
//
// Why not WeakMaps: a validator memoizes several facts about every invocation it sees, thousands a second, and
// each WeakMap entry is an ephemeron. Storing a young key into an old WeakMap takes V8's slow ephemeron write
// barrier, and every scavenge re-walks the tables: together about 3% of a loaded validator's CPU in profiles.
// A hidden slot on the object itself dies with it and costs the collector nothing extra.
//
// The slot is a non-enumerable symbol property, so `toEqual`, JSON, spreads and key iteration never see it, and
// a changed copy (`{ ...inv, nonce }`) is a new object without the memo, as it must be. Values that carry a memo
// are never mutated once built (the codec's contract for decoded and hashed values).

const SLOT = Symbol("cairn.memo");

export interface Memo {
  /** The canonical encoding this value was decoded from or checked against. */
  raw: Uint8Array | undefined;
  /** K12 id (invocations) or block hash (headers). */
  hash: Uint8Array | undefined;
  hashHex: string | undefined;
  /** The invoker's public key as hex (invocations). */
  invokerHex: string | undefined;
}

/** The memo of `value`, created empty on first use (every memo has the same shape, so access stays monomorphic). */
export function memoOf(value: object): Memo {
  const found = (value as { [SLOT]?: Memo })[SLOT];
  if (found !== undefined) return found;
  const memo: Memo = { raw: undefined, hash: undefined, hashHex: undefined, invokerHex: undefined };
  Object.defineProperty(value, SLOT, { value: memo, enumerable: false, writable: false, configurable: false });
  return memo;
}

/** The memo of `value` if one was ever made, without making one. */
export function peekMemo(value: object): Memo | undefined {
  return (value as { [SLOT]?: Memo })[SLOT];
}
