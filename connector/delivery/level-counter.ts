/**
 * A count that callers can wait on to fall to a level: the deliverer's
 * backpressure (tasks buffered, attempt records not yet written) and its
 * drain at shutdown. Waiters by level rather than a promise per item: the
 * count moves once per delivery.
 */
export interface LevelCounter {
  readonly value: number;
  add(delta: number): void;
  /** Resolves once the count is at most `level`. */
  below(level: number): Promise<void>;
}

export function createLevelCounter(): LevelCounter {
  let value = 0;
  let waiters: Array<{ level: number; resolve: () => void }> = [];
  return {
    get value() {
      return value;
    },
    add(delta) {
      value += delta;
      if (delta >= 0 || waiters.length === 0) return;
      const still: typeof waiters = [];
      for (const waiter of waiters) {
        if (value <= waiter.level) waiter.resolve();
        else still.push(waiter);
      }
      waiters = still;
    },
    below(level) {
      return value <= level ? Promise.resolve() : new Promise((resolve) => waiters.push({ level, resolve }));
    },
  };
}
