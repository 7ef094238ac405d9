import { createHash } from 'node:crypto';
import { poison } from '../errors.js';
import type { CanonicalEvent } from '../ingest/canonical-event.js';

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
}

export function taskIdFor(eventId: string, webhookId: string): string {
  const digest = createHash('sha256').update(`${eventId}\u0000${webhookId}`).digest('base64url');
  return `msg_${digest.slice(0, 27)}`;
}

export function encodeTask(task: DeliveryTask): Buffer {
  return Buffer.from(JSON.stringify(task));
}

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
  return task as DeliveryTask;
}
