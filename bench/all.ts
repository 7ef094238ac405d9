/**
 * `npm run bench`: the router's benchmark, then the deliverer's, each with
 * its defaults, one after the other (they share the machine, so never at
 * once). Options belong to one of them: run bench:router or bench:delivery.
 * Each runs with the connector's Node flags, as its npm script does.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../connector/node-flags.js';

const HELP = `npm run bench
  runs bench:router, then bench:delivery, each with its defaults, and writes
  bench/results/*.json. Each takes options of its own:
    npm run bench:router -- --help
    npm run bench:delivery -- --help
    npm run bench:delivery-costs -- --help`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
if (args.length > 0) {
  console.error(`bench: options go to one benchmark (got ${args.join(' ')}): npm run bench:router -- … or npm run bench:delivery -- …`);
  process.exit(2);
}
for (const script of ['router.ts', 'delivery.ts']) {
  const { status } = spawnSync(process.execPath, [...NODE_FLAGS, '--import', 'tsx', fileURLToPath(new URL(script, import.meta.url))], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? 1);
}
