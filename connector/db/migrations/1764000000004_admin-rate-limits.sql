-- Up Migration

-- Admin API requests per token in its current window (a minute from its first request), shared by every admin
-- API process: a limit kept in each process's memory let a token make the limit's worth once per process.
CREATE UNLOGGED TABLE admin_rate_windows (
  token_key     text        PRIMARY KEY,
  window_start  timestamptz NOT NULL,
  requests      integer     NOT NULL
);

-- Down Migration
DROP TABLE IF EXISTS admin_rate_windows;
