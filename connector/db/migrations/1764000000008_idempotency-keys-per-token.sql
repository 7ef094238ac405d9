-- Up Migration

-- Idempotency keys belong to the token that sent them, not to its whole organization: two clients of one
-- organization picking the same key get their own answers, and one client cannot read another's answer (which may
-- hold a secret shown once). The fingerprint is now stored encrypted, like the answer, so a key rotation
-- (reencrypt-secrets) carries both over; rows of the earlier form name no token and are dropped.
DELETE FROM admin_idempotency_keys;
ALTER TABLE admin_idempotency_keys ADD COLUMN token_id text NOT NULL;
ALTER TABLE admin_idempotency_keys RENAME COLUMN fingerprint TO fingerprint_enc;
ALTER TABLE admin_idempotency_keys DROP CONSTRAINT admin_idempotency_keys_pkey;
ALTER TABLE admin_idempotency_keys ADD PRIMARY KEY (organization, token_id, idempotency_key);

-- Down Migration
DELETE FROM admin_idempotency_keys;
ALTER TABLE admin_idempotency_keys DROP CONSTRAINT admin_idempotency_keys_pkey;
ALTER TABLE admin_idempotency_keys DROP COLUMN token_id;
ALTER TABLE admin_idempotency_keys RENAME COLUMN fingerprint_enc TO fingerprint;
ALTER TABLE admin_idempotency_keys ADD PRIMARY KEY (organization, idempotency_key);
