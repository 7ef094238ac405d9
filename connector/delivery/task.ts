import { hash } from 'node:crypto';
import { poison } from '../errors.js';
import type { CanonicalEvent } from '../ingest/canonical-event.js';
import { isWebhookId } from '../subscriptions/webhook.js';

/** One (event, webhook) pair to deliver; the record on the deliveries topic, keyed by webhook id. */
export interface DeliveryTask {
  v: 1;
  /** Stable per (event, webhook): sent as `webhook-id` so receivers can deduplicate. */
  taskId: string;
  webhookId: string;
  organization: string;
  attempt: number;
  routedAt: number;
  event: CanonicalEvent;
  /** Produced again by an admin (redeliver, recover) rather than routed from a new event: its event time is long past. */
  resent?: true;
  /**
   * Not to be sent before this time (ms since the epoch): an endpoint's Retry-After past the longest retry tier's
   * delay. The task waits it out hopping through that tier, unsent, rather than holding the tier's partition (see
   * nextRetry).
   */
  notBefore?: number;
}

/** Which end-to-end latency a delivered task counts in: only first attempts of routed events measure the pipeline. */
export function deliveryKind(task: Pick<DeliveryTask, 'attempt' | 'resent'>): 'first' | 'retry' | 'resent' {
  if (task.resent) return 'resent';
  return task.attempt > 1 ? 'retry' : 'first';
}

export function taskIdFor(eventId: string, webhookId: string): string {
  // One-shot hashing: no Hash object per task.
  return `msg_${hash('sha256', `${eventId}\u0000${webhookId}`, 'base64url').slice(0, 27)}`;
}

/**
 * The task as JSON. The router passes `eventJson`, the event serialized once
 * for all the webhooks it matched, so a fan-out to many webhooks does not
 * serialize the same event again for each; the bytes are the same either way.
 */
export function encodeTask(task: DeliveryTask, eventJson?: string): Buffer {
  if (eventJson === undefined) return Buffer.from(JSON.stringify(task));
  const { v, taskId, webhookId, organization, attempt, routedAt, event: _event, resent, notBefore, ...unlisted } = task;
  // A field added to DeliveryTask must be written here too: this stops the build until it is.
  const none: Record<string, never> = unlisted;
  void none;
  return Buffer.from(
    `{"v":${v},"taskId":${JSON.stringify(taskId)},"webhookId":${JSON.stringify(webhookId)},"organization":${JSON.stringify(organization)},` +
      `"attempt":${attempt},"routedAt":${routedAt},"event":${eventJson}${resent ? ',"resent":true' : ''}${notBefore === undefined ? '' : `,"notBefore":${notBefore}`}}`,
  );
}

/** The largest time a JavaScript Date holds (±100,000,000 days from 1970). */
const MAX_DATE_MS = 8.64e15;

export function decodeTask(value: Buffer | null): DeliveryTask {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value?.toString('utf8') ?? '');
  } catch (error) {
    throw poison('TASK_MALFORMED', 'delivery task is not JSON', error);
  }
  const task = parsed as Partial<DeliveryTask>;
  if (task?.v !== 1 || typeof task.taskId !== 'string' || typeof task.webhookId !== 'string' || !task.event) {
    throw poison('TASK_MALFORMED', 'delivery task lacks v=1, taskId, webhookId or event');
  }
  // Looked up in Postgres for every try: one that is no UUID would fail that query forever, holding its webhook's queue.
  if (!isWebhookId(task.webhookId)) throw poison('TASK_MALFORMED', `delivery task's webhookId is not a UUID: ${JSON.stringify(task.webhookId.slice(0, 100))}`);
  // Bodies write it as an ISO date: out of a Date's range every attempt would throw alike, holding the webhook's queue.
  const { occurredAt } = task.event;
  if (typeof occurredAt !== 'number' || !(Math.abs(occurredAt) <= MAX_DATE_MS)) {
    throw poison('TASK_MALFORMED', `delivery task's event.occurredAt is not a time a date can hold: ${String(occurredAt)}`);
  }
  // Only a scheduling hint: one that is no time is dropped (the task is due), not a reason to set the task aside.
  if (task.notBefore !== undefined && !Number.isFinite(task.notBefore)) delete task.notBefore;
  return task as DeliveryTask;
}
