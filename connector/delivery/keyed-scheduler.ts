import { createLevelCounter } from './level-counter.js';

/**
 * Lets a running item wait for something without holding a slot: its key
 * stays busy (the key's next item still waits for it), but the slot goes to
 * other keys meanwhile, and is taken back, ahead of keys not yet started,
 * before the item goes on.
 */
export type Aside = <T>(waiting: Promise<T>) => Promise<T>;

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
  /** A key's items queued or running. */
  backlogOf(key: string): number;
  /** Slots in use: items running and not aside. */
  readonly inFlight: number;
  /**
   * Removes a key's last queued items (never one running) until its backlog is at most `keep` (at least 1), and
   * returns them in queue order: the caller puts them back where they came from.
   */
  takeBack(key: string, keep: number): T[];
  /** Resolves once `buffered` is at most `level`. */
  below(level: number): Promise<void>;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
}

export function createKeyedScheduler<T>(maxInFlight: number, run: (key: string, item: T, aside: Aside) => Promise<void>): KeyedScheduler<T> {
  const queues = new Map<string, T[]>();
  /** Keys with queued work and nothing running, in arrival order. */
  const ready: string[] = [];
  const running = new Set<string>();
  /** Items back from aside, waiting for a slot; served before ready keys. */
  const returning: Array<() => void> = [];
  let slotsInUse = 0;
  const buffered = createLevelCounter();

  const aside: Aside = async (waiting) => {
    slotsInUse -= 1;
    pump();
    try {
      return await waiting;
    } finally {
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
        buffered.add(-1);
        pump();
      };
      // run() owns its errors; a rejection here must still free the key. One then() rather than catch().finally(): this is per item.
      void run(key, item, aside).then(finished, finished);
    }
  };

  return {
    enqueue(key, item) {
      buffered.add(1);
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
    takeBack(key, keep) {
      const queue = queues.get(key);
      if (!queue) return [];
      // At least one stays: a key with a queue and nothing running is in `ready`, and its next end reads the rest again.
      const excess = queue.length + (running.has(key) ? 1 : 0) - Math.max(1, keep);
      if (excess <= 0) return [];
      buffered.add(-excess);
      return queue.splice(queue.length - excess, excess);
    },
    backlogOf(key) {
      return (queues.get(key)?.length ?? 0) + (running.has(key) ? 1 : 0);
    },
    get inFlight() {
      return slotsInUse;
    },
    below: (level) => buffered.below(level),
    idle() {
      return this.below(0);
    },
  };
}
