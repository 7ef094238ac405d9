import type pg from 'pg';
import type { Pool } from './pool.js';

/**
 * Runs `work` on one connection inside a transaction: committed when it
 * resolves, rolled back when it throws (the error goes on). A connection
 * that failed, or cannot even roll back, is discarded rather than handed
 * out again.
 */
export async function inTransaction<T>(pool: Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool listens for errors of idle connections only: a borrowed one that drops (a failover, a killed backend)
  // would otherwise throw its error out of the process. Its query under way fails too, and that is what we act on.
  const onError = (error: Error): void => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // Not answered in time (DATABASE_QUERY_TIMEOUT_MS): a ROLLBACK would queue behind the statement still running.
    // The connection is dropped instead, and Postgres rolls the transaction back when it sees it gone.
    if (error instanceof Error && /Query read timeout/.test(error.message)) broken ??= error;
    else await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken ??= rollbackError as Error));
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
