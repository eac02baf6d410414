// Every value Cairn hashes, signs, stores or sends, defined once as a codec (binary + JSON + schema).
// Formats follow ParallelChain F's Tables 1 and 2, extended for gas, chain ids and quorum certificates.

import {
  bytes,
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
  type Infer,
} from "./codec.ts";

export const LIMITS = {
  /** Input bytes of one invocation; deploys carry their sources here, so it is generous. */
  maxInputBytes: 512 * 1024,
  maxInvocationsPerBlock: 10_000,
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

/** Everything every validator must agree on before block 1. Its hash is the genesis block's parent. */
export const Genesis = struct({
  chainId: chainIdText,
  validators: list(ValidatorInfo, LIMITS.maxValidators),
  allocations: list(GenesisAllocation, 100_000),
});
export type Genesis = Infer<typeof Genesis>;

export const BUILTIN_BANK = "bank";
export const BUILTIN_DEPLOY = "deploy";
