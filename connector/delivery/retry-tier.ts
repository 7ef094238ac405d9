import type { KafkaMessage } from 'kafkajs';
import { createDeliverer, type Deliverer, type DelivererDeps } from './deliverer.js';

/** The header a retried task carries: when it is due, in ms since the epoch (see task-handler). */
export const RETRY_DUE_AT_HEADER = 'retry.due-at';

/** When a retry tier's record is due; a record without the header is due at once. */
export function retryDueAt(message: KafkaMessage): number {
  return Number(message.headers?.[RETRY_DUE_AT_HEADER]?.toString() ?? 0) || 0;
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
  return createDeliverer({ ...deps, dueAt: retryDueAt });
}
