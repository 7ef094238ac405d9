-- Up Migration

-- When a token stops working by itself (NULL: only when revoked). The tokens CLI gives new tokens 90 days unless told
-- otherwise, so a token copied into a script that is forgotten does not open an organization for good.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;

-- Down Migration
ALTER TABLE api_tokens DROP COLUMN IF EXISTS expires_at;
