// Fail fast: the one way any part of a validator stops it. An invariant that does not hold, a storage failure
// or an error nobody expected ends the validator with one fatal log line; the process exits and the next start
// recovers from the store. Nothing after the first fatal error is carried out.

import type { Logger } from "./ports.ts";

export class Halt {
  private cause: Error | null = null;
  private readonly listeners: Array<(e: Error) => void> = [];

  constructor(private readonly log: Logger) {}

  /** The error that stopped this validator, or null while it runs. */
  get error(): Error | null {
    return this.cause;
  }

  get halted(): boolean {
    return this.cause !== null;
  }

  /** Stops the validator because of `e`, found while doing `where`. Only the first call counts. */
  fatal(where: string, e: unknown): void {
    if (this.cause !== null) return;
    const err = e instanceof Error ? e : new Error(String(e));
    this.cause = err;
    const code = (err as { code?: unknown }).code;
    this.log.error("fatal", { where, error: err.message, ...(typeof code === "string" ? { code } : {}) });
    for (const l of this.listeners) l(err);
  }

  /** Runs `fn` on the fatal error (at once if it already happened). */
  onFatal(fn: (e: Error) => void): void {
    if (this.cause !== null) fn(this.cause);
    else this.listeners.push(fn);
  }

  /** A rejection handler for work nobody awaits: its failure stops the validator instead of vanishing. */
  guard(where: string): (e: unknown) => void {
    return (e) => this.fatal(where, e);
  }
}
