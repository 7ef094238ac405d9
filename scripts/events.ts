/**
 * Schemas and sample events for the source topics.
 *
 *   npm run events -- register
 *   npm run events -- produce --type USER_CREATED --organization acme [--count 10]
 *   npm run events -- types
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { loadEventCatalog } from '../connector/events/catalog.js';
import { createKafka } from '../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../connector/kafka/schema-registry.js';
import { createRootLogger } from '../connector/observability/logger.js';
import { sourceFamilyOf } from '../schemas/avro/index.js';
import { produceEvents, registerSchemas, sampleEvent, topicOf } from './lib/sample-events.js';

const HELP = `npm run events -- <command> [options]

Commands:
  register    register the Avro schemas of the user, group and auth topics
              under <topic>-value with BACKWARD compatibility
  produce     produce sample events of one type to its source topic
                --type <EVENT_TYPE>      required; see "types"
                --organization <org>     required
                --count <n>              default 1
  types       list the event types of the catalog with their family

Addresses and topic names come from the connector's configuration
(KAFKA_BROKERS, SCHEMA_REGISTRY_URL, TOPIC_*_EVENTS; docs/configuration.md).`;

/** The options each command takes: any other is refused rather than ignored. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = { register: [], produce: ['type', 'organization', 'count'], types: [] };

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' }, type: { type: 'string' }, organization: { type: 'string' }, count: { type: 'string' } },
    });
  } catch (error) {
    // Node's message goes on about arguments after --, which is no help here.
    return fail(`${(error as Error).message.split('. ')[0]}; run with --help`);
  }
  const { positionals, values } = parsed;
  const command = positionals[0];
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!command) {
    console.error(HELP);
    return 2;
  }
  const allowed = Object.hasOwn(COMMAND_OPTIONS, command) ? COMMAND_OPTIONS[command] : undefined;
  if (!allowed) return fail(`unknown command "${command}"; run with --help`);
  const stray = Object.keys(values).find((option) => !allowed.includes(option));
  if (stray) return fail(`${command} takes no --${stray}; run with --help`);
  if (positionals.length > 1) return fail(`unexpected argument "${positionals[1]}"; run with --help`);
  const catalog = loadEventCatalog();
  if (command === 'types') {
    for (const event of catalog.events) console.log(`${event.type.padEnd(32)} ${event.family.padEnd(6)} ${event.description}`);
    return 0;
  }
  // The schema registry and Kafka addresses are all this tool needs; the encryption key is not.
  const config = loadConfig({ SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'), ...process.env });
  const log = createRootLogger({ level: config.log.level });
  const registry = createSchemaRegistryClient(config.schemaRegistry);
  if (command === 'register') {
    const ids = await registerSchemas(registry, config);
    for (const [family, id] of Object.entries(ids)) console.log(`${topicOf(config, family as 'user')}-value → schema id ${id} (BACKWARD)`);
    return 0;
  }
  if (command === 'produce') {
    const { type, organization } = values;
    const count = Number(values.count ?? '1');
    if (!type || !catalog.isKnownType(type)) return fail(`--type must be an event type of the catalog (npm run events -- types); got "${type ?? ''}"`);
    if (!organization) return fail('--organization is required');
    if (!Number.isInteger(count) || count < 1) return fail(`--count must be a positive integer; got "${values.count ?? ''}"`);
    const family = sourceFamilyOf(catalog.familyOf(type)!);
    const ids = await registerSchemas(registry, config);
    const topic = topicOf(config, family);
    const kafka = createKafka(config.kafka, log, 'events-cli');
    const events = Array.from({ length: count }, () => sampleEvent(catalog, type, organization));
    await produceEvents(kafka, registry, ids[family], topic, events);
    console.log(`produced ${count} ${type} event(s) for ${organization} to ${topic}`);
    return 0;
  }
  return fail(`unknown command "${command}"; run with --help`);
}

function fail(message: string): number {
  console.error(`events: ${message}`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) for (const problem of error.problems) console.error(`events: config error: ${problem}`);
    else console.error(`events: ${(error as Error).message}`);
    process.exit(1);
  },
);
