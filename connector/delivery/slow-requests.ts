import { slowRequests, slowRequestsAside } from '../observability/metrics.js';
import type { Aside } from './keyed-scheduler.js';

/**
 * Keeps slow endpoints from taking every delivery slot. A request its sender
 * reports slow (open DELIVERER_SLOW_REQUEST_MS on the wire, see
 * HttpSender.post) stops counting against the deliverer's concurrency: it
 * waits aside (its webhook's queue still waits for it), and its slot goes to
 * other webhooks. Without this, as many endpoints answering in 10 s as there
 * are slots would stall every healthy webhook of the process for as long;
 * the circuit breaker does not help there, as slow answers are successes. At
 * most `max` wait aside at once (each holds a connection); past that a slow
 * request keeps its slot, as before.
 *
 * The sender judges, not a clock here: a request signed ahead may wait in a
 * sending thread for room before it goes out (see send-lanes.ts), and that
 * wait says nothing of its endpoint.
 */
export interface SlowRequests {
  /**
   * Sends through `send`, which passes `onSlow` to the sender; resolves as the request does, and once it was
   * reported slow, only once a slot is free again to finish the task with.
   */
  wait<T>(send: (onSlow: () => void) => Promise<T>, aside: Aside): Promise<T>;
  /** Requests waiting aside now. */
  readonly aside: number;
}

export interface SlowRequestOptions {
  max: number;
}

export function createSlowRequests(options: SlowRequestOptions): SlowRequests {
  let waitingAside = 0;
  const leaveAside = (): void => {
    waitingAside -= 1;
    slowRequestsAside.dec();
  };

  return {
    wait<T>(send: (onSlow: () => void) => Promise<T>, aside: Aside): Promise<T> {
      return new Promise((resolve, reject) => {
        let answered = false;
        let movedAside = false;
        // Senders call it from a timer, never before post returns (PostOptions.onSlow): `request` is set by then.
        const onSlow = (): void => {
          if (answered || movedAside) return;
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
        };
        const request = send(onSlow);
        request.then(
          (value) => {
            answered = true;
            if (!movedAside) resolve(value);
          },
          (error: unknown) => {
            answered = true;
            if (!movedAside) reject(error);
          },
        );
      });
    },
    get aside() {
      return waitingAside;
    },
  };
}
