import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { migrateUp } from '../../connector/db/migrate.js';
import type { Logger } from '../../connector/observability/logger.js';

export interface OwnDatabase {
  /** The database's URL, migrated. */
  url: string;
  drop(): Promise<void>;
}

/**
 * A migrated database of the test's own on the suite's Postgres, for tests
 * that touch every row of a table (a key rotation) or lock it: the shared
 * database's other tests never see them.
 */
export async function createOwnDatabase(serverUrl: string, prefix: string, log: Logger): Promise<OwnDatabase> {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`;
  const onServer = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await migrateUp(url.toString(), log);
  return { url: url.toString(), drop: () => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
