import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { stopIdleRequestQueueTimers } from '../../connector/kafka/request-queue-timer.js';

interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  destroy(): void;
}
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const queues: Queue[] = [];
const queue = (): Queue => {
  const created = new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:9092', logger: quiet, isConnected: () => true });
  queues.push(created);
  return created;
};

describe('stopIdleRequestQueueTimers', () => {
  afterEach(() => {
    for (const created of queues.splice(0)) created.destroy();
  });

  it('finds kafkajs\'s request queue, and a connection with nothing to send keeps no timer running', () => {
    expect(stopIdleRequestQueueTimers()).toBe(true);
    const idle = queue();
    // What every response does: check the queue of requests waiting to be sent. kafkajs 2.2.4 then schedules the
    // same check again a millisecond later, and again after that, for as long as the connection lives.
    idle.checkPendingRequests();
    expect(idle.throttleCheckTimeoutId).toBeNull();
  });

  it('still checks again while requests wait, or while the broker throttles', () => {
    stopIdleRequestQueueTimers();
    const waiting = queue();
    waiting.pending.push({});
    waiting.throttledUntil = Date.now() + 60_000;
    waiting.checkPendingRequests();
    expect(waiting.throttleCheckTimeoutId).not.toBeNull();
    const throttled = queue();
    throttled.throttledUntil = Date.now() + 60_000;
    throttled.checkPendingRequests();
    expect(throttled.throttleCheckTimeoutId).not.toBeNull();
  });

  it('is applied once however many clients are made', () => {
    expect(stopIdleRequestQueueTimers()).toBe(true);
    expect(stopIdleRequestQueueTimers()).toBe(true);
    const idle = queue();
    idle.checkPendingRequests();
    expect(idle.throttleCheckTimeoutId).toBeNull();
  });
});
