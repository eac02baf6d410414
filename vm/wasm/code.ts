/**
 * Instruction stream decoding: reads one instruction at a time from a function body, checking that opcodes are
 * known and immediates are well-formed LEB128. Index ranges and typing are the validator's job (vm/validate.ts);
 * the instrumenter reuses this reader on already-validated bodies.
 */

import { VmError } from "../errors.ts";
import { ByteReader } from "./bytes.ts";
import { FC_BASE, FC_COUNT, Imm, OPS, opName } from "./opcodes.ts";

export class InstrReader {
  readonly r: ByteReader;
  /** Names the function in error messages, e.g. `function 7 (export "run")`. */
  readonly where: string;
  /** Opcode of the instruction just read (FC_BASE + n for 0xFC-prefixed). */
  op = 0;
  /** Absolute offset of the instruction's first byte. */
  start = 0;
  /** First immediate: label, function/type/local/global/data index, block type, memarg align, i32 constant. */
  a = 0;
  /** Second immediate: memarg offset. */
  b = 0;
  /** br_table: the non-default targets (the default is in `a`). Reused between instructions. */
  readonly targets: number[] = [];
  private readonly maxBrTableTargets: number;

  constructor(bytes: Uint8Array, start: number, end: number, where: string, maxBrTableTargets: number) {
    this.r = new ByteReader(bytes, start, end, where);
    this.where = where;
    this.maxBrTableTargets = maxBrTableTargets;
  }

  fail(message: string, at = this.start): VmError {
    return new VmError("invalid_wasm", `${this.where}: ${message} (at byte ${at})`);
  }

  get pos(): number {
    return this.r.pos;
  }

  atEnd(): boolean {
    return this.r.atEnd();
  }

  /** Decode the next instruction; throws VmError on unknown/refused opcodes or malformed immediates. */
  next(): void {
    const r = this.r;
    this.start = r.pos;
    if (r.atEnd()) throw this.fail("function body ends without its final `end`");
    let op = r.u8();
    if (op === 0xfc) {
      const sub = r.u32();
      if (sub >= FC_COUNT) throw this.fail(`unknown opcode 0xfc ${sub}`);
      op = FC_BASE + sub;
    } else if (op === 0xfd) {
      throw this.fail("SIMD instruction (0xfd prefix) is not allowed");
    } else if (op === 0xfe) {
      throw this.fail("threads/atomics instruction (0xfe prefix) is not allowed");
    }
    const info = OPS[op];
    if (info === undefined) throw this.fail(`unknown opcode ${opName(op)}`);
    this.op = op;
    switch (info.imm) {
      case Imm.None:
        return;
      case Imm.BlockType: {
        const at = r.pos;
        this.a = r.s33();
        // a value type (negative) is one byte; only type indices (>= 0) use the longer s33 encoding
        if (this.a < 0 && r.pos - at !== 1) throw this.fail("block type: a value type must be a single byte");
        return;
      }
      case Imm.Label:
      case Imm.Func:
      case Imm.Local:
      case Imm.Global:
      case Imm.Data:
        this.a = r.u32();
        return;
      case Imm.BrTable: {
        const n = r.u32();
        if (n > this.maxBrTableTargets) throw this.fail(`br_table with ${n} targets exceeds the limit ${this.maxBrTableTargets}`);
        const t = this.targets;
        t.length = 0;
        for (let i = 0; i < n; i++) t.push(r.u32());
        this.a = r.u32();
        return;
      }
      case Imm.CallIndirect:
        this.a = r.u32();
        if (r.u8() !== 0x00) throw this.fail("call_indirect must use table 0 encoded as a single 0x00 byte");
        return;
      case Imm.MemArg:
        this.a = r.u32();
        this.b = r.u32();
        return;
      case Imm.MemZero:
        if (r.u8() !== 0x00) throw this.fail(`${info.name} must use memory 0 encoded as a single 0x00 byte`);
        return;
      case Imm.MemCopy:
        if (r.u8() !== 0x00 || r.u8() !== 0x00) throw this.fail("memory.copy must use memory 0 encoded as 0x00 0x00");
        return;
      case Imm.MemInit:
        this.a = r.u32();
        if (r.u8() !== 0x00) throw this.fail("memory.init must use memory 0 encoded as a single 0x00 byte");
        return;
      case Imm.I32Const:
        this.a = r.s32();
        return;
      case Imm.I64Const:
        r.skipS64();
        return;
      case Imm.F32Const:
        r.skip(4);
        return;
      case Imm.F64Const:
        r.skip(8);
        return;
      case Imm.Banned:
        throw this.fail(`${info.name} is not allowed (${info.banned ?? "unsupported feature"})`);
    }
  }
}
