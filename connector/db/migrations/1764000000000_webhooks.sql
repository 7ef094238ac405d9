-- Up Migration

-- Webhook subscriptions, one row per endpoint an organization admin registers.
-- Fields follow the seed consoles: name, description, URL, event types,
-- enable/disable with a reason, API key, owner and creation date.
CREATE TABLE webhooks (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization        text        NOT NULL,
  name                text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description         text        NOT NULL DEFAULT '',
  url                 text        NOT NULL,
  -- Exact types (USER_CREATED), family wildcards (user.*) or '*'.
  event_types         text[]      NOT NULL CHECK (cardinality(event_types) > 0),
  status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  status_reason       text,
  status_changed_at   timestamptz,
  -- Events go out only once the endpoint answered the verification challenge.
  verification_status text        NOT NULL DEFAULT 'pending'
                                  CHECK (verification_status IN ('pending', 'verified', 'failed')),
  verified_at         timestamptz,
  body_format         text        NOT NULL DEFAULT 'parallelworks'
                                  CHECK (body_format IN ('parallelworks', 'cidaas', 'cloudevents')),
  ordering            text        NOT NULL DEFAULT 'relaxed' CHECK (ordering IN ('relaxed', 'strict')),
  -- Encrypted at rest (AES-256-GCM, key from config); never stored in clear.
  signing_secret_enc          text NOT NULL,
  previous_signing_secret_enc text,
  previous_secret_expires_at  timestamptz,
  api_key_header      text,
  api_key_enc         text,
  owner               text        NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  -- Bumped on every update: optimistic concurrency for the admin API.
  version             integer     NOT NULL DEFAULT 1
);

CREATE INDEX webhooks_organization_created_idx ON webhooks (organization, created_at, id);

-- Routers keep an in-memory index of subscriptions and reload it on this signal.
CREATE FUNCTION webhooks_notify_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('webhooks_changed', json_build_object(
    'op', TG_OP,
    'id', COALESCE(NEW.id, OLD.id),
    'organization', COALESCE(NEW.organization, OLD.organization)
  )::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER webhooks_notify_change
  AFTER INSERT OR UPDATE OR DELETE ON webhooks
  FOR EACH ROW EXECUTE FUNCTION webhooks_notify_change();

-- Down Migration
DROP TRIGGER IF EXISTS webhooks_notify_change ON webhooks;
DROP FUNCTION IF EXISTS webhooks_notify_change();
DROP TABLE IF EXISTS webhooks;
