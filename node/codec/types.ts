// Every value Cairn hashes, signs, stores or sends, defined once as a codec (binary + JSON + schema).
// Formats follow ParallelChain F's Tables 1 and 2, extended for gas, chain ids and quorum certificates.

import {
  bytes,
  CodecError,
  enumeration,
  fixedBytes,
  list,
  optionalField,
  rememberingEncoding,
  struct,
  text,
  u16,
  u32,
  u64,
  union,
  type Codec,
  type Infer,
} from "./codec.ts";

export const LIMITS = {
  /** Input bytes of one invocation; deploys carry their sources here, so it is generous. */
  maxInputBytes: 512 * 1024,
  maxInvocationsPerBlock: 10_000,
  /**
   * Deploys in one block (a validity rule): a validator that did not compile a deploy at admission compiles it
   * before the block's execution can go on, each compile bounded (vm/compile-limits.ts) but seconds at worst.
   */
  maxDeploysPerBlock: 2,
  maxValidators: 1024,
  maxKeyBytes: 1024,
  maxValueBytes: 256 * 1024,
  maxOutputBytes: 64 * 1024,
  maxErrorBytes: 1024,
  maxSourceFiles: 64,
  maxSourceBytes: 256 * 1024,
  maxReadsWrites: 65_536,
} as const;

export const BLOCK_FORMAT_VERSION = 1;

export const bytes32 = fixedBytes(32);
export const bytes64 = fixedBytes(64);

/** Chain ids and contract names are short, lowercase and printable, so they read well in URLs and logs. */
export const chainIdText = text(64, /^[a-z0-9][a-z0-9._-]{0,63}$/);
export const contractName = text(64, /^[a-z][a-z0-9_-]{0,63}$/);
export const methodName = text(64, /^[A-Za-z_][A-Za-z0-9_]{0,63}$/);

const invocationFields = {
  chainId: chainIdText,
  contract: contractName,
  version: u32,
  method: methodName,
  input: bytes(LIMITS.maxInputBytes),
  invoker: bytes32,
  nonce: u64,
  gasLimit: u64,
  gasPrice: u64,
};

/** What the invoker signs (Table 1 plus chain id and gas). */
export const Invocation = struct(invocationFields);
export type Invocation = Infer<typeof Invocation>;

/** The signed form travels and is stored; its encoding is the unsigned encoding followed by the signature. */
export const SignedInvocation = rememberingEncoding(struct({ ...invocationFields, signature: bytes64 }));
export type SignedInvocation = Infer<typeof SignedInvocation>;

export const QcSignature = struct({ signer: u16, signature: bytes64 });
export type QcSignature = Infer<typeof QcSignature>;

/**
 * n - f distinct validators' signatures over (chain id, view, block hash). Signers are validator indexes
 * into the genesis validator list, strictly increasing so that one certificate has one encoding.
 * The genesis certificate (view 0, zero hash, no signatures) is the only one accepted without signatures.
 */
export const QuorumCertificate = struct({
  view: u64,
  blockHash: bytes32,
  signatures: list(QcSignature, LIMITS.maxValidators),
});
export type QuorumCertificate = Infer<typeof QuorumCertificate>;

export const BlockHeader = struct({
  formatVersion: u16,
  chainId: chainIdText,
  height: u64,
  view: u64,
  proposer: bytes32,
  parentHash: bytes32,
  justify: QuorumCertificate,
  invocationsRoot: bytes32,
  /** State commitment after executing the parent block: a diverged validator finds out one block later. */
  stateRoot: bytes32,
});
export type BlockHeader = Infer<typeof BlockHeader>;

export const Block = rememberingEncoding(
  struct({
    header: BlockHeader,
    invocations: list(SignedInvocation, LIMITS.maxInvocationsPerBlock),
  }),
);
export type Block = Infer<typeof Block>;

export const RECEIPT_STATUSES = ["ok", "reverted", "out_of_gas", "trap", "invalid", "rejected"] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

export const KeyValue = struct({ key: bytes(LIMITS.maxKeyBytes), value: bytes(LIMITS.maxValueBytes) });
export type KeyValue = Infer<typeof KeyValue>;

export const Receipt = struct({
  id: bytes32,
  status: enumeration(RECEIPT_STATUSES),
  gasUsed: u64,
  fee: u64,
  output: bytes(LIMITS.maxOutputBytes),
  error: optionalField(text(LIMITS.maxErrorBytes)),
  height: u64,
  index: u32,
  reads: list(bytes(LIMITS.maxKeyBytes), LIMITS.maxReadsWrites),
  writes: list(KeyValue, LIMITS.maxReadsWrites),
});
export type Receipt = Infer<typeof Receipt>;

/**
 * The binary form of the batch route (Content-Type / Accept: BINARY_MEDIA_TYPE): the canonical encodings the
 * validators use among themselves, so a high-rate client pays no hex, JSON or schema work on either side.
 */
export const BINARY_MEDIA_TYPE = "application/octet-stream";

/** A batch of signed invocations, as POSTed in binary. */
export const InvocationBatch = list(SignedInvocation, LIMITS.maxInvocationsPerBlock);
export type InvocationBatch = Infer<typeof InvocationBatch>;

/** One item's outcome in a binary batch answer: the same four cases as the JSON answer's `results[i]`. */
export const SubmitOutcome = union({
  refused: struct({ code: text(64), message: text(LIMITS.maxErrorBytes) }),
  admitted: struct({ id: bytes32 }),
  /** ?wait=true and not committed before the timeout. */
  pending: struct({ id: bytes32 }),
  /** ?wait=true: committed, with its receipt (which names the id). */
  committed: Receipt,
});
export type SubmitOutcome = Infer<typeof SubmitOutcome>;

export const SubmitOutcomes = list(SubmitOutcome, LIMITS.maxInvocationsPerBlock);

export const Account = struct({ balance: u64, nonce: u64 });
export type Account = Infer<typeof Account>;

export const SourceFile = struct({ path: text(256, /^[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}$/), content: text(LIMITS.maxSourceBytes) });
export type SourceFile = Infer<typeof SourceFile>;

/** Input of the built-in `deploy` contract. */
export const DeployPayload = struct({
  name: contractName,
  version: u32,
  toolchain: text(64),
  entry: text(256),
  sources: list(SourceFile, LIMITS.maxSourceFiles),
});
export type DeployPayload = Infer<typeof DeployPayload>;

/** Input of the built-in `bank` contract's `transfer`. */
export const TransferPayload = struct({ to: bytes32, amount: u64 });
export type TransferPayload = Infer<typeof TransferPayload>;

/** What the state keeps about one deployed version (sources are stored beside it under their own key). */
export const ContractVersionInfo = struct({
  name: contractName,
  version: u32,
  owner: bytes32,
  toolchain: text(64),
  entry: text(256),
  codeHash: bytes32,
  sourcesHash: bytes32,
  deployedAt: u64,
});
export type ContractVersionInfo = Infer<typeof ContractVersionInfo>;

export const ValidatorInfo = struct({ publicKey: bytes32, name: text(64) });
export type ValidatorInfo = Infer<typeof ValidatorInfo>;

export const GenesisAllocation = struct({ account: bytes32, balance: u64 });

const GenesisCore = struct({
  chainId: chainIdText,
  validators: list(ValidatorInfo, LIMITS.maxValidators),
  allocations: list(GenesisAllocation, 100_000),
});

/**
 * Everything every validator must agree on before block 1. Its hash is the genesis block's parent.
 * `minGasPrice` is the chain's fee floor: an invocation priced below it is refused at admission and rejected at
 * execution. Absent means 0, the rule of chains created before the floor existed.
 */
export type Genesis = Infer<typeof GenesisCore> & { minGasPrice?: bigint };

/**
 * The genesis codec: the three core fields, then the floor as a trailing u64 only when it is above 0. A genesis
 * without a floor (or with floor 0) thus encodes, and hashes, exactly as it did before the field existed, so an
 * existing chain keeps its genesis hash; a trailing 0 is refused, keeping one encoding per value. The trailing
 * form needs the value to be the whole input, which holds: a genesis is only ever hashed or decoded on its own.
 * In JSON the field may be left out (read as absent, floor 0).
 */
export const Genesis: Codec<Genesis> = {
  fixedSize: undefined,
  write: (w, v) => {
    GenesisCore.write(w, v);
    const floor = v.minGasPrice ?? 0n;
    if (floor !== 0n) u64.write(w, floor);
  },
  read: (r, path) => {
    const core: Genesis = GenesisCore.read(r, path);
    if (r.remaining === 0) return core;
    const floor = u64.read(r, r.sub(path, ".minGasPrice"));
    if (floor === 0n) throw new CodecError("malformed_encoding", `${path}.minGasPrice: a floor of 0 is encoded by leaving it out`);
    core.minGasPrice = floor;
    return core;
  },
  toJson: (v) => {
    const json = GenesisCore.toJson(v) as Record<string, unknown>;
    if (v.minGasPrice !== undefined) json.minGasPrice = u64.toJson(v.minGasPrice);
    return json;
  },
  fromJson: (j, path) => {
    if (typeof j !== "object" || j === null || Array.isArray(j)) return GenesisCore.fromJson(j, path);
    const { minGasPrice, ...core } = j as Record<string, unknown>;
    const g: Genesis = GenesisCore.fromJson(core, path);
    if (minGasPrice !== undefined) g.minGasPrice = u64.fromJson(minGasPrice, `${path}.minGasPrice`);
    return g;
  },
  schema: () => {
    const core = GenesisCore.schema();
    return { ...core, properties: { ...(core.properties as object), minGasPrice: u64.schema() } };
  },
};

/** The chain's fee floor: the lowest gas price an invocation may carry (0 for a genesis without one). */
export function minGasPriceOf(genesis: Genesis): bigint {
  return genesis.minGasPrice ?? 0n;
}

export const BUILTIN_BANK = "bank";
export const BUILTIN_DEPLOY = "deploy";
