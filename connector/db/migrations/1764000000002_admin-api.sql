-- Up Migration

-- Bearer tokens of the admin API. Each is scoped to one organization; only a
-- SHA-256 of the token is kept, so a database leak does not leak credentials.
CREATE TABLE api_tokens (
  id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  organization  text        NOT NULL,
  -- Who acts with the token; recorded as the owner of webhooks it creates.
  subject       text        NOT NULL,
  name          text        NOT NULL DEFAULT '',
  token_hash    bytea       NOT NULL UNIQUE,
  -- The first characters of the token, shown in listings so an admin can tell tokens apart.
  token_prefix  text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

CREATE INDEX api_tokens_organization_idx ON api_tokens (organization, created_at);

-- The verification challenge (seed 003): why the last one failed, and when it ran.
ALTER TABLE webhooks ADD COLUMN verification_error text;
ALTER TABLE webhooks ADD COLUMN verification_attempted_at timestamptz;

-- List sorting (seed 004: URL, owner, creation date, status; plus name) uses
-- keyset pagination on (column, id) within one organization.
CREATE INDEX webhooks_organization_name_idx   ON webhooks (organization, name, id);
CREATE INDEX webhooks_organization_url_idx    ON webhooks (organization, url, id);
CREATE INDEX webhooks_organization_owner_idx  ON webhooks (organization, owner, id);
CREATE INDEX webhooks_organization_status_idx ON webhooks (organization, status, id);

-- The delivered event, so an admin can redeliver an attempt or recover failed
-- deliveries: the API produces the same task again from it.
-- json, not jsonb: a redelivered body keeps the exact key order of the first one.
ALTER TABLE delivery_attempts ADD COLUMN event json;

-- Down Migration
ALTER TABLE delivery_attempts DROP COLUMN IF EXISTS event;
DROP INDEX IF EXISTS webhooks_organization_status_idx;
DROP INDEX IF EXISTS webhooks_organization_owner_idx;
DROP INDEX IF EXISTS webhooks_organization_url_idx;
DROP INDEX IF EXISTS webhooks_organization_name_idx;
ALTER TABLE webhooks DROP COLUMN IF EXISTS verification_attempted_at;
ALTER TABLE webhooks DROP COLUMN IF EXISTS verification_error;
DROP TABLE IF EXISTS api_tokens;
