#!/usr/bin/env node
// The `cairn` command. Sources are TypeScript; tsx's loader compiles them on the fly so that the
// command works straight after `npm ci`, with no build step to forget.
import { register } from "tsx/esm/api";

register();
await import("../node/cli/main.ts");
