// The Cairn client SDK. Browser-safe: fetch, @noble/*, the codec and the noble half of node/crypto only.
export { Client, type ClientOptions, type StatusView, type AccountView, type BlockView, type Pending, type Displaced, type Expired, type QueryOptions, type QueryResultView, type InvokeOptions, type DeployOptions, type TransferOptions, type SubmitItemResult } from "./client.ts";
export { Keypair, toKeypair, toPublicKey, type KeyLike } from "./keypair.ts";
export { ClientError, AlreadyCommittedError, DisplacedError, ExpiredError, type ClientErrorExtra } from "./errors.ts";
export { signInvocation, invocationIdHex, type UnsignedFields } from "./invocation.ts";
export { BANK, DEPLOY, BUILTIN_VERSION, DEFAULT_TOOLCHAIN, DEFAULT_GAS } from "./builtins.ts";
export type { Receipt, Block, SignedInvocation, Invocation, SourceFile, ContractVersionInfo } from "../codec/types.ts";
