-- Up Migration

-- When a webhook's deliveries started failing without a success since; cleared on success.
-- Drives auto-disable after a configured window.
ALTER TABLE webhooks ADD COLUMN failing_since timestamptz;

-- The delivery log: one row per attempt, written in batches from the attempts topic.
CREATE TABLE delivery_attempts (
  attempt_id      text        PRIMARY KEY,
  task_id         text        NOT NULL,
  webhook_id      uuid        NOT NULL,
  organization    text        NOT NULL,
  event_id        text        NOT NULL,
  event_type      text        NOT NULL,
  attempt         integer     NOT NULL,
  outcome         text        NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead_letter', 'disabled', 'skipped')),
  status          integer,
  error_code      text,
  error_message   text,
  request_headers jsonb       NOT NULL DEFAULT '{}',
  request_body    text,
  response_body   text,
  duration_ms     integer,
  next_retry_at   timestamptz,
  attempted_at    timestamptz NOT NULL
);

CREATE INDEX delivery_attempts_webhook_time_idx ON delivery_attempts (webhook_id, attempted_at DESC);
CREATE INDEX delivery_attempts_task_idx ON delivery_attempts (task_id);
CREATE INDEX delivery_attempts_time_idx ON delivery_attempts (attempted_at);

-- Down Migration
DROP TABLE IF EXISTS delivery_attempts;
ALTER TABLE webhooks DROP COLUMN IF EXISTS failing_since;
