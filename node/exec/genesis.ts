// The genesis block and state. Every validator derives them from the genesis document alone, so the genesis
// block hash and root(genesis) are the same everywhere.

import { encode } from "../codec/codec.ts";
import { compareBytes, toHex } from "../codec/hex.ts";
import { Account, BLOCK_FORMAT_VERSION, type Block, type Genesis, type QuorumCertificate } from "../codec/types.ts";
import { ZERO_HASH } from "../crypto/hash.ts";
import { blockHash, genesisHash, invocationsRoot } from "../crypto/digests.ts";
import type { StateWrite } from "../store/store.ts";
import { ExecError } from "./errors.ts";
import { U64_MAX } from "./gas.ts";
import { genesisStateRoot } from "./overlay.ts";
import { stateKeys } from "./state-keys.ts";

/** The certificate of the genesis block: view 0, zero hash, no signatures. */
export function genesisQc(): QuorumCertificate {
  return { view: 0n, blockHash: ZERO_HASH.slice(), signatures: [] };
}

export function genesisBlock(genesis: Genesis): Block {
  return {
    header: {
      formatVersion: BLOCK_FORMAT_VERSION,
      chainId: genesis.chainId,
      height: 0n,
      view: 0n,
      proposer: ZERO_HASH.slice(),
      parentHash: genesisHash(genesis),
      justify: genesisQc(),
      invocationsRoot: invocationsRoot([]),
      stateRoot: ZERO_HASH.slice(),
    },
    invocations: [],
  };
}

export function genesisBlockHash(genesis: Genesis): Uint8Array {
  return blockHash(genesisBlock(genesis).header);
}

/**
 * Checks the allocations can start a chain: no account twice (which balance would win is a guess), and a total
 * supply that fits u64, so no balance or fee credit can ever overflow afterwards.
 */
export function checkGenesis(genesis: Genesis): void {
  const seen = new Set<string>();
  let total = 0n;
  for (const a of genesis.allocations) {
    const hex = toHex(a.account);
    if (seen.has(hex)) throw new ExecError("bad_genesis", `genesis allocates account ${hex} more than once`);
    seen.add(hex);
    total += a.balance;
  }
  if (total > U64_MAX) throw new ExecError("bad_genesis", `genesis allocations total ${total}, more than a u64 can hold`);
}

/** The state writes of genesis: one native account per allocation, sorted by key. */
export function genesisStateWrites(genesis: Genesis): StateWrite[] {
  checkGenesis(genesis);
  return genesis.allocations
    .map((a) => ({ key: stateKeys.account(a.account), value: encode(Account, { balance: a.balance, nonce: 0n }) }))
    .sort((a, b) => compareBytes(a.key, b.key));
}

export { genesisStateRoot };
