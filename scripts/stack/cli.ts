import { parseArgs } from 'node:util';
import { APICURIO_VERSION, ensureStackUp, KAFKA_VERSION, stackOptionsFromEnv, stackStatus, stopStack, StackError } from './index.js';
import { developmentEnv, endpointsOf, exportLines, stackEncryptionKey } from './options.js';

const HELP = `Usage: npm run stack:<up|down|status|env>     (or: tsx scripts/stack/cli.ts <command> [--clean])

The local stack of real services, without Docker:
  up             start Apache Kafka ${KAFKA_VERSION} (KRaft, one node), Apicurio Registry ${APICURIO_VERSION}
                 and Postgres 18 as local processes, in the background. The first run
                 downloads Kafka and Apicurio with Maven into the cache. A no-op when
                 everything runs; restarts only what has stopped. Prints the addresses
                 as KAFKA_BROKERS=…, SCHEMA_REGISTRY_URL=…, DATABASE_URL=…
  down           stop what "up" started (data kept)
  down --clean   also delete the data and logs, so the next "up" starts fresh
                 (npm run stack:down -- --clean)
  status         each service: running or stopped, pid, health, address;
                 exit code 0 when all are healthy, 3 otherwise
  env            the settings to run the connector, the admin API and the event
                 tool by hand against the stack, as export lines:
                   eval "$(npm run --silent stack:env)"
                 (addresses, NODE_ENV=development, one replica per topic, plain
                 HTTP to 127.0.0.1, and an encryption key kept in STACK_DIR)

Needs Java 17+ on the PATH, and Maven for the first download.

Environment:
  STACK_DIR                    data, logs and pids            (default: <repo>/.stack)
  STACK_CACHE_DIR              downloads, shared by clones    (default: \${XDG_CACHE_HOME:-~/.cache}/identity-webhooks-stack)
  STACK_KAFKA_PORT             Kafka clients                  (default: 19092)
  STACK_KAFKA_CONTROLLER_PORT  Kafka's KRaft controller       (default: 19093)
  STACK_REGISTRY_PORT          Apicurio Registry              (default: 18081)
  STACK_POSTGRES_PORT          Postgres                       (default: 15432)`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, clean: { type: 'boolean' } } });
  } catch (error) {
    // Node's message goes on about arguments after --, which is no help here.
    console.error(`stack: ${(error as Error).message.split('. ')[0]}; run with --help`);
    return 2;
  }
  const { positionals, values } = parsed;
  const command = positionals[0];
  if (values.help || command === 'help') {
    console.log(HELP);
    return 0;
  }
  if (!command) {
    console.error(HELP);
    return 2;
  }
  // `stack:down -- clean` would keep the data it was asked to delete; `stack:up -- --clean` would not start fresh.
  if (positionals.length > 1) {
    console.error(`stack: unexpected argument "${positionals[1]}"; run with --help`);
    return 2;
  }
  if (values.clean && command !== 'down') {
    console.error(`stack: --clean goes with down only (npm run stack:down -- --clean, then stack:up to start fresh)`);
    return 2;
  }
  const options = stackOptionsFromEnv();
  const log = (line: string): void => console.log(line);
  switch (command) {
    case 'up':
      await ensureStackUp(options, log);
      return 0;
    case 'down':
      await stopStack(options, log, { clean: values.clean ?? false });
      return 0;
    case 'status': {
      const statuses = await stackStatus(options);
      for (const s of statuses) {
        const state = s.running ? `running  pid ${String(s.pid).padEnd(8)}` : 'stopped'.padEnd(21);
        console.log(`${s.name.padEnd(9)} ${state} healthy: ${s.healthy ? 'yes' : 'no '}  ${s.address}`);
      }
      return statuses.every((s) => s.healthy) ? 0 : 3;
    }
    case 'env':
      for (const line of exportLines(developmentEnv(endpointsOf(options), stackEncryptionKey(options.stateDir)))) console.log(line);
      return 0;
    default:
      console.error(`stack: unknown command "${command}"; run with --help`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // A StackError is the whole story in a line (plus log lines); anything else is a bug worth its stack trace.
    console.error(`stack: ${error instanceof StackError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
