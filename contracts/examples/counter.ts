// Counter: the smallest useful contract.
//   increment()      count += 1, outputs the new count (decimal text)
//   add(input: "N")  count += N (decimal u64), reverts on overflow, outputs the new count
//   get()            outputs the count
import { context, storage, util } from "cairn";

const KEY = "count";

export function increment(): void {
  const n = storage.getU64(KEY); // 0 when absent
  storage.setU64(KEY, n + 1);
  context.outputString((n + 1).toString());
}

export function add(): void {
  const by = util.parseU64(context.inputString());
  const n = storage.getU64(KEY);
  if (n + by < n) context.revert("counter overflow");
  storage.setU64(KEY, n + by);
  context.outputString((n + by).toString());
}

export function get(): void {
  context.outputString(storage.getU64(KEY).toString());
}
