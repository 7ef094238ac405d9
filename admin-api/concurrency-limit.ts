/** Runs at most `max` of the functions given at once; the others wait their turn, first come first served. */
export interface ConcurrencyLimit {
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Starts everything waiting now, and all later work at once: the limit is off (at shutdown, say). */
  lift(): void;
  /** Running now, and waiting. */
  readonly running: number;
  readonly waiting: number;
}

export function createConcurrencyLimit(max: number): ConcurrencyLimit {
  let running = 0;
  let lifted = false;
  const queue: Array<() => void> = [];
  const release = (): void => {
    const next = queue.shift();
    // The slot passes straight to the next in line, so nothing can take it in between.
    if (next) next();
    else running -= 1;
  };
  return {
    async run(work) {
      if (running < max || lifted) running += 1;
      else await new Promise<void>((resolve) => queue.push(resolve));
      try {
        return await work();
      } finally {
        release();
      }
    },
    lift() {
      lifted = true;
      while (queue.length > 0) {
        running += 1;
        queue.shift()!();
      }
    },
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
  };
}
