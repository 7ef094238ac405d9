import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Pool } from '../connector/db/pool.js';
import type { Logger } from '../connector/observability/logger.js';

/** Ended windows are deleted now and then: every so many requests of a process. */
const PRUNE_EVERY_REQUESTS = 500;

/**
 * Requests per token and window, counted in Postgres so that every admin API
 * process shares one count: kept in each process's memory, the limit let a
 * token make its requests once per process. A window starts with a token's
 * first request and lasts `windowMs`, as the plugin's own store counts; its
 * times come from Postgres's clock, so processes agree. One statement a
 * request (an upsert on an unlogged table), for an API that admins, not
 * machines, mostly call.
 */
export function postgresRateLimitStore(pool: Pool, log: Logger, windowMs: number): FastifyRateLimitStoreCtor {
  let sinceLastPrune = 0;
  return class PostgresRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void): void {
      pool.query<{ requests: number; ttl: number }>(
        `INSERT INTO admin_rate_windows AS w (token_key, window_start, requests) VALUES ($1, now(), 1)
         ON CONFLICT (token_key) DO UPDATE SET
           requests = CASE WHEN w.window_start <= now() - $2 * interval '1 millisecond' THEN 1 ELSE w.requests + 1 END,
           window_start = CASE WHEN w.window_start <= now() - $2 * interval '1 millisecond' THEN now() ELSE w.window_start END
         RETURNING requests, ceil(extract(epoch FROM w.window_start + $2 * interval '1 millisecond' - now()) * 1000)::int AS ttl`,
        [key, windowMs],
      ).then(
        ({ rows }) => {
          callback(null, { current: rows[0]!.requests, ttl: Math.max(1, rows[0]!.ttl) });
          if ((sinceLastPrune += 1) >= PRUNE_EVERY_REQUESTS) {
            sinceLastPrune = 0;
            pool.query(`DELETE FROM admin_rate_windows WHERE window_start < now() - 2 * $1 * interval '1 millisecond'`, [windowMs])
              .catch((error: unknown) => log.warn({ err: error }, 'old rate-limit windows not deleted; tried again later'));
          }
        },
        (error: unknown) => callback(error as Error),
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
