import type { Pool } from '../../connector/db/pool.js';
import type { CanonicalEvent } from '../../connector/ingest/canonical-event.js';
import { decodeCursor, pageOf, refusedCursor } from '../pagination.js';

/** The delivery log as admins read it: always within one organization and one webhook. */
export interface AttemptRow {
  attempt_id: string;
  task_id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  event: CanonicalEvent | null;
  attempt: number;
  outcome: string;
  status: number | null;
  error_code: string | null;
  error_message: string | null;
  request_headers: Record<string, string>;
  request_body: string | null;
  response_body: string | null;
  duration_ms: number | null;
  next_retry_at: Date | null;
  attempted_at: Date;
  sort_key?: string;
}

export function toAttemptSummary(row: AttemptRow) {
  return {
    id: row.attempt_id,
    webhookId: row.webhook_id,
    taskId: row.task_id,
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    status: row.outcome,
    responseStatus: row.status,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    durationMs: row.duration_ms,
    nextRetryAt: row.next_retry_at?.toISOString() ?? null,
    attemptedAt: row.attempted_at.toISOString(),
  };
}

export function toAttemptDetail(row: AttemptRow) {
  return {
    ...toAttemptSummary(row),
    request: { headers: row.request_headers, body: row.request_body },
    response: { status: row.status, body: row.response_body },
  };
}

export interface ListAttemptsQuery {
  limit: number;
  cursor?: string;
  status?: string;
  eventType?: string;
  since?: string;
  until?: string;
}

const SUMMARY_COLUMNS = `attempt_id, task_id, webhook_id, event_id, event_type, attempt, outcome, status, error_code, error_message,
                         duration_ms, next_retry_at, attempted_at`;

/** Newest first; the cursor is (attempted_at, attempt_id) of the last row shown. */
export async function listAttemptRows(pool: Pool, organization: string, webhookId: string, query: ListAttemptsQuery): Promise<{ items: AttemptRow[]; nextCursor: string | null }> {
  const sortKey = 'attemptedAt:desc';
  const params: unknown[] = [organization, webhookId];
  const bind = (value: unknown): string => `$${params.push(value)}`;
  const where = ['organization = $1', 'webhook_id = $2'];
  if (query.status) where.push(`outcome = ${bind(query.status)}`);
  if (query.eventType) where.push(`event_type = ${bind(query.eventType)}`);
  if (query.since) where.push(`attempted_at >= ${bind(query.since)}::timestamptz`);
  if (query.until) where.push(`attempted_at < ${bind(query.until)}::timestamptz`);
  if (query.cursor) {
    const position = decodeCursor(query.cursor, sortKey);
    where.push(`(attempted_at, attempt_id) < (${bind(position.value)}::timestamptz, ${bind(position.id)})`);
  }
  const { rows } = await pool.query<AttemptRow>(
    `SELECT ${SUMMARY_COLUMNS}, attempted_at::text AS sort_key FROM delivery_attempts WHERE ${where.join(' AND ')}
      ORDER BY attempted_at DESC, attempt_id DESC LIMIT ${bind(query.limit + 1)}`,
    params,
  ).catch(refusedCursor(query.cursor));
  return pageOf(rows, query.limit, (row) => ({ value: row.sort_key!, id: row.attempt_id }), sortKey);
}

export async function findAttempt(pool: Pool, organization: string, webhookId: string, attemptId: string): Promise<AttemptRow | null> {
  const { rows } = await pool.query<AttemptRow>(
    `SELECT * FROM delivery_attempts WHERE organization = $1 AND webhook_id = $2 AND attempt_id = $3`,
    // Stored as the deliverer wrote it, lower case; a UUID is the same in either case, as webhook ids are.
    [organization, webhookId, attemptId.toLowerCase()],
  );
  return rows[0] ?? null;
}

/**
 * The events of a webhook whose delivery ended in failure in a time range:
 * tasks whose latest attempt, in the range, was dead-lettered, disabled the
 * webhook, or was skipped while it could not receive. Tasks still retrying
 * are left alone; the retry tiers have them. `after` carries on a walk past
 * the last task a page queued (failed at `since`, the task id breaking ties),
 * so a page starts exactly where the one before ended; with `until` pinned
 * by the first page, a resend that fails again is past the range and is not
 * queued a second time by the same walk.
 *
 * The range is walked in order of time through the webhook's index, and a
 * failed attempt counts when no later attempt of its task exists (the task
 * index answers that), so a page stops reading once it is full. Finding
 * each task's latest attempt first would sort every attempt of the webhook
 * since `since` on every page: millions of rows on a busy webhook, after an
 * outage, when recovery is wanted. Only the events of the page are read.
 */
export async function failedEventsSince(
  pool: Pool, organization: string, webhookId: string, range: { since: string; until: string; afterTaskId?: string }, limit: number,
): Promise<Array<{ taskId: string; event: CanonicalEvent; failedAt: string }>> {
  const { rows } = await pool.query<{ task_id: string; event: CanonicalEvent; failed_at: string }>(
    `WITH page AS (
        SELECT a.task_id, a.attempt_id, a.attempted_at
          FROM delivery_attempts a
         WHERE a.organization = $1 AND a.webhook_id = $2 AND a.attempted_at >= $3::timestamptz AND a.attempted_at < $4::timestamptz
           AND a.outcome IN ('dead_letter', 'disabled', 'skipped')
           -- Attempts logged without their event (before events were kept) cannot be resent: left out before the limit,
           -- so a page is never short of one it could have held (a short page ends the walk).
           AND a.event IS NOT NULL
           AND ($6::text IS NULL OR (a.attempted_at, a.task_id) > ($3::timestamptz, $6::text))
           -- The task's latest attempt: none after it (one logged in the same microsecond is told apart by its id).
           AND NOT EXISTS (
             SELECT 1 FROM delivery_attempts b
              WHERE b.task_id = a.task_id AND b.webhook_id = a.webhook_id
                AND (b.attempted_at > a.attempted_at OR (b.attempted_at = a.attempted_at AND b.attempt_id > a.attempt_id))
           )
         ORDER BY a.attempted_at, a.task_id
         LIMIT $5
      )
      SELECT page.task_id, a.event, to_char(page.attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS failed_at
        FROM page JOIN delivery_attempts a ON a.attempt_id = page.attempt_id
       ORDER BY page.attempted_at, page.task_id`,
    [organization, webhookId, range.since, range.until, limit, range.afterTaskId ?? null],
  );
  return rows.map((row) => ({ taskId: row.task_id, event: row.event, failedAt: row.failed_at }));
}
