/**
 * Runs at most `maxTotal` functions at once, and at most `maxPerKey` of one
 * key (an organization): waiting work starts key by key in turn, each key's
 * own in the order it came. One key with a long line (an organization that
 * created hundreds of webhooks against a slow URL) then holds up neither the
 * slots nor the turn of the others.
 */
export interface FairLimit {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Starts everything waiting now, and all later work at once: the limit is off (at shutdown, say). */
  lift(): void;
  /** Running now, and waiting, in all or for one key. */
  running(key?: string): number;
  waiting(key?: string): number;
}

export function createFairLimit(maxTotal: number, maxPerKey: number): FairLimit {
  let lifted = false;
  let runningTotal = 0;
  const runningByKey = new Map<string, number>();
  /** Lines of waiting work by key, in turn order: a key served goes to the back. */
  const lines = new Map<string, Array<() => void>>();

  const mayStart = (key: string): boolean => lifted || (runningTotal < maxTotal && (runningByKey.get(key) ?? 0) < maxPerKey);
  const take = (key: string): void => {
    runningTotal += 1;
    runningByKey.set(key, (runningByKey.get(key) ?? 0) + 1);
  };
  const free = (key: string): void => {
    runningTotal -= 1;
    const left = (runningByKey.get(key) ?? 1) - 1;
    if (left === 0) runningByKey.delete(key);
    else runningByKey.set(key, left);
  };
  /** Starts waiting work while slots allow, the first key in turn that may start going first. */
  const dispatch = (): void => {
    for (;;) {
      let chosen: string | undefined;
      for (const key of lines.keys()) {
        if (mayStart(key)) {
          chosen = key;
          break;
        }
      }
      if (chosen === undefined) return;
      const line = lines.get(chosen)!;
      const next = line.shift()!;
      lines.delete(chosen);
      if (line.length > 0) lines.set(chosen, line);
      // The slot is taken here, before the work's turn comes: nothing can take it in between.
      take(chosen);
      next();
    }
  };

  return {
    async run(key, work) {
      if (!lines.has(key) && mayStart(key)) take(key);
      else {
        await new Promise<void>((resolve) => {
          const line = lines.get(key);
          if (line) line.push(resolve);
          else lines.set(key, [resolve]);
        });
      }
      try {
        return await work();
      } finally {
        free(key);
        dispatch();
      }
    },
    lift() {
      lifted = true;
      dispatch();
    },
    running: (key) => (key === undefined ? runningTotal : runningByKey.get(key) ?? 0),
    waiting: (key) => {
      if (key !== undefined) return lines.get(key)?.length ?? 0;
      let total = 0;
      for (const line of lines.values()) total += line.length;
      return total;
    },
  };
}
