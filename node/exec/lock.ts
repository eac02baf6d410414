// A FIFO mutex for async sections: execution never interleaves with the checks and re-basing of a commit.

export class Lock {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every section queued before it has settled (whether it resolved or rejected). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
