import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Pool } from '../db/pool.js';
import { nulFreeJson } from '../db/nul-free-json.js';
import { poison } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { createGroupConsumer } from '../kafka/client.js';
import { bySize } from '../kafka/by-size.js';
import { deadLetterCode, deadLetterOf } from '../kafka/dead-letter.js';
import { attemptRowsRefused, deadLetters, deliveryLogWriteFailures } from '../observability/metrics.js';
import { attemptRowsOf } from './attempt-record.js';
import { heartbeatWhile, MAX_PAUSE_WHILE_HOLDING_MS, untilDone } from './persist.js';

export interface AttemptSinkDeps {
  kafka: Kafka;
  pool: Pool;
  topic: string;
  /** For messages that are not attempt records and rows Postgres refuses. */
  producer: Producer;
  dlqTopic: string;
  /** The dead-letter topic's `max.message.bytes`: a letter, and one request's run of them, stays within it. */
  dlqLimitBytes?: number;
  groupId: string;
  sessionTimeoutMs: number;
  /** Its consumer stopped for good (kafkajs gave it up): the process stops in order and exits non-zero. */
  onFatal: (error: unknown) => void;
  log: Logger;
}

const INSERT_ROWS = `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, event, attempt, outcome, status,
                                error_code, error_message, request_headers, request_body, response_body, duration_ms, next_retry_at, attempted_at)
 SELECT r."attemptId", r."taskId", r."webhookId"::uuid, r."organization", r."eventId", r."eventType", r."event", r."attempt", r."outcome", r."status",
        r."errorCode", r."errorMessage", coalesce(r."requestHeaders", '{}'), r."requestBody", r."responseBody", r."durationMs", r."nextRetryAt", r."attemptedAt"
   FROM json_to_recordset($1::json) AS r("attemptId" text, "taskId" text, "webhookId" text, "organization" text, "eventId" text, "eventType" text, "event" json,
        "attempt" int, "outcome" text, "status" int, "errorCode" text, "errorMessage" text, "requestHeaders" jsonb, "requestBody" text,
        "responseBody" text, "durationMs" int, "nextRetryAt" timestamptz, "attemptedAt" timestamptz)
 ON CONFLICT (attempt_id) DO NOTHING`;

/**
 * Whether Postgres refused the rows themselves: SQLSTATE class 22 (data
 * exception), 23 (integrity constraint) or 54 (program limit exceeded: a
 * key past the index's row size, JSON nested past the stack depth). Writing
 * them again can never succeed. Anything else (connection lost, server
 * shutting down, a statement timeout) may.
 */
export function isRowRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(?:22|23|54)[0-9A-Z]{3}$/.test(code);
}

/** The code a row gets that cannot even be turned into JSON for Postgres (nested past the stack). */
const UNSERIALIZABLE = 'UNSERIALIZABLE';

/** A row of the delivery log and the message it came in. */
interface SourcedRow {
  row: Record<string, unknown>;
  message: KafkaMessage;
}

/**
 * Writes the attempts topic into `delivery_attempts` (a message holds a pack
 * of records, or one from an earlier release), one INSERT per batch,
 * idempotent on attempt id. Offsets move only after the rows are in, so when
 * Postgres is down deliveries go on and the sink catches up afterwards.
 * Nothing is dropped: a message that is not attempt records, and a row
 * Postgres refuses (a record no release should have written), go to the
 * attempts dead-letter topic with the reason before the offset moves past
 * them, and do not hold back the rows around them. A refused row's letter
 * holds the row alone, as JSON the sink reads: once the cause is fixed it
 * can be copied back to the attempts topic.
 */
export function createAttemptSink(deps: AttemptSinkDeps): { start(): Promise<void>; stop(): Promise<void> } {
  let consumer: Consumer | null = null;

  const shutdown = new AbortController();
  /** When writes began failing, while they still do: one warning an outage, not one a batch. */
  let unreachableSince: number | null = null;

  const handleBatch = async ({ batch, heartbeat }: EachBatchPayload): Promise<void> => {
    const where = { topic: batch.topic, partition: batch.partition };
    const rows: SourcedRow[] = [];
    const letters: Message[] = [];
    for (const message of batch.messages) {
      try {
        for (const row of attemptRowsOf(message.value?.toString() ?? '')) rows.push({ row, message });
      } catch (error) {
        const reason = poison('ATTEMPT_MALFORMED', `not attempt records: ${(error as Error).message}`);
        letters.push(deadLetterOf({ ...where, message }, reason, message, deps.dlqLimitBytes));
      }
    }
    // Postgres unreachable (or Kafka refusing the dead letters): the batch is tried again here, with a growing pause,
    // rather than thrown to kafkajs, which would crash and restart the consumer over and over while the outage lasts.
    const holding = {
      signal: shutdown.signal,
      maxPauseMs: MAX_PAUSE_WHILE_HOLDING_MS,
      // Keeps the partitions while waiting; throws when the group rebalances, and the next owner tries.
      afterPause: heartbeat,
    };
    if (rows.length > 0) {
      const refused = await untilDone(() => heartbeatWhile(heartbeat, () => writeRows(rows)), {
        ...holding,
        onFailure: (error) => {
          deliveryLogWriteFailures.inc();
          if (unreachableSince !== null) return;
          unreachableSince = Date.now();
          deps.log.warn({ err: error, rows: rows.length }, 'delivery log not written; trying again until Postgres takes it (deliveries go on)');
        },
      });
      if (unreachableSince !== null) {
        deps.log.info({ unreachableForMs: Date.now() - unreachableSince }, 'delivery log written again');
        unreachableSince = null;
      }
      // Counted here, once: writeRows runs again from the start when Postgres drops the connection midway.
      const letteredWhole = new Set<KafkaMessage>();
      for (const { row, message, code, reason } of refused) {
        attemptRowsRefused.inc({ code });
        const key = typeof row['webhookId'] === 'string' ? row['webhookId'] : null;
        // A row that cannot be written out as JSON goes in the message it came in (its other rows are written, and
        // would be skipped by attempt id if copied back): once for the message, however many of its rows are so.
        if (code === UNSERIALIZABLE) {
          if (letteredWhole.has(message)) continue;
          letteredWhole.add(message);
        }
        const letter = code === UNSERIALIZABLE
          ? deadLetterOf({ ...where, message }, poison('ATTEMPT_ROW_REFUSED', `the row cannot be written as JSON: ${reason}`), message, deps.dlqLimitBytes)
          : deadLetterOf({ ...where, message }, poison('ATTEMPT_ROW_REFUSED', `Postgres refused the row (SQLSTATE ${code}): ${reason}`), { key, value: JSON.stringify(row) }, deps.dlqLimitBytes);
        letters.push(letter);
      }
    }
    // In runs the broker takes whole, each tried until taken: a run sent again after a failure is not sent twice.
    for (const run of bySize(letters, deps.dlqLimitBytes)) {
      await untilDone(() => deps.producer.send({ topic: deps.dlqTopic, messages: run }), {
        ...holding,
        onFailure: (error, retryInMs) => deps.log.warn({ err: error, letters: run.length, retryInMs }, 'delivery-log dead letters not written; retrying'),
      });
    }
    for (const letter of letters) {
      const code = deadLetterCode(letter);
      deadLetters.inc({ kind: 'attempt', reason: code });
      deps.log.warn({ ...where, offset: letter.headers?.['dlq.source.offset'], code, reason: letter.headers?.['dlq.error.message'] }, 'delivery-log record dead-lettered');
    }
  };

  /**
   * The rows in one statement; when Postgres refuses some, each row alone. Returns the rows it refused, with
   * why; throws when Postgres could not be written at all (the caller tries again).
   */
  const writeRows = async (rows: SourcedRow[]): Promise<Array<SourcedRow & { code: string; reason: string }>> => {
    try {
      await deps.pool.query(INSERT_ROWS, [nulFreeJson(JSON.stringify(rows.map(({ row }) => row)))]);
      return [];
    } catch (error) {
      if (!isRowRefusal(error) && !(error instanceof RangeError)) throw error;
    }
    const refused: Array<SourcedRow & { code: string; reason: string }> = [];
    for (const sourced of rows) {
      let json: string;
      try {
        json = nulFreeJson(JSON.stringify([sourced.row]));
      } catch (error) {
        // Parsed from the topic, yet too deep to write out again (the stack runs out): no try ever would.
        refused.push({ ...sourced, code: UNSERIALIZABLE, reason: (error as Error).message });
        continue;
      }
      try {
        await deps.pool.query(INSERT_ROWS, [json]);
      } catch (error) {
        if (!isRowRefusal(error)) throw error;
        refused.push({ ...sourced, code: (error as { code: string }).code, reason: (error as Error).message });
      }
    }
    return refused;
  };

  return {
    async start() {
      consumer = createGroupConsumer(deps.kafka, { groupId: deps.groupId, sessionTimeoutMs: deps.sessionTimeoutMs, onGivenUp: deps.onFatal });
      await consumer.connect();
      await consumer.subscribe({ topics: [deps.topic], fromBeginning: true });
      await consumer.run({ eachBatch: handleBatch });
    },
    async stop() {
      shutdown.abort(new Error('shutting down'));
      await consumer?.disconnect();
      consumer = null;
    },
  };
}
