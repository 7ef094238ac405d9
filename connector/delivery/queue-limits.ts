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
 * Past this share of the buffer a webhook queues a tenth of its cap:
 * endpoints about to hold their webhooks, each within its cap, could
 * otherwise fill the buffer together (ten of them at the defaults) before
 * their first slow answer shows them as held.
 */
const PRESSURE_SHARE = 0.9;

/**
 * Held webhooks (their last request waited aside: an endpoint slow to
 * answer, or a strict webhook waiting out a retry) together keep at most
 * this share of the buffer, the rest being for webhooks that move. Bounding
 * each webhook alone was not enough: seventy held webhooks, each within its
 * limit, filled the default buffer and stopped every other one.
 */
const HELD_SHARE = 0.5;

function underPressure(limits: QueueLimits, buffered: number): boolean {
  return buffered >= Math.floor(limits.maxBuffered * PRESSURE_SHARE);
}

/**
 * The queue (running task included) a webhook may have now: its cap, or a tenth of it while the buffer is nearly
 * full. A held webhook (`heldCount` is how many are held, itself included; 0 for one that is not) gets an equal part
 * of the held share of the buffer, at most a tenth of its cap: it moves a task per DELIVERER_SLOW_REQUEST_MS at best,
 * and a smaller queue only means reading its partition again more often. Never less than one.
 */
export function roomFor(limits: QueueLimits, buffered: number, heldCount = 0): number {
  const tenth = Math.max(1, Math.floor(limits.maxQueuedPerWebhook / 10));
  if (heldCount > 0) return Math.max(1, Math.min(tenth, Math.floor((limits.maxBuffered * HELD_SHARE) / heldCount)));
  return underPressure(limits, buffered) ? tenth : limits.maxQueuedPerWebhook;
}

/**
 * Whether a task that may not queue is refused only by the buffer's pressure: its webhook is not held and is under
 * its cap, so it would queue were the buffer less full. Such a webhook may well be moving, as every webhook of a
 * healthy backlog is; leaving its task in Kafka would have it read twice (see deliverer.ts).
 */
export function refusedByPressureOnly(limits: QueueLimits, backlog: number, buffered: number, heldCount = 0): boolean {
  return heldCount === 0 && backlog < limits.maxQueuedPerWebhook && !mayQueue(limits, backlog, buffered);
}

/** Whether one more task of a webhook with `backlog` queued or running may join its queue rather than wait in Kafka. */
export function mayQueue(limits: QueueLimits, backlog: number, buffered: number, heldCount = 0): boolean {
  return backlog < roomFor(limits, buffered, heldCount);
}

/**
 * Whether a webhook with deferred tasks should have them read again, as one of its tasks ends (`backlog` still
 * counts it): once half its room is free, so that a pass, which reads the partition again, serves many tasks.
 */
export function shouldReadAgain(limits: QueueLimits, backlog: number, buffered: number, heldCount = 0): boolean {
  return backlog - 1 <= Math.floor(roomFor(limits, buffered, heldCount) / 2);
}
