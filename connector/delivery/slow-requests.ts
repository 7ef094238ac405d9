import { slowRequests, slowRequestsAside } from '../observability/metrics.js';
import type { Aside } from './keyed-scheduler.js';

/**
 * Keeps slow endpoints from taking every delivery slot. A request still
 * unanswered after `afterMs` stops counting against the deliverer's
 * concurrency: it waits aside (its webhook's queue still waits for it), and
 * its slot goes to other webhooks. Without this, as many endpoints answering
 * in 10 s as there are slots would stall every healthy webhook of the process
 * for as long; the circuit breaker does not help there, as slow answers are
 * successes. At most `max` wait aside at once (each holds a connection); past
 * that a slow request keeps its slot, as before.
 */
export interface SlowRequests {
  /** Resolves as the request does; past `afterMs`, only once a slot is free again to finish the task with. */
  wait<T>(request: Promise<T>, aside: Aside): Promise<T>;
  /** Requests waiting aside now. */
  readonly aside: number;
}

export interface SlowRequestOptions {
  /** 0 keeps every request in its slot until answered. */
  afterMs: number;
  max: number;
}

export function createSlowRequests(options: SlowRequestOptions): SlowRequests {
  let waitingAside = 0;
  const leaveAside = (): void => {
    waitingAside -= 1;
    slowRequestsAside.dec();
  };

  return {
    wait(request, aside) {
      if (options.afterMs <= 0) return request;
      return new Promise((resolve, reject) => {
        let movedAside = false;
        // One timer per request: Node keeps timers of one duration in one list, so this costs little next to the request.
        const timer = setTimeout(() => {
          if (waitingAside >= options.max) {
            slowRequests.inc({ slot: 'kept' });
            return;
          }
          movedAside = true;
          waitingAside += 1;
          slowRequestsAside.inc();
          slowRequests.inc({ slot: 'released' });
          // No longer aside once answered, even while it waits to take a slot back.
          request.then(leaveAside, leaveAside);
          aside(request).then(resolve, reject);
        }, options.afterMs);
        request.then(
          (value) => {
            if (movedAside) return;
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            if (movedAside) return;
            clearTimeout(timer);
            reject(error);
          },
        );
      });
    },
    get aside() {
      return waitingAside;
    },
  };
}
