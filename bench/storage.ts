// npm run bench:storage — bytes per committed invocation on a validator's disk after a full compaction, by key
// space. Commits a load through the real executor and the real RocksDB store in a temp folder, the way a
// validator does (block bytes and its 'P' entry ride a safety-state write as ConsensusLog.putSafety does, then
// Executor.executeBlock + Executor.commitBlock(hash, qc) as the commit pipeline calls it, then the 'P' entry is
// dropped), on a 4-validator genesis so that every QC (the header's justify and the stored 'Q') carries the
// n - f = 3 signatures a real one does.
//
// Load: a setup of one token deploy and one mint per account, then LOAD invocations in blocks of BLOCK, half
// native bank transfers and half token-contract transfers (the example token, compiled by the pinned
// toolchain), senders round-robin over ACCOUNTS funded accounts, recipients drawn by a seeded PRNG.
//
// Then: the store is closed, the folder is opened with the same `rocksdb` binding (the engine in
// node/store/rocks.ts does not expose compactRange; this file does not change it) and compacted over the whole
// key space, per-table on-disk size is read with approximateSize, and *.sst and the whole folder are summed
// once it is closed again. Each table's range is then iterated for entries and key/value bytes, and blocks
// and receipts are decoded for a breakdown of what their bytes are.
//
// Figures are taken twice: after the setup and after the load, so the load's own cost (steady state, no
// new accounts) is reported apart from the totals.
//
// Lines: `storage table=<name> entries=N key_bytes=K value_bytes=V per_invocation=B sst_bytes=S load_per_invocation=L`
// (per_invocation over every committed invocation; load_per_invocation = growth during the load / LOAD), then
// breakdown lines, and last
// `storage: invocations=N disk_bytes=D disk_per_invocation=X logical_per_invocation=Y load_disk_per_invocation=Z load_logical_per_invocation=W`.
//
//   npm run bench:storage [-- --load 20000] [--block 100] [--accounts 1000] [--keep]

import { readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { decode, encode } from "../node/codec/codec.ts";
import { SafetyState } from "../node/codec/consensus.ts";
import { toHex, utf8 } from "../node/codec/hex.ts";
import {
  BLOCK_FORMAT_VERSION,
  Block,
  BlockHeader,
  DeployPayload,
  QuorumCertificate,
  Receipt,
  SignedInvocation,
  type Block as BlockT,
  type Genesis,
  type QuorumCertificate as QcT,
} from "../node/codec/types.ts";
import { blockHash, invocationsRoot } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { Executor } from "../node/exec/executor.ts";
import { RealContractVm } from "../node/exec/vm-adapter.ts";
import { ConsensusLog } from "../node/store/consensus-log.ts";
import { TABLE, keys } from "../node/store/keys.ts";
import { RocksDb, WRITE_BUFFER_BYTES } from "../node/store/rocks.ts";
import { Store } from "../node/store/store.ts";
import { CHAIN_ID, sign, signedQc, signer, tempDir, transfer } from "../test/fixtures/exec/chain.ts";
import { Rng } from "../test/sim/prng.ts";

const { values: args } = parseArgs({
  options: {
    load: { type: "string", default: "20000" },
    block: { type: "string", default: "100" },
    accounts: { type: "string", default: "1000" },
    keep: { type: "boolean", default: false },
  },
});
const LOAD = Number(args.load);
const BLOCK = Number(args.block);
const ACCOUNTS = Number(args.accounts);
const VALIDATORS = 4;
const QUORUM = 3; // n - f for n = 4

interface RawDb {
  open(options: Record<string, unknown>, cb: (err?: Error | null) => void): void;
  close(cb: (err?: Error | null) => void): void;
  compactRange(start: Buffer, end: Buffer, cb: (err?: Error | null) => void): void;
  approximateSize(start: Buffer, end: Buffer, cb: (err: Error | null | undefined, size?: number) => void): void;
  getProperty(name: string): string;
}
const require = createRequire(import.meta.url);
const rocksdb = require("rocksdb") as (location: string) => RawDb;

function cb<T = void>(f: (done: (err?: Error | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
}

const TABLES: Array<[string, number]> = Object.entries(TABLE).sort((a, b) => a[1] - b[1]);

interface TableFigures {
  entries: number;
  keyBytes: number;
  valueBytes: number;
  sstBytes: number;
}

interface Breakdown {
  // blocks ('B'): header vs invocations, and inside the invocations
  blocks: number;
  headerBytes: number;
  justifyBytes: number;
  invListBytes: number;
  invCount: number;
  invSignature: number;
  invInvoker: number;
  invInput: number;
  invFixed: number; // chainId, contract, version, method, nonce, gas fields with their length prefixes
  // receipts ('R')
  receipts: number;
  rId: number;
  rHeightIndex: number;
  rStatusGasFee: number;
  rOutput: number;
  rError: number;
  rReads: number;
  rWrites: number;
  rWritesValues: number;
}

interface Measure {
  tables: Map<string, TableFigures>;
  sst: number;
  dir: number;
  breakdown: Breakdown;
  invocations: number;
  blocks: number;
}

function dirFiles(path: string): { sst: number; total: number; files: string[] } {
  let sst = 0;
  let total = 0;
  const files: string[] = [];
  for (const name of readdirSync(path)) {
    const s = statSync(join(path, name));
    total += s.size;
    if (name.endsWith(".sst")) sst += s.size;
    files.push(`${name}:${s.size}`);
  }
  return { sst, total, files };
}

/** Compacts the closed store's folder over the whole key space, then measures it (disk and logical). */
async function measure(path: string): Promise<Measure> {
  const raw = rocksdb(path);
  // The options node/store/rocks.ts opens with, so compaction writes the files a validator's would.
  await cb((d) => raw.open({ createIfMissing: false, compression: false, writeBufferSize: WRITE_BUFFER_BYTES }, d));
  // Every key starts with a table byte below 0x60 (keys.ts); [0x00, 0xff..] covers them all. CompactRange
  // flushes the memtable first (RocksDB's CompactRangeOptions default) and rewrites everything to the last level.
  await cb((d) => raw.compactRange(Buffer.from([0x00]), Buffer.alloc(16, 0xff), d));
  const sstBy = new Map<string, number>();
  for (const [name, t] of TABLES) {
    sstBy.set(name, await cb<number>((d) => raw.approximateSize(Buffer.from(keys.table(t)), Buffer.from(keys.table(t + 1)), d)));
  }
  const levels = [0, 1, 2, 3, 4, 5, 6].map((l) => raw.getProperty(`rocksdb.num-files-at-level${l}`)).join(",");
  await cb((d) => raw.close(d));
  const files = dirFiles(path);
  console.log(`storage-debug files_per_level=${levels} files=${files.files.join(" ")}`);

  const db = await RocksDb.open(path, { createIfMissing: false });
  const tables = new Map<string, TableFigures>();
  const bd: Breakdown = {
    blocks: 0, headerBytes: 0, justifyBytes: 0, invListBytes: 0, invCount: 0, invSignature: 0, invInvoker: 0, invInput: 0, invFixed: 0,
    receipts: 0, rId: 0, rHeightIndex: 0, rStatusGasFee: 0, rOutput: 0, rError: 0, rReads: 0, rWrites: 0, rWritesValues: 0,
  };
  for (const [name, t] of TABLES) {
    const f: TableFigures = { entries: 0, keyBytes: 0, valueBytes: 0, sstBytes: sstBy.get(name)! };
    for await (const [k, v] of db.iterate({ gte: keys.table(t), lt: keys.table(t + 1) })) {
      f.entries++;
      f.keyBytes += k.length;
      f.valueBytes += v.length;
      if (t === TABLE.block) {
        const b = decode(Block, v);
        bd.blocks++;
        const hb = encode(BlockHeader, b.header).length;
        bd.headerBytes += hb;
        bd.justifyBytes += encode(QuorumCertificate, b.header.justify).length;
        bd.invListBytes += v.length - hb;
        for (const inv of b.invocations) {
          const n = encode(SignedInvocation, inv).length;
          bd.invCount++;
          bd.invSignature += 64;
          bd.invInvoker += 32;
          bd.invInput += 4 + inv.input.length;
          bd.invFixed += n - 64 - 32 - 4 - inv.input.length;
        }
      } else if (t === TABLE.receipt) {
        const r = decode(Receipt, v);
        bd.receipts++;
        bd.rId += 32;
        bd.rHeightIndex += 12;
        bd.rStatusGasFee += 17;
        bd.rOutput += 4 + r.output.length;
        bd.rError += 1 + (r.error === null ? 0 : 4 + utf8(r.error).length);
        bd.rReads += 4 + r.reads.reduce((s, x) => s + 4 + x.length, 0);
        bd.rWrites += 4 + r.writes.reduce((s, x) => s + 8 + x.key.length + x.value.length, 0);
        bd.rWritesValues += r.writes.reduce((s, x) => s + x.value.length, 0);
      }
    }
    tables.set(name, f);
  }
  await db.close();
  return { tables, sst: files.sst, dir: files.total, breakdown: bd, invocations: bd.invCount, blocks: bd.blocks };
}

async function main(): Promise<void> {
  const validators = Array.from({ length: VALIDATORS }, (_, i) => signer(200 + i));
  const owner = signer(1);
  // Two-byte seeds: signer(byte) has only 256 distinct keys.
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => {
    const seed = new Uint8Array(32);
    seed[0] = 0xa5;
    seed[1] = i & 0xff;
    seed[2] = i >> 8;
    return new SodiumSigner(seed);
  });
  const genesis: Genesis = {
    chainId: CHAIN_ID,
    validators: validators.map((v, i) => ({ publicKey: v.publicKey, name: `v${i}` })),
    allocations: [owner, ...accounts].map((k) => ({ account: k.publicKey, balance: 10n ** 15n })),
    minGasPrice: 1n,
  };
  const vm = new RealContractVm();
  const dir = tempDir("storage");
  let store = await Store.open(dir.path, { syncCommits: false });
  let ex = await Executor.open(store, { genesis, vm });
  let clog = new ConsensusLog(store);
  let head: BlockT = ex.genesisBlock;
  let headQc: QcT = { view: 0n, blockHash: blockHash(head.header), signatures: [] };
  let view = 0n;
  let committedInvocations = 0;
  const nonces = new Map<string, bigint>();
  const next = (k: SodiumSigner): bigint => {
    const h = toHex(k.publicKey);
    const n = nonces.get(h) ?? 0n;
    nonces.set(h, n + 1n);
    return n;
  };

  const commit = async (invs: ReturnType<typeof sign>[]): Promise<void> => {
    view++;
    const parentHash = blockHash(head.header);
    const root = ex.rootOf(parentHash) ?? ex.head().stateRoot;
    const block: BlockT = {
      header: {
        formatVersion: BLOCK_FORMAT_VERSION,
        chainId: CHAIN_ID,
        height: head.header.height + 1n,
        view,
        proposer: validators[Number(view % BigInt(VALIDATORS))]!.publicKey,
        parentHash,
        justify: headQc,
        invocationsRoot: invocationsRoot(invs),
        stateRoot: root,
      },
      invocations: invs,
    };
    const hash = blockHash(block.header);
    const qc = signedQc(CHAIN_ID, view, hash, validators.slice(0, QUORUM));
    // As a validator: the block rides the safety write of its vote, is executed, then committed with its QC.
    const safety = encode(SafetyState, { view: view + 1n, lastVotedView: view, lastProposedView: view, lastTimeout: null, lockedQc: headQc, highQc: qc, highTc: null });
    await clog.putSafety(safety, [{ block, hash }]);
    const executed = await ex.executeBlock(block, { has: () => true });
    const bad = executed.receipts.filter((r) => r.status !== "ok");
    if (bad.length > 0) throw new Error(`${bad.length} receipts not ok at height ${block.header.height}, e.g. ${bad[0]!.status} ${bad[0]!.error}`);
    await ex.commitBlock(hash, qc);
    await clog.dropPending([{ height: block.header.height, hash, committed: true }]);
    committedInvocations += invs.length;
    head = block;
    headQc = qc;
  };

  const reopen = async (what: string): Promise<Measure> => {
    // One more safety write carries the deferred 'P' deletions, as the next view's vote would.
    await clog.putSafety(encode(SafetyState, { view: view + 1n, lastVotedView: view, lastProposedView: view, lastTimeout: null, lockedQc: headQc, highQc: headQc, highTc: null }));
    await ex.close();
    await store.close();
    const t0 = performance.now();
    const m = await measure(dir.path);
    console.log(`storage-debug measured ${what} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    store = await Store.open(dir.path, { syncCommits: false });
    ex = await Executor.open(store, { genesis, vm });
    clog = new ConsensusLog(store);
    return m;
  };

  const t0 = performance.now();
  // Setup: deploy the example token, mint to every account.
  const source = readFileSync(new URL("../contracts/examples/token.ts", import.meta.url), "utf8");
  await commit([
    sign(owner, {
      contract: "deploy",
      method: "deploy",
      nonce: next(owner),
      gasLimit: 100_000_000n,
      input: encode(DeployPayload, { name: "token", version: 1, toolchain: "asc-0.28.20+sdk-2", entry: "token.ts", sources: [{ path: "token.ts", content: source }] }),
    }),
  ]);
  for (let i = 0; i < ACCOUNTS; i += BLOCK) {
    await commit(
      accounts.slice(i, i + BLOCK).map((k) => sign(owner, { contract: "token", method: "mint", nonce: next(owner), gasLimit: 200_000n, input: utf8(`${toHex(k.publicKey)} 1000000000`) })),
    );
  }
  const setupInvocations = committedInvocations;
  const before = await reopen("after setup");

  const rng = new Rng(21);
  let sent = 0;
  while (sent < LOAD) {
    const n = Math.min(BLOCK, LOAD - sent);
    const invs = [];
    for (let i = 0; i < n; i++, sent++) {
      const from = accounts[sent % ACCOUNTS]!;
      let to = accounts[Math.floor(rng.float() * ACCOUNTS)]!;
      if (to === from) to = accounts[(sent + 1) % ACCOUNTS]!;
      const amount = BigInt(1 + Math.floor(rng.float() * 1000));
      invs.push(
        sent % 2 === 0
          ? transfer(from, to.publicKey, amount, next(from), { gasLimit: 10_000n })
          : sign(from, { contract: "token", method: "transfer", nonce: next(from), gasLimit: 200_000n, input: utf8(`${toHex(to.publicKey)} ${amount}`) }),
      );
    }
    await commit(invs);
  }
  const loadMs = performance.now() - t0;
  const after = await reopen("after load");
  await ex.close();
  await store.close();

  const N = after.invocations;
  if (N !== committedInvocations) throw new Error(`blocks hold ${N} invocations, ${committedInvocations} were committed`);
  console.log(
    `storage-debug committed ${N} invocations (setup ${setupInvocations}: 1 deploy + ${ACCOUNTS} mints; load ${LOAD}: half bank, half token) ` +
      `in ${after.blocks - 1} blocks of up to ${BLOCK} on ${VALIDATORS} validators (QCs of ${QUORUM} signatures), ${(loadMs / 1000).toFixed(1)} s`,
  );
  const per = (x: number, n: number): string => (x / n).toFixed(1);
  let logical = 0;
  let loadLogical = 0;
  for (const [name] of TABLES) {
    const a = after.tables.get(name)!;
    const b = before.tables.get(name)!;
    const bytes = a.keyBytes + a.valueBytes;
    const grown = bytes - (b.keyBytes + b.valueBytes);
    logical += bytes;
    loadLogical += grown;
    console.log(
      `storage table=${name} entries=${a.entries} key_bytes=${a.keyBytes} value_bytes=${a.valueBytes} per_invocation=${per(bytes, N)} ` +
        `sst_bytes=${a.sstBytes} load_per_invocation=${per(grown, LOAD)} load_sst_per_invocation=${per(a.sstBytes - b.sstBytes, LOAD)}`,
    );
  }
  const bd = after.breakdown;
  const bb = before.breakdown;
  const d = (k: keyof Breakdown): string => per(bd[k] - bb[k], LOAD);
  console.log(
    `storage-breakdown block (per load invocation): header=${per(bd.headerBytes - bb.headerBytes, LOAD)} (of which justify QC ${d("justifyBytes")}) ` +
      `invocation=${per(bd.invListBytes - bb.invListBytes, LOAD)}: signature=${d("invSignature")} invoker=${d("invInvoker")} input=${d("invInput")} other_fields=${d("invFixed")}`,
  );
  console.log(
    `storage-breakdown receipt (per load invocation): id=${d("rId")} height+index=${d("rHeightIndex")} status+gas+fee=${d("rStatusGasFee")} ` +
      `output=${d("rOutput")} error=${d("rError")} reads=${d("rReads")} writes=${d("rWrites")} (values ${d("rWritesValues")})`,
  );
  console.log(
    `storage: invocations=${N} disk_bytes=${after.dir} disk_per_invocation=${per(after.dir, N)} logical_per_invocation=${per(logical, N)} ` +
      `sst_bytes=${after.sst} load_disk_per_invocation=${per(after.dir - before.dir, LOAD)} load_logical_per_invocation=${per(loadLogical, LOAD)}`,
  );
  if (args.keep) console.log(`storage-debug kept ${dir.path}`);
  else dir.cleanup();
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`storage-bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
