/**
 * The demo: the whole system on this machine, as an operator runs it.
 *
 *   npm run demo             runs until Ctrl-C, printing a live summary
 *   npm run demo -- --once   exits after the sample deliveries arrived
 */
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createToken, listTokens, revokeToken } from '../admin-api/store/tokens.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { migrateUp } from '../connector/db/migrate.js';
import { createPool } from '../connector/db/pool.js';
import { loadEventCatalog } from '../connector/events/catalog.js';
import { createKafka } from '../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../connector/kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from '../connector/kafka/topics.js';
import { createRootLogger } from '../connector/observability/logger.js';
import { portNear, spawnService, tail, waitUntilServing, type ChildService } from './lib/child-service.js';
import { createLiveSummary, snapshotOf } from './lib/live-summary.js';
import { parseMetrics, sumOf, type Sample } from './lib/metrics-text.js';
import { findPrometheus, startPrometheus, type RunningPrometheus } from './lib/prometheus.js';
import { startReceiver, type ReceivedRequest } from './lib/receiver.js';
import { createSampleProducer, registerSchemas, sampleEvent, type IdentityEventRecord, type SampleProducer } from './lib/sample-events.js';
import { verifyStandardWebhook } from './lib/verify-signature.js';
import { ensureStackUp, stackOptionsFromEnv } from './stack/index.js';
import { developmentEnv, stackEncryptionKey, type ServiceEndpoints } from './stack/options.js';
import { NODE_FLAGS } from '../connector/node-flags.js';

const HELP = `npm run demo [-- [--once] [--rate <n>] [--failures <percent>]]

Brings up the local stack (Kafka, Apicurio Registry, Postgres), then runs on
127.0.0.1: the connector's router, deliverer and attempts sink (one process
each), the admin API, a sample receiver, and Prometheus scraping them all with
the shipped alert rules (if the prometheus binary is installed: Debian
"apt-get install prometheus", or set PROMETHEUS_BIN; without it the demo goes on).
It creates an admin API token for the organization "parallelworks" and, through
the admin API, a webhook subscribed to user.*, group.*, auth.* and admin.*
pointing at the receiver; the receiver answers the verification challenge.
Then it produces a stream of sample events of every family and prints a
summary line every 2 s: events produced and read by the router, delivered,
retried, dead-lettered, deliveries per second and end-to-end latency p50/p99
of first attempts over the last 30 s (as the latency alert reads it), from
the processes' /metrics. Ctrl-C stops
everything in order (the stack keeps running; npm run stack:down stops it).

Options:
  --once              produce one event of each of eight types instead of a
                      stream (the receiver refuses one of them once, so it is
                      retried), wait until all are delivered and in the
                      delivery log of the admin API, then stop; exit 1 if
                      they did not arrive
  --rate <n>          events per second of the stream (default 20)
  --failures <pct>    percent of deliveries the receiver refuses once with 503,
                      so they are retried after about 5 s (default 0.5)
  -h, --help          this text

Environment:
  DEMO_SERVICES=env   run against the Kafka, registry and Postgres that
                      KAFKA_BROKERS, SCHEMA_REGISTRY_URL and DATABASE_URL name
                      instead of the local stack (default: stack)

The admin API listens on 8080, Prometheus on 9090 and the connector's metrics
on 9464-9466 when those ports are free, on free ones otherwise; the demo
prints where. Each process logs to .stack/demo/<name>.log.`;

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/** The connector's roles run with the image's Node flags. */
const CONNECTOR_MAIN = 'connector/main.ts';
const RULES = join(ROOT, 'ops/prometheus/rules/identity-webhooks.yml');
const ORGANIZATION = 'parallelworks';
const DEMO_DESCRIPTION = 'Created by npm run demo';
const TOKEN_NAME = 'npm run demo';
const EVENT_TYPES = ['user.*', 'group.*', 'auth.*', 'admin.*'];
const SUMMARY_EVERY_MS = 2000;
/** --once: one event of each; the receiver refuses the first GROUP_CREATED once. */
const ONCE_TYPES = ['USER_CREATED', 'USER_MODIFIED', 'GROUP_CREATED', 'GROUP_NEW_USER_ADDED', 'USER_LOGIN', 'MFA_VERIFIED', 'APP_CREATED', 'ROLE_UPDATED'];
const ONCE_REFUSED_TYPE = 'GROUP_CREATED';
/** The stream's mix of families (auth events are the most frequent in real identity platforms). */
const FAMILY_WEIGHTS: Array<[string, number]> = [['auth', 4], ['user', 3], ['group', 2], ['admin', 1]];

const startedAt = Date.now();
const step = (text: string): void => console.log(`\n▶ ${text}`);
const info = (text: string): void => console.log(`  ${text}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const since = (t: number): string => `${((Date.now() - t) / 1000).toFixed(1)} s`;

interface Options {
  once: boolean;
  rate: number;
  failures: number;
}

function parseOptions(): Options | 'help' {
  const { values } = parseArgs({
    options: { once: { type: 'boolean' }, rate: { type: 'string', default: '20' }, failures: { type: 'string', default: '0.5' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return 'help';
  const rate = Number(values.rate);
  const failures = Number(values.failures);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 5000) throw new UsageError(`--rate must be a number of events per second between 0 and 5000; got "${values.rate}"`);
  if (!Number.isFinite(failures) || failures < 0 || failures > 100) throw new UsageError(`--failures must be a percentage (0-100); got "${values.failures}"`);
  return { once: values.once ?? false, rate, failures };
}

class UsageError extends Error {}

/** Everything the demo started, so that stopping (in order) or dying (at once) reaches all of it. */
const running: {
  roles: ChildService[];
  adminApi?: ChildService;
  prometheus?: RunningPrometheus;
  receiver?: Awaited<ReturnType<typeof startReceiver>>;
  producer?: SampleProducer;
  pool?: ReturnType<typeof createPool>;
  api?: ApiClient;
  webhookId?: string;
  tokenId?: string;
} = { roles: [] };
let stopping = false;
let prometheusStarting: Promise<RunningPrometheus | undefined> = Promise.resolve(undefined);
let streamDone: Promise<void> = Promise.resolve();
let summaryDone: Promise<void> = Promise.resolve();

/** The parts of the admin API's answers the demo reads. */
interface WebhookView {
  id: string;
  verification: { status: string; error: string | null; verifiedAt: string | null };
  receivingEvents: boolean;
}
interface ApiBody {
  secret?: string;
  webhook?: WebhookView;
  items?: Array<{ status: string }>;
}

type ApiClient = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: ApiBody & Partial<WebhookView> }>;

function apiClient(baseUrl: string, token: string): ApiClient {
  return async (method, path, body) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await response.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      // not JSON: nothing the demo reads
    }
    return { status: response.status, body: (parsed ?? {}) as ApiBody & Partial<WebhookView> };
  };
}

async function metricsOf(port: number): Promise<Sample[]> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(1500) });
  return parseMetrics(await response.text());
}

/** Kept across runs so webhooks and tokens the demo stored stay readable (a new key each run could not decrypt the old ones). */
async function choosePorts<K extends string>(preferred: Record<K, number>): Promise<Record<K, number>> {
  const taken = new Set<number>();
  const out = {} as Record<K, number>;
  for (const [name, port] of Object.entries(preferred) as Array<[K, number]>) {
    let chosen = await portNear(port);
    while (taken.has(chosen)) chosen = await portNear(0);
    taken.add(chosen);
    out[name] = chosen;
  }
  return out;
}

function pickType(types: Map<string, string[]>): string {
  const total = FAMILY_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = Math.random() * total;
  const family = FAMILY_WEIGHTS.find(([, weight]) => (roll -= weight) < 0)?.[0] ?? 'auth';
  const candidates = types.get(family)!;
  return candidates[Math.floor(Math.random() * candidates.length)]!;
}

/**
 * The services the demo runs against: the local stack, started if need be; or, with DEMO_SERVICES=env, the ones
 * KAFKA_BROKERS, SCHEMA_REGISTRY_URL and DATABASE_URL name (a stack of one's own, or the test suite's containers).
 * Only on request: a shell with KAFKA_BROKERS exported for other work must not get demo topics and webhooks.
 */
async function demoServices(stackOptions: ReturnType<typeof stackOptionsFromEnv>): Promise<ServiceEndpoints> {
  const from = process.env['DEMO_SERVICES'] ?? 'stack';
  if (from === 'stack') {
    step('Local stack: Kafka, Apicurio Registry, Postgres (the first run downloads Kafka and Apicurio with Maven; later runs take seconds)');
    return (await ensureStackUp(stackOptions, (line) => info(line))).endpoints;
  }
  if (from !== 'env') throw new UsageError(`DEMO_SERVICES must be stack (the default) or env; got "${from}"`);
  const [kafka, registry, database] = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'DATABASE_URL'].map((name) => process.env[name]);
  if (!kafka || !registry || !database) throw new UsageError('DEMO_SERVICES=env needs KAFKA_BROKERS, SCHEMA_REGISTRY_URL and DATABASE_URL');
  step(`Services from the environment: Kafka ${kafka}, registry ${registry}`);
  return { kafkaBrokers: kafka.split(','), schemaRegistryUrl: registry, databaseUrl: database };
}

async function main(options: Options): Promise<number> {
  const stackOptions = stackOptionsFromEnv();
  const endpoints = await demoServices(stackOptions);
  const demoDir = join(stackOptions.stateDir, 'demo');
  mkdirSync(demoDir, { recursive: true });

  const env: Record<string, string> = {
    ...(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<string, string>),
    ...developmentEnv(endpoints, process.env['SECRETS_ENCRYPTION_KEY'] ?? stackEncryptionKey(stackOptions.stateDir)),
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    SERVER_HOST: '127.0.0.1',
    // A demo killed hard leaves group members behind; they expire sooner than the default 30 s.
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    SHUTDOWN_TIMEOUT_MS: '20000',
  };
  const config = loadConfig(env);
  const log = createRootLogger({ level: 'error' });
  const kafka = createKafka(config.kafka, log, 'demo');
  const registry = createSchemaRegistryClient(config.schemaRegistry);
  const catalog = loadEventCatalog();

  step('Postgres migrations, topics and the Avro schemas');
  await migrateUp(config.database.url, log);
  const { userEvents, groupEvents, authEvents } = config.topics;
  await ensureTopics(kafka, [...connectorTopics(config), ...[userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 3 }))], 1);
  const schemaIds = await registerSchemas(registry, config);
  info(`schemas registered (BACKWARD): ${Object.entries(schemaIds).map(([family, id]) => `${family} ${id}`).join(', ')}`);
  const pool = (running.pool = createPool({ url: config.database.url, max: 2, applicationName: 'demo' }, log));
  // An earlier demo that was killed left its webhook (pointing at a receiver that is gone) and its token.
  const stale = await pool.query('DELETE FROM webhooks WHERE organization = $1 AND description = $2', [ORGANIZATION, DEMO_DESCRIPTION]);
  for (const token of await listTokens(pool, ORGANIZATION)) if (token.name === TOKEN_NAME && !token.revokedAt) await revokeToken(pool, token.id);
  if (stale.rowCount) info(`removed ${stale.rowCount} webhook(s) left by an earlier demo`);

  const ports = await choosePorts({ router: 9464, deliverer: 9465, sink: 9466, adminApi: 8080, prometheus: 9090 });
  step('Starting the connector (router, deliverer, sink), the admin API, the sample receiver and Prometheus');
  const spawnChild = (name: string, script: string, args: string[], port: number): ChildService => {
    if (stopping) throw new Error('stopping');
    const service = spawnService(name, [...(script === CONNECTOR_MAIN ? NODE_FLAGS : []), '--import', 'tsx', join(ROOT, script), ...args], { cwd: ROOT, env: { ...env, SERVER_PORT: String(port) }, logFile: join(demoDir, `${name}.log`) });
    void service.exited.then((how) => {
      if (stopping) return;
      console.error(`\ndemo: the ${name} process exited (${String(how)}); last lines of ${relative(process.cwd(), service.logFile)}:\n${tail(service.logFile)}`);
      void shutdown(1);
    });
    return service;
  };
  const roleStart = Date.now();
  for (const role of ['router', 'deliverer', 'sink'] as const) running.roles.push(spawnChild(role, CONNECTOR_MAIN, [role], ports[role]));
  const adminApi = (running.adminApi = spawnChild('admin-api', 'admin-api/main.ts', ['serve'], ports.adminApi));
  const receiver = (running.receiver = await startReceiver());
  const prometheusBin = findPrometheus();
  prometheusStarting = prometheusBin
    ? startPrometheus(prometheusBin, {
        port: ports.prometheus,
        jobs: {
          router: `127.0.0.1:${ports.router}`,
          deliverer: `127.0.0.1:${ports.deliverer}`,
          sink: `127.0.0.1:${ports.sink}`,
          'admin-api': `127.0.0.1:${ports.adminApi}`,
        },
        ruleFiles: [RULES],
        interval: '2s',
        logFile: join(demoDir, 'prometheus.log'),
        detached: true,
      }).then(
        (prometheus) => (running.prometheus = prometheus),
        (error: unknown) => {
          info(`Prometheus did not start (${(error as Error).message}); going on without it`);
          return undefined;
        },
      )
    : (info('Prometheus not found (Debian: apt-get install prometheus, or set PROMETHEUS_BIN); going on without it'), Promise.resolve(undefined));
  await Promise.all(
    [...running.roles, adminApi].map(async (service) => {
      const port = service === adminApi ? ports.adminApi : ports[service.name as 'router' | 'deliverer' | 'sink'];
      await waitUntilServing(service, `http://127.0.0.1:${port}/healthz`, 90_000);
      info(`${service.name.padEnd(9)} serving on 127.0.0.1:${port} (${since(roleStart)})`);
    }),
  );
  await prometheusStarting;
  if (running.prometheus) info(`prometheus serving on 127.0.0.1:${ports.prometheus}, scraping the four processes every 2 s`);
  if (stopping) return 1;

  step(`Token and webhook: a token for "${ORGANIZATION}" from the tokens store, the webhook through the admin API`);
  const { token, info: tokenInfo } = await createToken(pool, { organization: ORGANIZATION, subject: 'demo@parallelworks.com', name: TOKEN_NAME });
  running.tokenId = tokenInfo.id;
  const adminUrl = `http://127.0.0.1:${ports.adminApi}`;
  const api = (running.api = apiClient(adminUrl, token));
  let secret = '';
  const created = await api('POST', '/v1/webhooks', { name: 'demo', description: DEMO_DESCRIPTION, url: receiver.url, eventTypes: EVENT_TYPES });
  if (created.status !== 201) throw new Error(`the admin API refused to create the webhook: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  secret = created.body.secret!;
  const webhookId = (running.webhookId = created.body.webhook!.id);
  info(`POST /v1/webhooks → 201: webhook ${webhookId} → ${receiver.url} (${EVENT_TYPES.join(', ')}), verification ${created.body.webhook!.verification.status}`);

  // Deliveries, as the receiver sees them.
  const stats = { delivered: new Set<string>(), validSignatures: 0, invalidSignatures: 0, refused: new Set<string>(), firstAt: 0 };
  const refuse = (request: ReceivedRequest, type: string): boolean => {
    const id = String(request.headers['webhook-id']);
    if (stats.refused.has(id) || stats.delivered.has(id)) return false;
    if (options.once) return type === ONCE_REFUSED_TYPE && stats.refused.size === 0;
    return Math.random() * 100 < options.failures;
  };
  receiver.respondWith((request) => {
    const id = String(request.headers['webhook-id']);
    let body: { type?: string } = {};
    try {
      body = JSON.parse(request.body) as { type?: string };
    } catch {
      // counted below as whatever it is
    }
    const type = body.type ?? '?';
    if (refuse(request, type)) {
      stats.refused.add(id);
      if (options.once) console.log(`  ↻ receiver refused ${type} with 503 once (webhook-id ${id}); the connector retries it in about 5 s`);
      return { status: 503 };
    }
    const valid = verifyStandardWebhook(secret, request.headers, request.body);
    if (valid) stats.validSignatures += 1;
    else stats.invalidSignatures += 1;
    const fresh = !stats.delivered.has(id);
    stats.delivered.add(id);
    if (!stats.firstAt) {
      stats.firstAt = Date.now();
      console.log(`\n✔ first delivery, ${since(startedAt)} after the demo started (webhook-id ${id}, signature ${valid ? 'valid' : 'INVALID'}):`);
      console.log(JSON.stringify(body, null, 2).split('\n').map((line) => `    ${line}`).join('\n'));
    } else if (options.once && fresh) {
      console.log(`  ✔ delivery ${stats.delivered.size}/${ONCE_TYPES.length}: ${type} (signature ${valid ? 'valid' : 'INVALID'})${stats.refused.has(id) ? ' — the retry' : ''}`);
    }
    return { status: 204 };
  });

  const verification = await (async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await api('GET', `/v1/webhooks/${webhookId}`);
      const status = got.body.verification?.status;
      if (status === 'verified' || status === 'failed' || Date.now() > deadline) {
        return { verification: got.body.verification ?? { status: `unknown (HTTP ${got.status})`, error: null, verifiedAt: null }, receivingEvents: got.body.receivingEvents ?? false };
      }
      await sleep(100);
    }
  })();
  if (verification.verification.status !== 'verified') {
    throw new Error(`the webhook was not verified: ${verification.verification.status}${verification.verification.error ? `: ${verification.verification.error}` : ''}`);
  }
  const verifiedAt = Date.parse(verification.verification.verifiedAt ?? '') || Date.now();
  info(`the receiver echoed the challenge: verification verified, receivingEvents ${verification.receivingEvents} (${since(startedAt)} after start)`);
  // The router reloads its subscriptions on the change notification; events routed before that would find no webhook.
  // A reload that ends after the verification was written follows it, or is followed at once by one that does.
  const reloaded = await (async () => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const loadedAt = sumOf(await metricsOf(ports.router).catch(() => []), 'webhooks_subscription_index_loaded_timestamp_seconds');
      if (loadedAt * 1000 >= verifiedAt) return true;
      await sleep(100);
    }
    return false;
  })();
  if (!reloaded) info('the router has not reloaded its subscriptions yet; the first events may find no webhook');

  const metricsUrls = [
    `router ${`http://127.0.0.1:${ports.router}/metrics`}`,
    `deliverer http://127.0.0.1:${ports.deliverer}/metrics`,
    `sink http://127.0.0.1:${ports.sink}/metrics`,
    `admin API ${adminUrl}/metrics`,
  ];
  step('Running');
  info(`admin API        ${adminUrl}   reference: ${adminUrl}/docs   OpenAPI: ${adminUrl}/openapi.json`);
  info(`token            ${token}`);
  info(`                 curl -H "Authorization: Bearer ${token}" ${adminUrl}/v1/webhooks/${webhookId}/attempts`);
  if (running.prometheus) {
    const p99 = 'histogram_quantile(0.99, sum by (le) (rate(webhooks_end_to_end_latency_seconds_bucket{delivery="first"}[1m])))';
    info(`Prometheus       ${running.prometheus.url}   targets: ${running.prometheus.url}/targets   alerts: ${running.prometheus.url}/alerts`);
    info(`                 p99: ${running.prometheus.url}/graph?g0.expr=${encodeURIComponent(p99)}&g0.tab=0&g0.range_input=15m`);
  }
  info(`metrics          ${metricsUrls.join('   ')}`);
  info(`receiver         ${receiver.url}`);
  info(`logs             ${relative(process.cwd(), demoDir) || demoDir}/<process>.log`);

  const producer = (running.producer = await createSampleProducer(kafka, registry, catalog, config, schemaIds));
  const summary = createLiveSummary({ windowMs: 30_000, startedAt });
  let produced = 0;
  const readSummary = async (): Promise<void> => {
    const [router, deliverer] = await Promise.all([metricsOf(ports.router), metricsOf(ports.deliverer)]);
    summary.add(snapshotOf(router, deliverer, Date.now()));
  };
  const summaryLine = (): string =>
    summary.line(produced) + (stats.invalidSignatures > 0 ? ` · INVALID signatures ${stats.invalidSignatures}` : '');

  if (options.once) {
    step(`Producing ${ONCE_TYPES.length} sample events (${ONCE_TYPES.join(', ')}); the receiver refuses ${ONCE_REFUSED_TYPE} once`);
    const events = ONCE_TYPES.map((type) => sampleEvent(catalog, type, ORGANIZATION));
    const producedAt = Date.now();
    await producer.send(events);
    produced = events.length;
    const deadline = Date.now() + 60_000;
    while (stats.delivered.size < events.length && Date.now() < deadline && !stopping) await sleep(100);
    if (stopping) return 1;
    if (stats.delivered.size < events.length) {
      console.error(`\ndemo: only ${stats.delivered.size} of ${events.length} deliveries arrived within 60 s; the logs are in ${demoDir}`);
      return 1;
    }
    info(`all ${events.length} delivered ${since(producedAt)} after they were produced (first one ${((stats.firstAt - producedAt) / 1000).toFixed(1)} s after)`);
    // Every attempt, the refused one too, reaches the delivery log through the sink; the admin API reads it.
    const expectedAttempts = events.length + stats.refused.size;
    let attempts: Array<{ status: string }> = [];
    const logDeadline = Date.now() + 30_000;
    while (Date.now() < logDeadline) {
      attempts = (await api('GET', `/v1/webhooks/${webhookId}/attempts?limit=50`)).body.items ?? [];
      if (attempts.length >= expectedAttempts) break;
      await sleep(250);
    }
    const outcomes = Object.entries(attempts.reduce<Record<string, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {}));
    info(`delivery log (GET /v1/webhooks/${webhookId}/attempts): ${attempts.length} attempts — ${outcomes.map(([o, n]) => `${n} ${o}`).join(', ')}`);
    if (attempts.length < expectedAttempts) {
      console.error(`demo: the delivery log shows ${attempts.length} of ${expectedAttempts} attempts after 30 s; see ${join(demoDir, 'sink.log')}`);
      return 1;
    }
    if (running.prometheus) {
      const seen = await (async () => {
        const until = Date.now() + 10_000;
        while (Date.now() < until) {
          const result = (await running.prometheus!.query('sum(webhooks_deliveries_total{outcome="delivered"})').catch(() => [])) as Array<{ value: [number, string] }>;
          const value = Number(result[0]?.value[1] ?? 0);
          if (value >= events.length) return value;
          await sleep(500);
        }
        return null;
      })();
      const up = (await running.prometheus.query('up == 1').catch(() => [])).length;
      info(seen === null ? 'Prometheus has not scraped the deliveries yet (see its /targets page)' : `Prometheus: ${seen} deliveries scraped, ${up} of 4 targets up`);
    }
    await readSummary();
    info(`summary: ${summaryLine()}`);
    if (stats.invalidSignatures > 0) {
      console.error(`demo: ${stats.invalidSignatures} deliveries had an invalid signature`);
      return 1;
    }
    return 0;
  }

  step(`Producing a stream of sample events at ${options.rate}/s (auth, user, group and admin events; the receiver refuses ${options.failures}% once). Ctrl-C stops everything.`);
  const types = new Map<string, string[]>();
  for (const event of catalog.events) types.set(event.family, [...(types.get(event.family) ?? []), event.type]);
  const tickMs = 250;
  streamDone = (async () => {
    let owed = 0;
    let next = Date.now();
    while (!stopping) {
      owed += (options.rate * tickMs) / 1000;
      const count = Math.floor(owed);
      owed -= count;
      const batch: IdentityEventRecord[] = Array.from({ length: count }, () => sampleEvent(catalog, pickType(types), ORGANIZATION));
      try {
        await producer.send(batch);
        produced += count;
      } catch (error) {
        if (!stopping) console.error(`  producing failed: ${(error as Error).message}; trying again`);
      }
      next += tickMs;
      await sleep(Math.max(0, next - Date.now()));
    }
  })();
  summaryDone = (async () => {
    let lines = 0;
    while (!stopping) {
      await sleep(SUMMARY_EVERY_MS);
      if (stopping) break;
      try {
        await readSummary();
        console.log(`  ${summaryLine()}`);
      } catch (error) {
        console.log(`  (metrics not readable: ${(error as Error).message})`);
      }
      if (++lines % 30 === 0) {
        info(`admin API ${adminUrl}/docs · ${running.prometheus ? `Prometheus ${running.prometheus.url} · ` : ''}logs ${relative(process.cwd(), demoDir)} · Ctrl-C stops`);
      }
    }
  })();
  return -1; // keeps running until Ctrl-C
}

/** Stops in order: the event stream, the router, the deliverer, the sink, then the admin API (after it deleted the webhook), the receiver and Prometheus. */
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  let clean = true;
  step('Stopping in order (the stack keeps running; npm run stack:down stops it)');
  await streamDone;
  await summaryDone;
  if (running.producer) {
    await running.producer.close().catch(() => undefined);
    info('event stream stopped');
  }
  for (const service of running.roles) {
    const t = Date.now();
    const how = await service.stop(25_000);
    if (how !== 0) clean = false;
    info(`${service.name.padEnd(9)} stopped (${how === 0 ? 'exit 0' : `exit ${String(how)}; see ${service.logFile}`}, ${since(t)})`);
  }
  if (running.api && running.webhookId && running.adminApi && !running.adminApi.gone()) {
    const deleted = await running.api('DELETE', `/v1/webhooks/${running.webhookId}`).catch(() => ({ status: 0 }));
    info(deleted.status === 204 ? `webhook ${running.webhookId} deleted through the admin API` : `could not delete webhook ${running.webhookId} (HTTP ${deleted.status}); the next demo removes it`);
  }
  if (running.pool && running.tokenId) {
    await revokeToken(running.pool, running.tokenId).catch(() => undefined);
    info('demo token revoked');
  }
  if (running.adminApi) {
    const t = Date.now();
    const how = await running.adminApi.stop(25_000);
    if (how !== 0) clean = false;
    info(`admin API stopped (${how === 0 ? 'exit 0' : `exit ${String(how)}; see ${running.adminApi.logFile}`}, ${since(t)})`);
  }
  if (running.receiver) {
    await running.receiver.close();
    info('receiver stopped');
  }
  await prometheusStarting;
  if (running.prometheus) {
    await running.prometheus.stop();
    running.prometheus = undefined;
    info('prometheus stopped');
  }
  await running.pool?.end().catch(() => undefined);
  process.exit(code !== 0 ? code : clean ? 0 : 1);
}

// Whatever ends this process, nothing it started outlives it.
process.on('exit', () => {
  for (const service of [...running.roles, ...(running.adminApi ? [running.adminApi] : [])]) service.kill();
  if (running.prometheus) {
    try {
      process.kill(running.prometheus.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

let firstSignalAt = 0;
const onSignal = (): void => {
  if (!stopping) {
    firstSignalAt = Date.now();
    console.log('\n(stopping; press Ctrl-C again to kill everything at once)');
    void shutdown(0);
  } else if (Date.now() - firstSignalAt > 1000) {
    console.log('\nkilled');
    process.exit(130);
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

let options: Options | 'help';
try {
  options = parseOptions();
} catch (error) {
  console.error(`demo: ${(error as Error).message} (see --help)`);
  process.exit(2);
}
if (options === 'help') {
  console.log(HELP);
  process.exit(0);
}

main(options).then(
  (code) => {
    if (code >= 0) void shutdown(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError) for (const problem of error.problems) console.error(`demo: config error: ${problem}`);
    else if (error instanceof UsageError) {
      console.error(`demo: ${error.message} (see --help)`);
      void shutdown(2);
      return;
    } else if (!stopping) console.error(`\ndemo: ${(error as Error).message}`);
    void shutdown(1);
  },
);
