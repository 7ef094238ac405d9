/**
 * Router throughput against a raw kafkajs consume→produce passthrough on the
 * same source records, in the same run. Prints ratios and writes JSON to
 * bench/results/router.json.
 *
 *   npm run bench:router [-- --events 20000]
 *
 * Scenarios: 1, 100 and 10,000 subscriptions in the matching organization
 * (one of them matches each event, the rest watch other types, so fan-out
 * stays 1 and only matching cost varies), and 100,000 subscriptions spread
 * over 1,000 organizations. It also times the index lookup alone (no Kafka)
 * at each of those subscription counts, in nanoseconds per event.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig, type ConnectorConfig } from '../config/load.js';
import { startRole, stopParts } from '../connector/app.js';
import { throwFatal } from '../connector/lifecycle.js';
import { migrateUp } from '../connector/db/migrate.js';
import { createPool, type Pool } from '../connector/db/pool.js';
import { createKafka, createProducer } from '../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../connector/kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from '../connector/kafka/topics.js';
import { loadEventCatalog } from '../connector/events/catalog.js';
import { createRootLogger } from '../connector/observability/logger.js';
import { produceEvents, registerSchemas, sampleEvent } from '../scripts/lib/sample-events.js';
import { buildSubscriptionIndex } from '../connector/subscriptions/subscription-index.js';
import { numberOption, onlyOption, parseBenchArgs, runBench } from './lib/bench-args.js';
import { benchServices, deleteTopics } from './services.js';

const OTHER_TYPES = ['USER_DISABLED', 'USER_MODIFIED', 'USER_DELETED', 'USER_ENABLED', 'GROUP_CREATED', 'USER_LOGIN', 'EMAIL_CHANGED'];

interface Scenario {
  name: string;
  subscriptionsInOrg: number;
  subscriptionsElsewhere: number;
}

async function main(): Promise<void> {
  const values = parseBenchArgs({ events: { type: 'string', default: '40000' }, repeat: { type: 'string', default: '3' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) return console.log('npm run bench:router [-- --events N --repeat R --only 1,2]   router events/s vs raw kafkajs passthrough (medians of R interleaved runs, after a warm-up); --only picks scenarios by number (1 sub, 100, 10,000, 100,000 over orgs)');
  const events = numberOption('events', values.events);
  const repeat = numberOption('repeat', values.repeat);
  // Checked before the stack is touched.
  const only = onlyOption(values.only, ['1', '2', '3', '4']);
  const services = await benchServices();
  const log = createRootLogger({ level: 'warn' });
  const base = (id: string): Readonly<ConnectorConfig> =>
    loadConfig({
      NODE_ENV: 'test', LOG_LEVEL: 'warn', KAFKA_BROKERS: services.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: services.schemaRegistryUrl,
      DATABASE_URL: services.databaseUrl, SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TOPIC_REPLICATION_FACTOR: '1',
      TOPIC_USER_EVENTS: `bench-${id}.user-events`, TOPIC_GROUP_EVENTS: `bench-${id}.group-events`, TOPIC_AUTH_EVENTS: `bench-${id}.auth-events`,
      TOPIC_DELIVERIES: `bench-${id}.deliveries`, TOPIC_INGEST_DLQ: `bench-${id}.ingest-dlq`, TOPIC_DELIVERIES_DLQ: `bench-${id}.dlq`,
      TOPIC_ATTEMPTS: `bench-${id}.attempts`, TOPIC_ATTEMPTS_DLQ: `bench-${id}.attempts-dlq`, ROUTER_GROUP_ID: `bench-${id}-router`, SERVER_PORT: '0',
    });

  await migrateUp(services.databaseUrl, log);
  const pool = createPool({ url: services.databaseUrl, max: 4, applicationName: 'bench' }, log);
  const catalog = loadEventCatalog();
  const results: Record<string, unknown>[] = [];

  const allScenarios: Scenario[] = [
    { name: '1 subscription', subscriptionsInOrg: 1, subscriptionsElsewhere: 0 },
    { name: '100 subscriptions in the org', subscriptionsInOrg: 100, subscriptionsElsewhere: 0 },
    { name: '10,000 subscriptions in the org', subscriptionsInOrg: 10_000, subscriptionsElsewhere: 0 },
    { name: '100,000 subscriptions over 1,000 orgs', subscriptionsInOrg: 100, subscriptionsElsewhere: 99_900 },
  ];
  const scenarios = allScenarios.filter((_, index) => only(String(index + 1)));

  /** One passthrough run and one router run on the same fresh records; returns steady-state events/s of each. */
  const measure = async (scenario: Scenario, count: number): Promise<{ passthrough: number; router: number; tasks: number }> => {
    const id = randomUUID().slice(0, 8);
    const config = base(id);
    const organization = `bench-org-${id}`;
    await seedSubscriptions(pool, organization, scenario);
    const kafka = createKafka(config.kafka, log, 'bench');
    const registry = createSchemaRegistryClient(config.schemaRegistry);
    const { userEvents, groupEvents, authEvents } = config.topics;
    await ensureTopics(kafka, [userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 3 })), 1);
    await ensureTopics(kafka, [...connectorTopics(config), { topic: `bench-${id}.passthrough`, numPartitions: 12 }], 1);
    const ids = await registerSchemas(registry, config);
    for (let sent = 0; sent < count; sent += 1000) {
      const batch = Array.from({ length: Math.min(1000, count - sent) }, () => sampleEvent(catalog, 'USER_CREATED', organization));
      await produceEvents(kafka, registry, ids.user, userEvents, batch);
    }
    const passthroughCount = await startCounting(config, `bench-${id}.passthrough`, count, 'raw');
    const stopPassthrough = await rawPassthrough(config, `bench-${id}.passthrough`);
    const passthroughMs = (await passthroughCount.done).steadyMs;
    await stopPassthrough();
    const routerCount = await startCounting(config, config.topics.deliveries, count, 'router');
    const running = await startRole('router', config, log, throwFatal);
    const { seen, steadyMs: routerMs } = await routerCount.done;
    await stopParts(running.parts, log);
    await pool.query('DELETE FROM webhooks WHERE organization LIKE $1', [`bench-org-${id}%`]);
    await deleteTopics(kafka, `bench-${id}.`);
    return { passthrough: count / (passthroughMs / 1000), router: count / (routerMs / 1000), tasks: seen };
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  // Matching alone, without Kafka: the index lookup per event at each subscription count.
  const matching = matchingCost(allScenarios);
  for (const row of matching) console.log(`matching, ${row.scenario}: ${row.nanosecondsPerMatch} ns per event`);

  process.stdout.write('warm-up (discarded)… ');
  await measure(scenarios[0]!, Math.min(events, 5000));
  for (const scenario of scenarios) {
    const runs = [];
    for (let r = 0; r < repeat; r++) {
      process.stdout.write(`\n${scenario.name}, run ${r + 1}/${repeat}… `);
      const run = await measure(scenario, events);
      runs.push(run);
      process.stdout.write(`passthrough ${Math.round(run.passthrough)} ev/s, router ${Math.round(run.router)} ev/s, ratio ${(run.router / run.passthrough).toFixed(2)}`);
    }
    results.push({
      scenario: scenario.name,
      events,
      runs: repeat,
      tasks: runs[0]!.tasks,
      passthroughEventsPerSecond: Math.round(median(runs.map((r) => r.passthrough))),
      routerEventsPerSecond: Math.round(median(runs.map((r) => r.router))),
      ratio: Number(median(runs.map((r) => r.router / r.passthrough)).toFixed(3)),
    });
  }
  await pool.end();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/router.json', JSON.stringify({ at: new Date().toISOString(), results, matching }, null, 2));
  console.log('\n\nmedians of interleaved runs, steady state (first to last output)\nscenario                                 router ev/s  passthrough ev/s  ratio');
  for (const r of results as Array<Record<string, string | number>>) {
    console.log(`${String(r['scenario']).padEnd(40)} ${String(r['routerEventsPerSecond']).padStart(11)} ${String(r['passthroughEventsPerSecond']).padStart(17)}  ${r['ratio']}`);
  }
  console.log('\nwritten to bench/results/router.json');
  process.exit(0);
}

/** Nanoseconds per index lookup for an event of the matching organization, with each scenario's subscriptions. */
function matchingCost(scenarios: Scenario[]): Array<{ scenario: string; subscriptions: number; nanosecondsPerMatch: number }> {
  return scenarios.map((scenario) => {
    const organization = 'bench-org';
    const routes = [{ id: 'matching', organization, eventTypes: ['USER_CREATED'] }];
    for (let i = 1; i < scenario.subscriptionsInOrg; i++) routes.push({ id: `in-org-${i}`, organization, eventTypes: [OTHER_TYPES[i % OTHER_TYPES.length]!] });
    for (let i = 0; i < scenario.subscriptionsElsewhere; i++) routes.push({ id: `elsewhere-${i}`, organization: `${organization}-${i % 1000}`, eventTypes: ['USER_CREATED'] });
    const index = buildSubscriptionIndex(routes);
    const lookups = 1_000_000;
    let found = 0;
    for (let i = 0; i < 100_000; i++) found += index.match(organization, 'USER_CREATED', 'user').length; // warm-up
    const started = process.hrtime.bigint();
    for (let i = 0; i < lookups; i++) found += index.match(organization, 'USER_CREATED', 'user').length;
    const elapsed = Number(process.hrtime.bigint() - started);
    if (found !== lookups + 100_000) throw new Error(`expected one match per lookup, got ${found}`);
    return { scenario: scenario.name, subscriptions: routes.length, nanosecondsPerMatch: Math.round(elapsed / lookups) };
  });
}

/** Subscriptions for the scenario: one matching per event, the rest on other types or in other orgs. */
async function seedSubscriptions(pool: Pool, organization: string, scenario: Scenario): Promise<void> {
  const rows: Array<[string, string]> = [[organization, 'USER_CREATED']];
  for (let i = 1; i < scenario.subscriptionsInOrg; i++) rows.push([organization, OTHER_TYPES[i % OTHER_TYPES.length]!]);
  for (let i = 0; i < scenario.subscriptionsElsewhere; i++) rows.push([`${organization}-${i % 1000}`, 'USER_CREATED']);
  for (let i = 0; i < rows.length; i += 5000) {
    const slice = rows.slice(i, i + 5000);
    await pool.query(
      `INSERT INTO webhooks (organization, name, url, event_types, verification_status, signing_secret_enc, owner)
       SELECT o, 'bench', 'https://example.com/h', ARRAY[t], 'verified', 'v1:unused', 'bench' FROM unnest($1::text[], $2::text[]) AS s(o, t)`,
      [slice.map((r) => r[0]), slice.map((r) => r[1])],
    );
  }
}

/** The baseline: read every source record and write it to another topic, with plain kafkajs. */
async function rawPassthrough(config: Readonly<ConnectorConfig>, outTopic: string): Promise<() => Promise<void>> {
  const kafka = createKafka(config.kafka, createRootLogger({ level: 'warn' }), 'bench-raw');
  const consumer = kafka.consumer({ groupId: `${config.router.groupId}-raw` });
  const producer = createProducer(kafka, { idempotent: true });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [config.topics.userEvents], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      await producer.send({ topic: outTopic, messages: batch.messages.map((m) => ({ key: m.key, value: m.value })) });
    },
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}

/**
 * An independent read_committed consumer on the output topic. Steady-state
 * time runs from the first output record to the last, by the timestamps the
 * producers gave them, so neither pipeline's start-up nor how soon this
 * consumer joins its group counts.
 */
async function startCounting(config: Readonly<ConnectorConfig>, topic: string, expected: number, label: string): Promise<{ done: Promise<{ seen: number; steadyMs: number }> }> {
  const kafka = createKafka(config.kafka, createRootLogger({ level: 'warn' }), `bench-count-${label}`);
  const consumer = kafka.consumer({ groupId: `${config.router.groupId}-count-${label}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let first = Infinity;
  let last = -Infinity;
  const done = new Promise<{ seen: number; steadyMs: number }>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const at = Number(message.timestamp);
          if (at < first) first = at;
          if (at > last) last = at;
        }
        seen += batch.messages.length;
        if (seen >= expected) resolve({ seen, steadyMs: Math.max(1, last - first) });
      },
    });
  });
  return {
    done: done.then(async (result) => {
      await consumer.disconnect();
      return result;
    }),
  };
}

runBench('bench:router', main);
