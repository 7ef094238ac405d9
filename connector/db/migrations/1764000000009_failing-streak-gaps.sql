-- Up Migration

-- When a deliverer last saw the webhook fail (written at most once a minute per deliverer while it fails). A
-- failing streak is continuous only while failures keep coming: a failure after a long quiet spell (no deliveries
-- at all) starts a new streak, rather than one that began days ago and disables the webhook at once.
ALTER TABLE webhooks ADD COLUMN last_failed_at timestamptz;
-- Streaks under way keep their start: as if their last failure were now (else each would start again at its next).
UPDATE webhooks SET last_failed_at = now() WHERE failing_since IS NOT NULL;

-- Like failing_since, bookkeeping that nobody listening to webhooks_changed reads: a change to it alone notifies
-- nobody.
CREATE OR REPLACE FUNCTION webhooks_notify_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'failing_since' - 'last_failed_at') = (to_jsonb(NEW) - 'failing_since' - 'last_failed_at') THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('webhooks_changed', json_build_object(
    'op', TG_OP,
    'id', COALESCE(NEW.id, OLD.id),
    'organization', COALESCE(NEW.organization, OLD.organization)
  )::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Down Migration
CREATE OR REPLACE FUNCTION webhooks_notify_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'failing_since') = (to_jsonb(NEW) - 'failing_since') THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('webhooks_changed', json_build_object(
    'op', TG_OP,
    'id', COALESCE(NEW.id, OLD.id),
    'organization', COALESCE(NEW.organization, OLD.organization)
  )::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
ALTER TABLE webhooks DROP COLUMN IF EXISTS last_failed_at;
