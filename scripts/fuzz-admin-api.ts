/**
 * The long fuzz of the admin API, on demand: the same test `npm test` runs
 * (test/integration/admin-api-fuzz.test.ts: the real app on real Postgres and
 * Kafka, schemathesis generating requests from /openapi.json), with more
 * examples per operation and optionally a time budget. Services come as for
 * `npm test`: a running local stack is reused, else one is started and stopped.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const HELP = `Fuzz the admin API from its OpenAPI document (schemathesis), longer than npm test does.

Usage: npm run fuzz:admin-api -- [--examples N] [--max-time SECONDS] [--seed N]

  --examples N        test cases per operation and phase (default 300; npm test: 15)
  --max-time SECONDS  keep fuzzing until this budget is spent (fuzzing and stateful phases)
  --seed N            replay a run: the seed is printed at the end of every run
  -h, --help          this text

Failures print schemathesis's report with a curl line to reproduce each.`;

function main(): void {
  const { values } = parseArgs({
    options: {
      examples: { type: 'string', default: '300' },
      'max-time': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const positive = (name: string, raw: string | undefined): string | undefined => {
    if (raw === undefined) return undefined;
    if (!/^[1-9][0-9]*$/.test(raw)) throw new Error(`--${name} must be a positive whole number; got "${raw}"`);
    return raw;
  };
  const env: NodeJS.ProcessEnv = { ...process.env, FUZZ_MAX_EXAMPLES: positive('examples', values.examples) };
  const maxTime = positive('max-time', values['max-time']);
  if (maxTime) env['FUZZ_MAX_TIME'] = maxTime;
  const seed = positive('seed', values.seed);
  if (seed) env['FUZZ_SEED'] = seed;

  const child = spawn('npx', ['vitest', 'run', '--project', 'integration', 'test/integration/admin-api-fuzz.test.ts'], { env, stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

try {
  main();
} catch (error) {
  console.error(`fuzz:admin-api: ${(error as Error).message}`);
  process.exit(2);
}
