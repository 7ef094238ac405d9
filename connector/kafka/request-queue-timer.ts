import { createRequire } from 'node:module';

interface RequestQueueLike {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests(): void;
}

const PATCHED = Symbol.for('identity-webhooks.requestQueueTimer');

/**
 * kafkajs 2.2.4 keeps a timer running on every broker connection forever
 * (tulios/kafkajs#1556, fixed upstream only in unmerged pull requests): after
 * each response it schedules a check of the queue of requests waiting to be
 * sent, and when none waits and the broker is not throttling it, the delay it
 * computes is negative, so the check runs again a millisecond later, and
 * schedules itself again, about a thousand times a second per connection.
 * A deliverer holds a dozen connections (its consumers, the retry tiers',
 * its producer): idle, it used 8.7 % of a core on the 2-vCPU VM, the
 * broker's share of waking it included.
 *
 * Here a check is scheduled only when there is something to check: requests
 * waiting, or a throttle to wait out. A request that has to wait schedules
 * its own check when it is queued, and every response checks the queue, so
 * no waiting request is left behind. Applied to kafkajs's RequestQueue class
 * once per process; returns whether that class was found as expected (a
 * kafkajs upgrade that moves it leaves the timer running, and a test says
 * so).
 */
export function stopIdleRequestQueueTimers(): boolean {
  let RequestQueue: { prototype: RequestQueueLike & { [PATCHED]?: true } } | undefined;
  try {
    RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as typeof RequestQueue;
  } catch {
    return false;
  }
  const proto = RequestQueue?.prototype;
  if (!proto || typeof proto.scheduleCheckPendingRequests !== 'function') return false;
  if (proto[PATCHED]) return true;
  const schedule = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function scheduleWhenNeeded(this: RequestQueueLike): void {
    if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
  proto[PATCHED] = true;
  return true;
}
