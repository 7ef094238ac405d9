import { createLevelCounter } from './level-counter.js';

/**
 * Runs work one item at a time per key, many keys at once. Items of one key
 * start in the order they were enqueued, each after the previous one of that
 * key finished; at most `maxInFlight` run at once across keys. A slow key
 * holds up only its own queue.
 */
export interface KeyedScheduler<T> {
  enqueue(key: string, item: T): void;
  /** Items queued or running. */
  readonly buffered: number;
  readonly inFlight: number;
  /** Resolves once `buffered` is at most `level`. */
  below(level: number): Promise<void>;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
}

export function createKeyedScheduler<T>(maxInFlight: number, run: (key: string, item: T) => Promise<void>): KeyedScheduler<T> {
  const queues = new Map<string, T[]>();
  /** Keys with queued work and nothing running, in arrival order. */
  const ready: string[] = [];
  const running = new Set<string>();
  const buffered = createLevelCounter();

  const pump = (): void => {
    while (running.size < maxInFlight && ready.length > 0) {
      const key = ready.shift()!;
      const queue = queues.get(key)!;
      const item = queue.shift()!;
      running.add(key);
      const finished = (): void => {
        running.delete(key);
        if (queue.length > 0) ready.push(key);
        else queues.delete(key);
        buffered.add(-1);
        pump();
      };
      // run() owns its errors; a rejection here must still free the key. One then() rather than catch().finally(): this is per item.
      void run(key, item).then(finished, finished);
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
    get inFlight() {
      return running.size;
    },
    below: (level) => buffered.below(level),
    idle() {
      return this.below(0);
    },
  };
}
