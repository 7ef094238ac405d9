import { randomUUID } from 'node:crypto';
import type { AttemptResult } from './outcome.js';
import type { CanonicalEvent } from '../ingest/canonical-event.js';
import { payloadJson, type BodyFrame } from './envelope.js';
import type { DeliveryTask } from './task.js';

export type AttemptOutcome = 'delivered' | 'retry' | 'dead_letter' | 'disabled' | 'skipped';

/** One line of the delivery log, as stored in Postgres (`delivery_attempts`) and read by the admin API. */
export interface AttemptRow {
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

/**
 * An attempt as the deliverer writes it to the attempts topic (`v: 2`): the
 * row without what the event it carries already says. The request body is
 * given as its frame around the event's payload (every body embeds the
 * payload verbatim), and event id and type are the event's; the sink puts
 * the row back together (attemptRow). Records without `v` are the earlier
 * shape: the whole row.
 */
export interface AttemptRecord extends Omit<AttemptRow, 'requestBody' | 'eventId' | 'eventType'> {
  v: 2;
  /** The request body is `head + JSON of event.payload + tail`; null when nothing was built (skipped). */
  requestBodyFrame: BodyFrame | null;
}

export function attemptRecord(input: {
  task: DeliveryTask;
  outcome: AttemptOutcome;
  result?: AttemptResult;
  requestHeaders?: Record<string, string>;
  requestBodyFrame?: BodyFrame;
  responseBody?: string;
  durationMs?: number;
  reason?: string;
  nextRetryAt?: number;
  now: number;
}): AttemptRecord {
  const { task, result } = input;
  return {
    v: 2,
    attemptId: randomUUID(),
    taskId: task.taskId,
    webhookId: task.webhookId,
    organization: task.organization,
    event: task.event,
    attempt: task.attempt,
    outcome: input.outcome,
    status: result?.kind === 'response' ? result.status : null,
    errorCode: result?.kind === 'error' ? result.code : null,
    errorMessage: result?.kind === 'error' ? result.message : (input.reason ?? null),
    requestHeaders: input.requestHeaders ?? {},
    requestBodyFrame: input.requestBodyFrame ?? null,
    responseBody: input.responseBody ?? null,
    durationMs: input.durationMs === undefined ? null : Math.round(input.durationMs),
    nextRetryAt: input.nextRetryAt === undefined ? null : new Date(input.nextRetryAt).toISOString(),
    attemptedAt: new Date(input.now).toISOString(),
  };
}

/**
 * The delivery-log row of a record read from the attempts topic, of either
 * shape. The request body is rebuilt from its frame and the record's event,
 * byte for byte what was sent: the payload was serialized from parsed JSON
 * on both sides, and JSON text parsed and serialized again is the same text.
 */
export function attemptRow(record: Record<string, unknown>): Record<string, unknown> {
  if (record['v'] !== 2) return record;
  const { v: _v, requestBodyFrame, ...row } = record;
  const frame = requestBodyFrame as BodyFrame | null | undefined;
  const event = row['event'] as CanonicalEvent | null | undefined;
  return {
    ...row,
    eventId: event?.eventId ?? null,
    eventType: event?.eventType ?? null,
    requestBody: frame && event ? frame.head + payloadJson(event) + frame.tail : null,
  };
}

/**
 * The delivery-log rows of one message of the attempts topic: a JSON array
 * of records (see packAttempts) or, from earlier releases, one record.
 */
export function attemptRowsOf(value: string): Array<Record<string, unknown>> {
  const parsed = JSON.parse(value) as unknown;
  const records = Array.isArray(parsed) ? parsed : [parsed];
  return records.map((record) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new Error('an attempt record is not a JSON object');
    return attemptRow(record as Record<string, unknown>);
  });
}
