-- Up Migration

-- The failures of a webhook in time order, and only them: what recover walks, and what the delivery log lists
-- filtered to a failed outcome (?status=dead_letter). Through the webhook's index alone, both read every attempt in
-- the range until enough failures turned up: millions of delivered rows on a busy webhook with a few failures,
-- until the query timed out. Partial, so it holds the failures only and costs the sink's writes of deliveries nothing.
CREATE INDEX IF NOT EXISTS delivery_attempts_failed_idx ON delivery_attempts (webhook_id, attempted_at, task_id)
  WHERE outcome IN ('dead_letter', 'disabled', 'skipped');

-- Down Migration
DROP INDEX IF EXISTS delivery_attempts_failed_idx;
