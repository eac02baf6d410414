// npm run chaos -- [--cycles N] [--seed S] [--keep]
// A chaos run against 4 real validator processes (see runner.ts). Prints a line per fault as it happens, the
// seed first (the same seed draws the same schedule), the checks, and last:
//   chaos: cycles=C acknowledged=A lost=L mismatched=M supply_ok=true|false longest_stall_s=S
// Exit code 1 when anything acknowledged was lost or changed, supply is not conserved, or another check
// failed (divergence, a fatal error, a validator exit the run did not cause, a stuck validator); 2 for bad
// arguments.

import { parseArgs } from "node:util";
import { runChaos } from "./runner.ts";

function main(): Promise<number> {
  let values: { cycles?: string; seed?: string; keep?: boolean };
  try {
    values = parseArgs({ options: { cycles: { type: "string" }, seed: { type: "string" }, keep: { type: "boolean" } } }).values;
  } catch (e) {
    process.stderr.write(`chaos: ${(e as Error).message}\nusage: npm run chaos -- [--cycles N] [--seed S] [--keep]\n`);
    return Promise.resolve(2);
  }
  const cycles = Number(values.cycles ?? 10);
  // Without --seed, one is drawn; it is printed first so the run can be repeated.
  const seed = values.seed === undefined ? crypto.getRandomValues(new Uint32Array(1))[0]! : Number(values.seed);
  if (!Number.isInteger(cycles) || cycles < 1) {
    process.stderr.write("chaos: --cycles must be a positive whole number\n");
    return Promise.resolve(2);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    process.stderr.write("chaos: --seed must be a whole number from 0 to 4294967295\n");
    return Promise.resolve(2);
  }
  const log = (line: string): void => void process.stdout.write(line + "\n");
  return runChaos({ cycles, seed, log, keep: values.keep }).then((r) => {
    log(r.lastLine);
    return r.lost > 0 || r.mismatched > 0 || !r.supplyOk || r.failures.length > 0 ? 1 : 0;
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: run failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
