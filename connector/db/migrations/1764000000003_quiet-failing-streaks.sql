-- Up Migration

-- When a webhook's failing streak starts or ends, deliverers write failing_since. Nobody who listens to
-- webhooks_changed reads it, yet each such write made every router look the webhook up again and every deliverer
-- drop it from its cache. A change to failing_since alone now notifies nobody.
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

-- Down Migration
CREATE OR REPLACE FUNCTION webhooks_notify_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('webhooks_changed', json_build_object(
    'op', TG_OP,
    'id', COALESCE(NEW.id, OLD.id),
    'organization', COALESCE(NEW.organization, OLD.organization)
  )::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
