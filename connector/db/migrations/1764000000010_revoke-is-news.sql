-- Up Migration

-- Revoking the previous signing secret (POST /v1/webhooks/{id}/revoke-previous-secret) is an admin's change like a
-- rotation: WEBHOOK_UPDATED with changed ["signingSecret"]. Before, it changed no column the function looked at, so
-- the organization heard nothing of a secret that stopped signing.
CREATE OR REPLACE FUNCTION webhooks_admin_event() RETURNS trigger AS $$
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
    -- A rotation, or the previous secret revoked while it still signed (an expired one signs nothing: no news).
    IF NEW.signing_secret_enc IS DISTINCT FROM OLD.signing_secret_enc
       OR (NEW.previous_signing_secret_enc IS NULL AND OLD.previous_signing_secret_enc IS NOT NULL AND OLD.previous_secret_expires_at > now()) THEN
      changed := array_append(changed, 'signingSecret');
    END IF;
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

-- Down Migration
CREATE OR REPLACE FUNCTION webhooks_admin_event() RETURNS trigger AS $$
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
