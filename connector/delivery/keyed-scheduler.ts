import { createLevelCounter } from './level-counter.js';

/**
 * Lets a running item wait for something without holding a slot: its key
 * stays busy (the key's next item still waits for it), but the slot goes to
 * other keys meanwhile, and is taken back, ahead of keys not yet started,
 * before the item goes on.
 */
export type Aside = <T>(waiting: Promise<T>) => Promise<T>;

export interface KeyedSchedulerOptions {
  /**
   * Items waiting aside left out of `pressing`, at most. Such an item is its key's running one: it can go nowhere
   * else, and may wait for hours (a strict webhook's retry in place). Were they counted against a bound on what is
   * buffered, as many of them waiting at once would stop every other key's items being read until theirs came due.
   * Past this allowance they count again, so memory stays bounded (by the bound plus the allowance).
   */
  maxUncountedAside?: number;
}

/**
 * Runs work one item at a time per key, many keys at once. Items of one key
 * start in the order they were enqueued, each after the previous one of that
 * key finished; at most `maxInFlight` run at once across keys, not counting
 * items waiting aside. A slow key holds up only its own queue.
 */
export interface KeyedScheduler<T> {
  enqueue(key: string, item: T): void;
  /** Items queued or running. */
  readonly buffered: number;
  /** Items queued or running, less those waiting aside up to `maxUncountedAside`: what a bound on the buffer weighs. */
  readonly pressing: number;
  /** A key's items queued or running. */
  backlogOf(key: string): number;
  /** Slots in use: items running and not aside. */
  readonly inFlight: number;
  /**
   * Removes a key's last queued items (never one running) until its backlog is at most `keep` (at least 1), and
   * returns them in queue order: the caller puts them back where they came from.
   */
  takeBack(key: string, keep: number): T[];
  /** Resolves once `pressing` is at most `level`. */
  pressingBelow(level: number): Promise<void>;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
}

export function createKeyedScheduler<T>(
  maxInFlight: number,
  run: (key: string, item: T, aside: Aside) => Promise<void>,
  options: KeyedSchedulerOptions = {},
): KeyedScheduler<T> {
  const maxUncountedAside = options.maxUncountedAside ?? 0;
  const queues = new Map<string, T[]>();
  /** Keys with queued work and nothing running, in arrival order. */
  const ready: string[] = [];
  const running = new Set<string>();
  /** Items back from aside, waiting for a slot; served before ready keys. */
  const returning: Array<() => void> = [];
  let slotsInUse = 0;
  let itemsAside = 0;
  const buffered = createLevelCounter();
  const pressing = createLevelCounter();
  /** Called after every change of `buffered` or `itemsAside`: a few operations per item. */
  const weigh = (): void => {
    const change = buffered.value - Math.min(itemsAside, maxUncountedAside) - pressing.value;
    if (change !== 0) pressing.add(change);
  };
  const addBuffered = (change: number): void => {
    buffered.add(change);
    weigh();
  };

  const aside: Aside = async (waiting) => {
    slotsInUse -= 1;
    itemsAside += 1;
    weigh();
    pump();
    try {
      return await waiting;
    } finally {
      itemsAside -= 1;
      weigh();
      if (slotsInUse < maxInFlight && returning.length === 0) slotsInUse += 1;
      else await new Promise<void>((resolve) => returning.push(resolve));
    }
  };

  const pump = (): void => {
    while (slotsInUse < maxInFlight && returning.length > 0) {
      slotsInUse += 1;
      returning.shift()!();
    }
    while (slotsInUse < maxInFlight && ready.length > 0) {
      const key = ready.shift()!;
      const queue = queues.get(key)!;
      const item = queue.shift()!;
      running.add(key);
      slotsInUse += 1;
      const finished = (): void => {
        running.delete(key);
        slotsInUse -= 1;
        if (queue.length > 0) ready.push(key);
        else queues.delete(key);
        addBuffered(-1);
        pump();
      };
      // run() owns its errors; a rejection here must still free the key. One then() rather than catch().finally(): this is per item.
      void run(key, item, aside).then(finished, finished);
    }
  };

  return {
    enqueue(key, item) {
      addBuffered(1);
      const queue = queues.get(key);
      if (queue) {
        queue.push(item);
      } else {
        queues.set(key, [item]);
        if (!running.has(key)) ready.push(key);
      }
      pump();
    },
    get buffered() {
      return buffered.value;
    },
    get pressing() {
      return pressing.value;
    },
    takeBack(key, keep) {
      const queue = queues.get(key);
      if (!queue) return [];
      // At least one stays: a key with a queue and nothing running is in `ready`, and its next end reads the rest again.
      const excess = queue.length + (running.has(key) ? 1 : 0) - Math.max(1, keep);
      if (excess <= 0) return [];
      addBuffered(-excess);
      return queue.splice(queue.length - excess, excess);
    },
    backlogOf(key) {
      return (queues.get(key)?.length ?? 0) + (running.has(key) ? 1 : 0);
    },
    get inFlight() {
      return slotsInUse;
    },
    pressingBelow: (level) => pressing.below(level),
    idle: () => buffered.below(0),
  };
}
