// Entry of a signature-verification worker. Its sources are TypeScript: register tsx's loader first, as
// bin/cairn.mjs does, so the worker starts the same way under node, tsx and the test runner.
import { register } from "tsx/esm/api";

register();
await import("./verify-worker.ts");
