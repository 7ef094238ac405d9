import { parseArgs } from 'node:util';
import { ensureStackUp, stackOptionsFromEnv, stackStatus, stopStack, StackError } from './index.js';

const HELP = `npm run stack:<up|down|status>   (tsx scripts/stack/cli.ts <command>)

The local stack of real services, without Docker:
  up       start Apache Kafka (KRaft), Apicurio Registry and Postgres as local
           processes; downloads Kafka and Apicurio with Maven on first use;
           a no-op when everything already runs
  down     stop what "up" started (--clean also deletes the data)
  status   each service's pid, address and health; exit 3 if any is down

Environment: STACK_DIR (default .stack), STACK_CACHE_DIR (default
~/.cache/identity-webhooks-stack), STACK_KAFKA_PORT (19092),
STACK_KAFKA_CONTROLLER_PORT (19093), STACK_REGISTRY_PORT (18081),
STACK_POSTGRES_PORT (15432).`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, clean: { type: 'boolean' } } });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(HELP);
    return values.help ? 0 : 2;
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
      for (const s of statuses) console.log(`${s.name.padEnd(9)} ${s.running ? `running (pid ${s.pid})` : 'stopped'.padEnd(20)}  ${s.healthy ? 'healthy  ' : 'unhealthy'}  ${s.address}`);
      return statuses.every((s) => s.healthy) ? 0 : 3;
    }
    default:
      console.error(`stack: unknown command "${command}"; run with --help`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`stack: ${error instanceof StackError ? error.message : (error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
