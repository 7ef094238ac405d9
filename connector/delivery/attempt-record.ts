import { randomUUID } from 'node:crypto';
import type { AttemptResult } from './outcome.js';
import type { CanonicalEvent } from '../ingest/canonical-event.js';
import type { DeliveryTask } from './task.js';

export type AttemptOutcome = 'delivered' | 'retry' | 'dead_letter' | 'disabled' | 'skipped';

/** One line of the delivery log, as produced to the attempts topic and stored in Postgres. */
export interface AttemptRecord {
  attemptId: string;
  taskId: string;
  webhookId: string;
  organization: string;
  eventId: string;
  eventType: string;
  /** The event itself, so an admin can redeliver this attempt or recover it later. */
  event: CanonicalEvent;
  attempt: number;
  outcome: AttemptOutcome;
  status: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** Without the signature and the API key. */
  requestHeaders: Record<string, string>;
  requestBody: string | null;
  responseBody: string | null;
  durationMs: number | null;
  nextRetryAt: string | null;
  attemptedAt: string;
}

export function attemptRecord(input: {
  task: DeliveryTask;
  outcome: AttemptOutcome;
  result?: AttemptResult;
  requestHeaders?: Record<string, string>;
  requestBody?: string;
  responseBody?: string;
  durationMs?: number;
  reason?: string;
  nextRetryAt?: number;
  now: number;
}): AttemptRecord {
  const { task, result } = input;
  return {
    attemptId: randomUUID(),
    taskId: task.taskId,
    webhookId: task.webhookId,
    organization: task.organization,
    eventId: task.event.eventId,
    eventType: task.event.eventType,
    event: task.event,
    attempt: task.attempt,
    outcome: input.outcome,
    status: result?.kind === 'response' ? result.status : null,
    errorCode: result?.kind === 'error' ? result.code : null,
    errorMessage: result?.kind === 'error' ? result.message : (input.reason ?? null),
    requestHeaders: input.requestHeaders ?? {},
    requestBody: input.requestBody ?? null,
    responseBody: input.responseBody ?? null,
    durationMs: input.durationMs === undefined ? null : Math.round(input.durationMs),
    nextRetryAt: input.nextRetryAt === undefined ? null : new Date(input.nextRetryAt).toISOString(),
    attemptedAt: new Date(input.now).toISOString(),
  };
}
