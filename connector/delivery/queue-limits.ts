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

/**
 * A held webhook (its last request waited aside: an endpoint slow to answer,
 * or a strict webhook waiting out a retry) moves at most one task per
 * DELIVERER_SLOW_REQUEST_MS, so a hundredth of its cap is many seconds of
 * work; queueing more would only keep buffer from the webhooks that move.
 * Bounding each webhook alone is not enough: seventy held webhooks at a
 * tenth of the cap each filled the default buffer and stopped every other one.
 */
const HELD_SHARE = 0.01;

function underPressure(limits: QueueLimits, buffered: number): boolean {
  return buffered >= Math.floor(limits.maxBuffered * PRESSURE_SHARE);
}

/**
 * The queue (running task included) a webhook may have now. Its cap, or a tenth of it while the buffer is nearly
 * full; a held webhook a hundredth of it, or one task while the buffer is nearly full. Never less than one.
 */
export function roomFor(limits: QueueLimits, buffered: number, held = false): number {
  const pressed = underPressure(limits, buffered);
  if (held) return pressed ? 1 : Math.max(1, Math.floor(limits.maxQueuedPerWebhook * HELD_SHARE));
  return pressed ? Math.max(1, Math.floor(limits.maxQueuedPerWebhook / 10)) : limits.maxQueuedPerWebhook;
}

/** Whether one more task of a webhook with `backlog` queued or running may join its queue rather than wait in Kafka. */
export function mayQueue(limits: QueueLimits, backlog: number, buffered: number, held = false): boolean {
  return backlog < roomFor(limits, buffered, held);
}

/**
 * Whether a webhook with deferred tasks should have them read again, as one of its tasks ends (`backlog` still
 * counts it): once half its room is free, so that a pass, which reads the partition again, serves many tasks.
 */
export function shouldReadAgain(limits: QueueLimits, backlog: number, buffered: number, held = false): boolean {
  return backlog - 1 <= Math.floor(roomFor(limits, buffered, held) / 2);
}

