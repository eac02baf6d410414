// An AssemblyScript contract whose generic classes double at each level of nesting: level k's class
// instantiates level k-1 twice, once with each of two wrapper types around its own type argument, so the
// compiler must produce 2^(depth-k) distinct instantiations of level k. The source grows linearly with depth
// (about 100 bytes a level) while the compiler's work grows exponentially: the deploy the issue found to stall
// every validator.

/** The contract's source for a nesting depth (1 or more). */
export function nestedGenericsSource(depth: number): string {
  if (!Number.isInteger(depth) || depth < 1 || depth > 40) throw new RangeError(`depth must be 1 to 40, got ${depth}`);
  const lines = [
    `import { context } from "cairn";`,
    `class A<T> { v: T; constructor(v: T) { this.v = v; } }`,
    `class B<T> { v: T; w: i32 = 1; constructor(v: T) { this.v = v; } }`,
    `class G0<T> { v: T; constructor(v: T) { this.v = v; } n(): i32 { return sizeof<T>() as i32; } }`,
  ];
  for (let k = 1; k <= depth; k++) {
    const prev = `G${k - 1}`;
    lines.push(
      `class G${k}<T> { v: T; constructor(v: T) { this.v = v; } ` +
        `n(): i32 { return new ${prev}<A<T>>(new A<T>(this.v)).n() + new ${prev}<B<T>>(new B<T>(this.v)).n(); } }`,
    );
  }
  lines.push(`export function run(): void { context.outputString(new G${depth}<i32>(1).n().toString()); }`);
  return lines.join("\n") + "\n";
}
