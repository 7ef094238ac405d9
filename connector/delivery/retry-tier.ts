import type { KafkaMessage } from 'kafkajs';
import { createDeliverer, type Deliverer, type DelivererDeps } from './deliverer.js';

/** The header a retried task carries: when it is due, in ms since the epoch (see task-handler). */
export const RETRY_DUE_AT_HEADER = 'retry.due-at';

/**
 * The furthest ahead of its writing a valid configuration dates a retry: 3 days (the longest delay or Retry-After
 * config allows), doubled by the largest jitter, and a day to spare for clocks.
 */
export const LATEST_PLAUSIBLE_DUE_MS = 7 * 24 * 3600 * 1000;

/**
 * When a retry tier's record is due; a record without the header is due at once. So is one dated further ahead of
 * its writing (the record's timestamp) than any configuration writes: a damaged or hand-made header, seconds taken
 * for milliseconds. Its partition would wait on it for good, every task behind it too, and past 24.8 days the pause's
 * timer fires at once, so the partition would be paused and resumed in a busy loop. Sent early, the task is only
 * retried sooner than planned. Judged from the record's own time, the answer is the same on every read; one whose
 * timestamp agrees (a writer's clock far ahead) is judged from now.
 */
export function retryDueAt(message: KafkaMessage, now = Date.now()): number {
  const dueAt = Number(message.headers?.[RETRY_DUE_AT_HEADER]?.toString() ?? 0) || 0;
  const writtenAt = Number(message.timestamp) || 0;
  if (dueAt - writtenAt > LATEST_PLAUSIBLE_DUE_MS) return writtenAt;
  // Written by a process whose clock was far ahead (its timestamp agrees with the due time): as far from now.
  return dueAt - now > LATEST_PLAUSIBLE_DUE_MS ? now : dueAt;
}

/**
 * One retry tier: a deliverer of its tier's topic whose tasks wait until
 * due. Tasks in a tier share one delay, so they come due in offset order: a
 * partition whose next task is not due yet is paused until it is, rather
 * than slept on, so other partitions go on. Due tasks join their webhook's
 * queue as first attempts do, so a slow or dead endpoint in a tier holds up
 * only its own webhook, not the tasks behind it in the partition (handled
 * inline, one endpoint answering after 15 s held every task behind it, and
 * kafkajs fetches nothing more for the tier until every batch of a fetch is
 * done). Offsets are committed past the finished prefix, as the deliverer's.
 */
export function createRetryTier(deps: Omit<DelivererDeps, 'dueAt'>): Deliverer {
  const now = deps.now ?? Date.now;
  return createDeliverer({ ...deps, dueAt: (message) => retryDueAt(message, now()) });
}
