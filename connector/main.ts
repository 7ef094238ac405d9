import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type ConnectorConfig } from '../config/load.js';
import { startRole, stopParts, type Role, type RunningPart } from './app.js';
import { migrateUp } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { createSecretBox } from './security/encryption.js';
import { reencryptSecrets } from './security/reencrypt.js';
import { stopOnSignals } from './lifecycle.js';
import { createRootLogger, type Logger } from './observability/logger.js';
import { startOpsServer, type ReadinessCheck } from './observability/server.js';

const HELP = `identity-webhooks: routes identity events from Kafka to webhooks

Usage: identity-webhooks <command> [--help]
  (the Docker image's entrypoint; from a checkout: npm run connector -- <command>,
  or npm run migrate, npm run reencrypt-secrets)

Commands:
  router      consume identity topics, match subscriptions, publish delivery tasks
  deliverer   consume delivery tasks and POST them to webhook endpoints; relay
              webhook change events (WEBHOOK_*) recorded in Postgres
  sink        write every delivery attempt to the Postgres delivery log
  all         router, deliverer and sink in one process (development, small installs)
  migrate     apply pending database migrations and exit
  reencrypt-secrets
              encrypt every stored webhook secret and API key, and the admin API's
              kept Idempotency-Key answers, again with SECRETS_ENCRYPTION_KEY, each
              sealed to its place, and exit: the last step of a key rotation, run
              once every process has the new key and the old one in
              SECRETS_PREVIOUS_ENCRYPTION_KEYS (and once after upgrading from v1:
              values)

Configuration comes from environment variables only; every key is listed in
docs/configuration.md. A wrong value stops start-up with the key and the reason.
Each long-running command serves /healthz, /readyz and /metrics on SERVER_PORT.
SIGTERM or SIGINT stops it in order: stop consuming, finish in-flight work,
commit, close producers and pools.`;

const COMMANDS = ['router', 'deliverer', 'sink', 'all', 'migrate', 'reencrypt-secrets'] as const;
/** Commands that do their work and exit 0, rather than run until stopped. */
const ONE_SHOT: readonly Command[] = ['migrate', 'reencrypt-secrets'];
type Command = (typeof COMMANDS)[number];

async function run(command: Command, config: Readonly<ConnectorConfig>, log: Logger): Promise<void> {
  if (command === 'migrate') {
    await migrateUp(config.database.url, log.child({ component: 'migrate' }));
    return;
  }
  if (command === 'reencrypt-secrets') {
    const pool = createPool({ url: config.database.url, max: 1, queryTimeoutMs: config.database.queryTimeoutMs, applicationName: 'identity-webhooks-reencrypt' }, log);
    try {
      const box = createSecretBox(config.secrets.encryptionKey, config.secrets.previousEncryptionKeys);
      const done = await reencryptSecrets(pool, box, createSecretBox(config.secrets.encryptionKey), log.child({ component: 'reencrypt' }));
      log.info(done, 'every stored secret is encrypted with the current key; SECRETS_PREVIOUS_ENCRYPTION_KEYS may be emptied');
    } finally {
      await pool.end();
    }
    return;
  }
  const roles: Role[] = command === 'all' ? ['router', 'deliverer', 'sink'] : [command];
  const parts: RunningPart[] = [];
  let starting: Promise<void> = Promise.resolve();
  /** The one ordered stop, whoever asks first: a signal, a fatal error, or a start-up that failed. */
  let stopped: Promise<void> | null = null;
  const stopAll = (): Promise<void> => (stopped ??= stopParts(parts, log));
  const stopOnFatal = stopOnSignals({
    log,
    timeoutMs: config.shutdown.timeoutMs,
    description: 'stop consuming, finish in-flight work, commit, close',
    // A signal during start-up stops what started once start-up has settled, not the parts started so far; should
    // start-up fail, the stop fails with it, and the process exits non-zero.
    stop: () => starting.then(stopAll, (error: unknown) => stopAll().then(() => Promise.reject(error))),
  });

  const start = async (): Promise<void> => {
    await migrateUp(config.database.url, log.child({ component: 'migrate' }));
    const checks: Record<string, ReadinessCheck> = {};
    for (const role of roles) {
      const running = await startRole(role, config, log.child({ role }), stopOnFatal);
      parts.push(...running.parts);
      Object.assign(checks, running.checks);
    }
    const ops = await startOpsServer({ host: config.server.host, port: config.server.port, checks });
    parts.unshift({ name: 'ops server', stop: () => ops.close() });
    log.info({ roles, port: ops.port }, 'connector running');
  };
  starting = start();
  try {
    await starting;
  } catch (error) {
    // Roles already running (consumers in their groups, producers, pools) leave in order before the process exits:
    // a port taken by another process must not leave partitions held until the session times out. Bounded as a
    // signal's stop is: a step that hangs must not keep a failed process from exiting.
    let bounded: NodeJS.Timeout | undefined;
    const outlasted = new Promise<boolean>((resolve) => (bounded = setTimeout(() => resolve(true), config.shutdown.timeoutMs)));
    if (await Promise.race([stopAll().then(() => false, () => false), outlasted])) {
      log.error({ timeoutMs: config.shutdown.timeoutMs }, 'stopping after the failed start-up exceeded its bound; exiting');
    }
    clearTimeout(bounded);
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    // Settings are environment variables, not options: say so rather than print a stack trace.
    console.error(`identity-webhooks: ${(error as Error).message.split('. ')[0]}; settings are environment variables (docs/configuration.md); run with --help`);
    return 2;
  }
  const { positionals, values } = parsed;
  const command = positionals[0];
  if (values.help || command === 'help') {
    console.log(HELP);
    return 0;
  }
  if (command === undefined) {
    console.error(HELP);
    return 2;
  }
  // One command a process: `router sink` would otherwise run the router alone, and say nothing of the sink.
  if (positionals.length > 1) {
    console.error(`identity-webhooks: unexpected argument "${positionals[1]}": one command at a time (all runs router, deliverer and sink in one process); run with --help`);
    return 2;
  }
  if (!COMMANDS.includes(command as Command)) {
    console.error(`identity-webhooks: unknown command "${command}"; run with --help`);
    return 2;
  }
  let config: Readonly<ConnectorConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`identity-webhooks: config error: ${problem}`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  const log = createRootLogger({ level: config.log.level });
  try {
    await run(command as Command, config, log);
    return ONE_SHOT.includes(command as Command) ? 0 : -1;
  } catch (error) {
    const what = ONE_SHOT.includes(command as Command) ? `${command} failed` : 'start-up failed';
    log.fatal({ err: error }, what);
    console.error(`identity-webhooks: ${what}: ${(error as Error).message}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
});
