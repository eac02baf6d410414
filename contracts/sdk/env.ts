// Host imports: the whole surface a contract can reach outside its own memory (see vm/runtime-host.ts).
// Input, invoker and output travel through the `__cairn_*` exports in abi.ts instead of host calls.

/** Copies the value of `key` into [buf, buf+cap) when it fits; returns its length, or -1 when absent. */
// @ts-ignore: decorator
@external("cairn", "get")
export declare function hostGet(keyPtr: usize, keyLen: i32, bufPtr: usize, bufCap: i32): i32;

/** Buffers a write; a zero-length value deletes the key. */
// @ts-ignore: decorator
@external("cairn", "set")
export declare function hostSet(keyPtr: usize, keyLen: i32, valPtr: usize, valLen: i32): void;

/** Writes the 32-byte public key of the proposer of the block being executed at `ptr`. */
// @ts-ignore: decorator
@external("cairn", "proposer_addr")
export declare function hostProposerAddr(ptr: usize): void;
