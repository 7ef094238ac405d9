/**
 * The demo: local stack up, connector running (router + deliverer), a sample
 * receiver on 127.0.0.1, a webhook subscribed to user events, sample events
 * produced, and each delivery printed as the receiver gets it.
 *
 *   npm run demo             keeps running until Ctrl-C
 *   npm run demo -- --once   exits after the sample deliveries arrived
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { startRole, stopParts, type RunningPart } from '../connector/app.js';
import { migrateUp } from '../connector/db/migrate.js';
import { createPool } from '../connector/db/pool.js';
import { generateSigningSecret } from '../connector/delivery/signature.js';
import { createKafka } from '../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../connector/kafka/schema-registry.js';
import { ensureTopics } from '../connector/kafka/topics.js';
import { createRootLogger } from '../connector/observability/logger.js';
import { createSecretBox } from '../connector/security/encryption.js';
import { insertWebhook } from '../connector/subscriptions/repository.js';
import { startReceiver } from './lib/receiver.js';
import { loadEventCatalog } from '../connector/events/catalog.js';
import { produceEvents, registerSchemas, sampleEvent } from './lib/sample-events.js';
import { verifyStandardWebhook } from './lib/verify-signature.js';
import { ensureStackUp, stackOptionsFromEnv } from './stack/index.js';

const HELP = `npm run demo [-- --once]

Starts the local stack (Kafka, Apicurio Registry, Postgres), the connector's
router and deliverer, and a sample receiver; creates a webhook for the
organization "parallelworks" subscribed to user.*; produces sample
USER_CREATED and USER_DISABLED events and prints each delivery.
  --once   exit after the sample deliveries arrived (default: run until Ctrl-C)`;

const DEMO_DESCRIPTION = 'Created by npm run demo';
const step = (text: string): void => console.log(`\n▶ ${text}`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return console.log(HELP);

  step('Starting the local stack (first run downloads Kafka and Apicurio with Maven; later runs take seconds)');
  const { endpoints } = await ensureStackUp(stackOptionsFromEnv(), (line) => console.log(`  ${line}`));

  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'error',
    KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
    DATABASE_URL: endpoints.databaseUrl,
    SECRETS_ENCRYPTION_KEY: process.env['SECRETS_ENCRYPTION_KEY'] ?? randomBytes(32).toString('base64'),
    TOPIC_REPLICATION_FACTOR: '1',
    HTTP_ALLOW_PLAIN_HTTP: 'true',
    HTTP_SSRF_ALLOWLIST: '127.0.0.1',
    SERVER_PORT: '0',
  });
  const log = createRootLogger({ level: config.log.level });
  const kafka = createKafka(config.kafka, log, 'demo');
  const registry = createSchemaRegistryClient(config.schemaRegistry);

  step('Preparing Postgres, topics and the Avro schema');
  await migrateUp(config.database.url, log);
  const { userEvents, groupEvents, authEvents } = config.topics;
  await ensureTopics(kafka, [userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 3 })), 1);
  const schemaIds = await registerSchemas(registry, config);
  console.log(`  schemas registered (BACKWARD): ${JSON.stringify(schemaIds)}`);

  const receiver = await startReceiver();
  const pool = createPool({ url: config.database.url, max: 2, applicationName: 'demo' }, log);
  // An earlier demo's webhook points at a receiver that is gone; start clean.
  await pool.query('DELETE FROM webhooks WHERE description = $1', [DEMO_DESCRIPTION]);
  const secret = generateSigningSecret();
  const webhookId = await insertWebhook(pool, createSecretBox(config.secrets.encryptionKey), {
    organization: 'parallelworks',
    name: 'demo',
    description: DEMO_DESCRIPTION,
    url: receiver.url,
    eventTypes: ['user.*'],
    owner: 'demo@parallelworks.com',
    verified: true,
    signingSecret: secret,
  });
  console.log(`  webhook ${webhookId} → ${receiver.url} (user.*)`);

  let printed = 0;
  receiver.respondWith((request) => {
    printed += 1;
    const valid = verifyStandardWebhook(secret, request.headers, request.body);
    console.log(`\n✔ delivery ${printed} (webhook-id ${String(request.headers['webhook-id'])}, signature ${valid ? 'valid' : 'INVALID'}):`);
    console.log(JSON.stringify(JSON.parse(request.body), null, 2));
    return { status: 204 };
  });

  step('Starting the connector: router, deliverer and attempts sink');
  const parts: RunningPart[] = [];
  for (const role of ['router', 'deliverer', 'sink'] as const) parts.push(...(await startRole(role, config, log)).parts);

  const shutdown = async (code: number): Promise<never> => {
    console.log('\nStopping the connector (the stack keeps running; npm run stack:down stops it)');
    await stopParts(parts, log);
    await receiver.close();
    await pool.end();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  step('Producing sample events: USER_CREATED and USER_DISABLED for parallelworks');
  const catalog = loadEventCatalog();
  const user = { username: 'demo', email: 'demo@parallelworks.com', organization: 'parallelworks' };
  const events = [
    sampleEvent(catalog, 'USER_CREATED', 'parallelworks', { ...user, userId: '66ec445884b4103f670d0c86', remainingSeats: 5 }),
    sampleEvent(catalog, 'USER_DISABLED', 'parallelworks', { ...user, userId: '653c787c8e048caa7cb4e554' }),
  ];
  await produceEvents(kafka, registry, schemaIds.user, userEvents, events);

  const deadline = Date.now() + 60_000;
  while (printed < events.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (printed < events.length) {
    console.error(`demo: only ${printed} of ${events.length} deliveries arrived within 60 s; see the logs above`);
    await shutdown(1);
  }
  if (values.once) await shutdown(0);
  console.log('\nThe connector is running. Press Ctrl-C to stop.');
}

main().catch((error: unknown) => {
  console.error(`demo: ${(error as Error).message}`);
  process.exit(1);
});
