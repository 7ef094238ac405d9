-- Up Migration

-- WEBHOOK_CREATED, WEBHOOK_UPDATED and WEBHOOK_DELETED (seed 002) for the organization's own webhooks: an outbox
-- written by a trigger, so an event is recorded in the same transaction as the change it tells of. Only
-- transactions that set identity_webhooks.record_changes locally record (the admin API's writes, the connector
-- disabling a webhook): a change an admin or the connector decides is news, bookkeeping is not. The admin API's
-- relay turns the rows into delivery tasks for the webhooks subscribed to them, then deletes them.
CREATE TABLE webhook_admin_events (
  seq bigserial PRIMARY KEY,
  event_id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization text NOT NULL,
  event_type text NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  -- Who made the change (the admin API token's subject, or identity-webhooks), from identity_webhooks.actor.
  actor text,
  payload jsonb NOT NULL
);

-- Only what was set is news: bookkeeping (verification attempts, failing streaks, the version) is not. The URL
-- itself is left out of the payload (a URL may carry a token); that it changed is not.
CREATE FUNCTION webhooks_admin_event() RETURNS trigger AS $$
DECLARE
  w webhooks;
  kind text;
  changed text[] := ARRAY[]::text[];
BEGIN
  IF current_setting('identity_webhooks.record_changes', true) IS DISTINCT FROM 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    w := NEW;
    kind := 'WEBHOOK_CREATED';
  ELSIF TG_OP = 'DELETE' THEN
    w := OLD;
    kind := 'WEBHOOK_DELETED';
  ELSE
    w := NEW;
    kind := 'WEBHOOK_UPDATED';
    IF NEW.name IS DISTINCT FROM OLD.name THEN changed := array_append(changed, 'name'); END IF;
    IF NEW.description IS DISTINCT FROM OLD.description THEN changed := array_append(changed, 'description'); END IF;
    IF NEW.url IS DISTINCT FROM OLD.url THEN changed := array_append(changed, 'url'); END IF;
    IF NEW.event_types IS DISTINCT FROM OLD.event_types THEN changed := array_append(changed, 'eventTypes'); END IF;
    IF NEW.body_format IS DISTINCT FROM OLD.body_format THEN changed := array_append(changed, 'bodyFormat'); END IF;
    IF NEW.ordering IS DISTINCT FROM OLD.ordering THEN changed := array_append(changed, 'ordering'); END IF;
    IF NEW.status IS DISTINCT FROM OLD.status OR NEW.status_reason IS DISTINCT FROM OLD.status_reason THEN changed := array_append(changed, 'status'); END IF;
    IF NEW.signing_secret_enc IS DISTINCT FROM OLD.signing_secret_enc THEN changed := array_append(changed, 'signingSecret'); END IF;
    IF NEW.api_key_header IS DISTINCT FROM OLD.api_key_header OR NEW.api_key_enc IS DISTINCT FROM OLD.api_key_enc THEN changed := array_append(changed, 'apiKey'); END IF;
    IF cardinality(changed) = 0 THEN
      RETURN NULL;
    END IF;
  END IF;
  INSERT INTO webhook_admin_events (organization, event_type, actor, payload)
  VALUES (w.organization, kind, nullif(current_setting('identity_webhooks.actor', true), ''), jsonb_strip_nulls(jsonb_build_object(
    'resourceType', 'webhook',
    'resourceId', w.id,
    'resourceName', w.name,
    'organization', w.organization,
    'enabled', w.status = 'active',
    'status', w.status,
    'statusReason', w.status_reason,
    'eventTypes', to_jsonb(w.event_types),
    'changed', CASE WHEN kind = 'WEBHOOK_UPDATED' THEN to_jsonb(changed) END
  )));
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER webhooks_admin_events AFTER INSERT OR UPDATE OR DELETE ON webhooks
  FOR EACH ROW EXECUTE FUNCTION webhooks_admin_event();

-- Down Migration
DROP TRIGGER webhooks_admin_events ON webhooks;
DROP FUNCTION webhooks_admin_event();
DROP TABLE webhook_admin_events;
