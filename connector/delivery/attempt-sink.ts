import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { createGroupConsumer } from '../kafka/client.js';
import { attemptRowsOf } from './attempt-record.js';

export interface AttemptSinkDeps {
  kafka: Kafka;
  pool: Pool;
  topic: string;
  groupId: string;
  sessionTimeoutMs: number;
  retentionDays: number;
  /** Its consumer stopped for good (kafkajs gave it up): the process stops in order and exits non-zero. */
  onFatal: (error: unknown) => void;
  log: Logger;
}

const RETENTION_INTERVAL_MS = 3_600_000;

/**
 * Writes the attempts topic into `delivery_attempts` (a message holds a pack
 * of records, or one from an earlier release), one INSERT per batch,
 * idempotent on attempt id. Offsets move only after the rows are in, so when
 * Postgres is down deliveries go on and the sink catches up afterwards.
 */
export function createAttemptSink(deps: AttemptSinkDeps): { start(): Promise<void>; stop(): Promise<void> } {
  let consumer: Consumer | null = null;
  let retentionTimer: NodeJS.Timeout | undefined;

  const handleBatch = async ({ batch }: EachBatchPayload): Promise<void> => {
    const records = batch.messages.flatMap((m) => {
      try {
        return attemptRowsOf(m.value?.toString() ?? '');
      } catch {
        deps.log.warn({ offset: m.offset }, 'attempt message is not JSON attempt records; skipped');
        return [];
      }
    });
    if (records.length === 0) return;
    await deps.pool.query(
      `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, event, attempt, outcome, status,
                                      error_code, error_message, request_headers, request_body, response_body, duration_ms, next_retry_at, attempted_at)
       SELECT r."attemptId", r."taskId", r."webhookId"::uuid, r."organization", r."eventId", r."eventType", r."event", r."attempt", r."outcome", r."status",
              r."errorCode", r."errorMessage", coalesce(r."requestHeaders", '{}'), r."requestBody", r."responseBody", r."durationMs", r."nextRetryAt", r."attemptedAt"
         FROM json_to_recordset($1::json) AS r("attemptId" text, "taskId" text, "webhookId" text, "organization" text, "eventId" text, "eventType" text, "event" json,
              "attempt" int, "outcome" text, "status" int, "errorCode" text, "errorMessage" text, "requestHeaders" jsonb, "requestBody" text,
              "responseBody" text, "durationMs" int, "nextRetryAt" timestamptz, "attemptedAt" timestamptz)
       ON CONFLICT (attempt_id) DO NOTHING`,
      [JSON.stringify(records)],
    );
  };

  const prune = async (): Promise<void> => {
    const { rowCount } = await deps.pool.query(`DELETE FROM delivery_attempts WHERE attempted_at < now() - make_interval(days => $1)`, [deps.retentionDays]);
    if (rowCount) deps.log.info({ deleted: rowCount, retentionDays: deps.retentionDays }, 'old delivery attempts deleted');
  };

  return {
    async start() {
      consumer = createGroupConsumer(deps.kafka, { groupId: deps.groupId, sessionTimeoutMs: deps.sessionTimeoutMs, onGivenUp: deps.onFatal });
      await consumer.connect();
      await consumer.subscribe({ topics: [deps.topic], fromBeginning: true });
      await consumer.run({ eachBatch: handleBatch });
      retentionTimer = setInterval(() => void prune().catch((error: unknown) => deps.log.warn({ err: error }, 'retention run failed')), RETENTION_INTERVAL_MS);
      retentionTimer.unref();
    },
    async stop() {
      clearInterval(retentionTimer);
      await consumer?.disconnect();
      consumer = null;
    },
  };
}
