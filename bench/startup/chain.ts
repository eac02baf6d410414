// Builds a long committed chain quickly, through the Store's own commit path, for one validator's genesis:
// empty blocks, one view apart, each justified by a QC its validator signed over its parent and committed
// with its QC and its execution results (an empty block writes no state, so its root is the executor's root
// of an empty write set). The result is what a single-validator network would have written had it run that
// long: `cairn start`, the start-up check and `cairn verify-chain` (signatures included) all accept it.

import { encode } from "../../node/codec/codec.ts";
import { SafetyState } from "../../node/codec/consensus.ts";
import { BLOCK_FORMAT_VERSION, type Block, type Genesis, type QuorumCertificate } from "../../node/codec/types.ts";
import { genesisBlockQc } from "../../node/consensus/quorum.ts";
import { blockHash, genesisHash, invocationsRoot } from "../../node/crypto/digests.ts";
import type { SodiumSigner } from "../../node/crypto/sodium.ts";
import { genesisBlock, genesisQc, genesisStateRoot, genesisStateWrites } from "../../node/exec/genesis.ts";
import { nextStateRoot } from "../../node/exec/overlay.ts";
import type { Store } from "../../node/store/store.ts";
import { signedQc } from "../../test/fixtures/exec/chain.ts";

/** Commits issued before waiting for them: the Store serializes them anyway, this only keeps its queue fed. */
const IN_FLIGHT = 256;

export interface GeneratedChain {
  readonly head: bigint;
  readonly headHash: Uint8Array;
  /** The committed block at each height, when `keepBlocks` asked for them (tests corrupt them). */
  readonly blocks: Block[];
}

/**
 * Commits genesis and `count` empty blocks on an empty store bound to nothing yet. `validator` must be the
 * genesis's only validator (its QCs need one signature). Also writes a safety state resting on the head, as a
 * validator that voted for it and then stopped would have.
 */
export async function generateChain(
  store: Store,
  genesis: Genesis,
  validator: SodiumSigner,
  count: number,
  opts: { keepBlocks?: boolean; onProgress?: (height: bigint) => void } = {},
): Promise<GeneratedChain> {
  if (genesis.validators.length !== 1) throw new Error("generateChain signs QCs for a single-validator genesis");
  await store.bindGenesis(genesisHash(genesis));
  const g = genesisBlock(genesis);
  let root = genesisStateRoot(genesis);
  await store.commitExecuted({ block: g, qc: genesisQc(), stateRoot: root, state: genesisStateWrites(genesis), receipts: [] });
  let parentHash = blockHash(g.header);
  let justify: QuorumCertificate = genesisBlockQc(parentHash);
  const emptyRoot = invocationsRoot([]);
  const blocks: Block[] = opts.keepBlocks ? [g] : [];
  let inFlight: Promise<void>[] = [];
  for (let h = 1n; h <= BigInt(count); h++) {
    const block: Block = {
      header: {
        formatVersion: BLOCK_FORMAT_VERSION,
        chainId: genesis.chainId,
        height: h,
        view: h,
        proposer: validator.publicKey,
        parentHash,
        justify,
        invocationsRoot: emptyRoot,
        stateRoot: root,
      },
      invocations: [],
    };
    const hash = blockHash(block.header);
    const qc = signedQc(genesis.chainId, h, hash, [validator]);
    root = nextStateRoot(root, []);
    inFlight.push(store.commitExecuted({ block, qc, stateRoot: root, state: [], receipts: [] }));
    if (inFlight.length >= IN_FLIGHT) {
      await Promise.all(inFlight);
      inFlight = [];
      opts.onProgress?.(h);
    }
    if (opts.keepBlocks) blocks.push(block);
    parentHash = hash;
    justify = qc;
  }
  await Promise.all(inFlight);
  const head = BigInt(count);
  await store.putSafety(
    encode(SafetyState, { view: head + 1n, lastVotedView: head, lastProposedView: head, lastTimeout: null, lockedQc: justify, highQc: justify, highTc: null }),
  );
  return { head, headHash: parentHash, blocks };
}
