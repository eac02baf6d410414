// Entry of the compile worker thread (started with no inherited loader flags).
// The compiler is loaded first, natively: through tsx's loader its 13 MB of JavaScript would be re-transformed
// on every start (seconds). Then tsx is registered so the worker's own TypeScript sources load as in the rest
// of the project; the compiler is already in the module map and is not loaded again.
import "assemblyscript/asc";
import { register } from "tsx/esm/api";

register();
await import("./compile-worker.ts");
