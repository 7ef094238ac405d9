/**
 * The admin API process. This first version serves health and metrics; the
 * /v1 webhook routes (issue: Admin API) mount in admin-api/routes/.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { createPool } from '../connector/db/pool.js';
import { createRootLogger } from '../connector/observability/logger.js';
import { startOpsServer } from '../connector/observability/server.js';

const HELP = `identity-webhooks admin API

Usage: node dist/admin-api/main.js [--help]

Serves /healthz, /readyz (Postgres reachable) and /metrics on SERVER_PORT.
Configuration: environment variables, see docs/configuration.md.`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) return console.log(HELP);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`admin-api: config error: ${problem}`);
    process.exit(78);
  }
  const log = createRootLogger({ level: config.log.level }).child({ component: 'admin-api' });
  const pool = createPool({ url: config.database.url, max: config.database.poolSize, applicationName: 'identity-webhooks-admin-api' }, log);
  const server = await startOpsServer({
    host: config.server.host,
    port: config.server.port,
    checks: { postgres: async () => void (await pool.query('SELECT 1')) },
  });
  log.info({ port: server.port }, 'admin API listening');
  const stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    void server.close().then(() => pool.end()).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(`admin-api: start-up failed: ${(error as Error).message}`);
  process.exit(1);
});
