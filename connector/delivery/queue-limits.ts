/**
 * How much of one webhook a deliverer keeps queued in memory; the rest of
 * its tasks wait in Kafka (see deferred-offsets.ts). Pure decisions over the
 * scheduler's counts.
 */
export interface QueueLimits {
  /** A webhook's queue, at most (DELIVERER_MAX_QUEUED_PER_WEBHOOK). */
  maxQueuedPerWebhook: number;
  /** Every webhook's queues together, at most (DELIVERER_MAX_BUFFERED); reading waits above it. */
  maxBuffered: number;
}

/**
 * Past this share of the buffer a webhook queues a tenth of its cap: held
 * endpoints, each within its cap, could otherwise fill the buffer together
 * (ten of them at the defaults) and stop reading for every webhook.
 */
const PRESSURE_SHARE = 0.9;

/** The queue a webhook may have now: its cap, or a tenth of it (at least 1) while the buffer is nearly full. */
export function roomFor(limits: QueueLimits, buffered: number): number {
  return buffered < Math.floor(limits.maxBuffered * PRESSURE_SHARE) ? limits.maxQueuedPerWebhook : Math.max(1, Math.floor(limits.maxQueuedPerWebhook / 10));
}

/** Whether one more task of a webhook with `backlog` queued or running may join its queue rather than wait in Kafka. */
export function mayQueue(limits: QueueLimits, backlog: number, buffered: number): boolean {
  return backlog < roomFor(limits, buffered);
}

/**
 * Whether a webhook with deferred tasks should have them read again, as one of its tasks ends (`backlog` still
 * counts it): once half its room is free, so that a pass, which reads the partition again, serves many tasks.
 */
export function shouldReadAgain(limits: QueueLimits, backlog: number, buffered: number): boolean {
  return backlog - 1 <= Math.floor(roomFor(limits, buffered) / 2);
}
