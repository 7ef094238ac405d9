-- Up Migration

-- Answers of admin API POST requests sent with an Idempotency-Key, per organization, for a day: a client sending a
-- request again after a timeout or a 503 gets the first answer back rather than a second webhook, rotation or
-- redelivery. status NULL: the first request is under way, claim_token naming it (a request whose claim was taken
-- over after it was abandoned must not write or free the new one). The answer is encrypted (it may hold a new
-- secret); the fingerprint is an HMAC of the request, whose body may hold an API key.
CREATE TABLE admin_idempotency_keys (
  organization     text        NOT NULL,
  idempotency_key  text        NOT NULL,
  fingerprint      text        NOT NULL,
  claim_token      text        NOT NULL,
  status           integer,
  response_enc     text,
  response_headers jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization, idempotency_key)
);
CREATE INDEX admin_idempotency_keys_created_idx ON admin_idempotency_keys (created_at);

-- Down Migration
DROP TABLE IF EXISTS admin_idempotency_keys;
