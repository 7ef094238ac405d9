import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { Logger } from '../observability/logger.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));
/** Our own advisory lock key: instances starting together wait for each other instead of failing. */
const MIGRATION_LOCK_KEY = 7_243_990_118;

/** Applies pending SQL migrations; instances that start at once take turns. */
export async function migrateUp(databaseUrl: string, log: Logger): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'identity-webhooks-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'schema_migrations',
      count: Infinity,
      checkOrder: true,
      singleTransaction: true,
      noLock: true,
      logger: {
        debug: (msg: string) => log.debug(msg),
        info: (msg: string) => log.debug(msg),
        warn: (msg: string) => log.warn(msg),
        error: (msg: string) => log.error(msg),
      },
    });
    const names = applied.map((m) => m.name);
    log.info({ applied: names }, names.length > 0 ? 'database migrations applied' : 'database schema up to date');
    return names;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
