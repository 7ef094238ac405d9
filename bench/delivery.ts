/**
 * Delivery benchmarks, each against a baseline measured in the same run:
 *  1. throughput: deliverer vs a raw undici POST loop sending the same signed request, same concurrency, same
 *     receiver; the raw loop runs before and after each of several rounds, and the median round is reported;
 * 1b. floor: the least a deliverer built on kafkajs does (bench/lib/kafkajs-floor.ts), against the raw loop likewise;
 *  2. latency: p50/p99 from event produced (Avro, through the router) to the receiver, at an even fixed rate
 *     after a warm-up; with --router-share, the router's share (produced → task committed) alongside;
 *  3. isolation: healthy webhooks' throughput while 10 % (--slow-share) of webhooks answer after 10 s, vs the same healthy webhooks alone, in rounds;
 *  4. memory: peak RSS of a deliverer working through a large backlog (bounded by DELIVERER_MAX_BUFFERED);
 *  5. serial: one webhook's ceiling (its sends go one at a time) against a raw loop of one request at a time.
 * Prints ratios and writes bench/results/delivery.json.
 *
 *   npm run bench:delivery [-- --tasks 100000 --rounds 3 --rate 500 --seconds 10 --warmup 5 --backlog 1000000 --processes]
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadConfig, type ConnectorConfig } from '../config/load.js';
import { startRole, stopParts, type RunningPart } from '../connector/app.js';
import { throwFatal } from '../connector/lifecycle.js';
import { migrateUp } from '../connector/db/migrate.js';
import { createPool, type Pool } from '../connector/db/pool.js';
import { generateSigningSecret } from '../connector/delivery/signature.js';
import { encodeTask } from '../connector/delivery/task.js';
import { loadEventCatalog } from '../connector/events/catalog.js';
import { createKafka, createProducer } from '../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../connector/kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from '../connector/kafka/topics.js';
import { createRootLogger } from '../connector/observability/logger.js';
import { httpSends } from '../connector/observability/metrics.js';
import { createSecretBox, secretPlace } from '../connector/security/encryption.js';
import { registerSchemas, sampleEvent } from '../scripts/lib/sample-events.js';
import { numberOption, onlyOption, parseBenchArgs, runBench } from './lib/bench-args.js';
import { benchServices, deleteTopics, percentile } from './services.js';
import { compiledConnector } from './lib/compiled-build.js';
import { startStealMeter, waitForQuietMachine } from './lib/cpu-steal.js';
import { mainThreadCpuMicros, processCpuMicros } from './lib/proc-cpu.js';
import { cpuBoundRatio } from './lib/cpu-bound.js';
import { benchTask, MAX_IN_FLIGHT, rawLoop, sampleRequest, startReceiver, warmReceiver } from './lib/delivery-fixtures.js';
import { startKafkajsFloor } from './lib/kafkajs-floor.js';
import { NODE_FLAGS } from '../connector/node-flags.js';
import type { WebhookTarget } from '../connector/subscriptions/webhook.js';

const log = createRootLogger({ level: 'error' });

/**
 * The environment of one benchmark run: fresh topic and group names, plain HTTP to the local receiver allowed, and
 * BENCH_ROLE_ENV's settings on top (they reach the roles in-process and as processes alike).
 */
function envFor(services: Awaited<ReturnType<typeof benchServices>>): Record<string, string> {
  const id = randomUUID().slice(0, 8);
  return {
    NODE_ENV: 'test', LOG_LEVEL: 'error', KAFKA_BROKERS: services.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: services.schemaRegistryUrl,
    DATABASE_URL: services.databaseUrl, SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TOPIC_REPLICATION_FACTOR: '1',
    TOPIC_USER_EVENTS: `bd-${id}.user-events`, TOPIC_GROUP_EVENTS: `bd-${id}.group-events`, TOPIC_AUTH_EVENTS: `bd-${id}.auth-events`,
    TOPIC_DELIVERIES: `bd-${id}.deliveries`, TOPIC_INGEST_DLQ: `bd-${id}.ingest-dlq`, TOPIC_DELIVERIES_DLQ: `bd-${id}.dlq`, TOPIC_ATTEMPTS: `bd-${id}.attempts`, TOPIC_ATTEMPTS_DLQ: `bd-${id}.attempts-dlq`,
    TOPIC_RETRY_PREFIX: `bd-${id}.retry`, ROUTER_GROUP_ID: `bd-${id}-router`, DELIVERER_GROUP_ID: `bd-${id}-deliverer`,
    ATTEMPTS_SINK_GROUP_ID: `bd-${id}-sink`, DELIVERER_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT), HTTP_ALLOW_PLAIN_HTTP: 'true', HTTP_SSRF_ALLOWLIST: '127.0.0.1', SERVER_PORT: '0',
    ...roleEnvOverrides(),
  };
}

/** The pid of a local-stack service (scripts/stack records them), when the benchmark runs on that stack. */
function stackPid(service: 'kafka'): number | undefined {
  try {
    const state = JSON.parse(readFileSync(`${process.env['STACK_DIR'] ?? '.stack'}/state.json`, 'utf8')) as { pids?: Record<string, number> };
    return state.pids?.[service];
  } catch {
    return undefined;
  }
}

/** CPU microseconds per item another process spends between two readings; null when either is missing. */
function perItem(before: number | null | undefined, after: number | null, items: number): number | null {
  return typeof before === 'number' && after !== null && items > 0 ? Math.round((after - before) / items) : null;
}

/** Settings from BENCH_ROLE_ENV ('KEY=value KEY=value') for the roles. */
function roleEnvOverrides(): Record<string, string> {
  const pairs = (process.env['BENCH_ROLE_ENV'] ?? '').split(' ').filter(Boolean);
  return Object.fromEntries(pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`BENCH_ROLE_ENV: "${pair}" is not KEY=value`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }));
}

/**
 * A connector role in its own process, as docker-compose and the image run
 * it; resolves once it logs that it is running (its consumer has joined).
 */
async function startRoleProcess(role: 'router' | 'deliverer', env: Record<string, string>): Promise<{ stop: () => Promise<void>; cpuMicros: () => number | null; mainThreadCpuMicros: () => number | null }> {
  // BENCH_ROLE_NODE_ARGS reach the role's process only (e.g. --cpu-prof to profile it alone; NODE_OPTIONS refuses that flag).
  const nodeArgs = (process.env['BENCH_ROLE_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  // The compiled build, as the image runs it (built first when stale); BENCH_ROLE_ENTRY=source runs the sources through tsx.
  const fromSource = process.env['BENCH_ROLE_ENTRY'] === 'source';
  const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeArgs, ...(fromSource ? ['--import', 'tsx', 'connector/main.ts'] : [compiledConnector()]), role], {
    // env carries BENCH_ROLE_ENV's settings (envFor); the log level is raised to see the 'connector running' line.
    env: { PATH: process.env['PATH'] ?? '', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString()).slice(-10_000);
      if (seen.includes('"msg":"connector running"')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code} before it was running`)));
  });
  return {
    cpuMicros: () => processCpuMicros(child.pid),
    mainThreadCpuMicros: () => mainThreadCpuMicros(child.pid),
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function createWebhooks(pool: Pool, config: Readonly<ConnectorConfig>, organization: string, urls: string[]): Promise<string[]> {
  const box = createSecretBox(config.secrets.encryptionKey);
  const secret = generateSigningSecret();
  // Ids chosen here, as the admin API does: each secret is sealed to its webhook.
  const ids = urls.map(() => randomUUID());
  await pool.query(
    `INSERT INTO webhooks (id, organization, name, url, event_types, verification_status, signing_secret_enc, owner)
     SELECT i, $1, 'bench', u, ARRAY['*'], 'verified', s, 'bench' FROM unnest($2::uuid[], $3::text[], $4::text[]) AS t(i, u, s)`,
    [organization, ids, urls, ids.map((id) => box.encrypt(secret, secretPlace.signingSecret(id)))],
  );
  return ids;
}

/** A backlog of tasks as the router leaves them: written in transactions, so the partitions hold commit markers between tasks. */
async function produceTasks(config: Readonly<ConnectorConfig>, organization: string, webhookIds: string[], count: number): Promise<void> {
  const kafka = createKafka(config.kafka, log, 'bench-tasks');
  const producer = createProducer(kafka, { transactionalId: `bench-tasks-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  // 1,000 tasks a transaction: with one webhook they all land in one partition, and 5,000 would pass the broker's 1 MiB request limit.
  for (let sent = 0; sent < count; sent += 1000) {
    const messages = Array.from({ length: Math.min(1000, count - sent) }, (_, i) => {
      const webhookId = webhookIds[(sent + i) % webhookIds.length]!;
      return { key: webhookId, value: encodeTask(benchTask(webhookId, organization, randomUUID())) };
    });
    const transaction = await producer.transaction();
    await transaction.send({ topic: config.topics.deliveries, messages });
    await transaction.commit();
  }
  await producer.disconnect();
}

/** Milliseconds from each event's production to its task being readable (committed) on the deliveries topic. */
async function watchTasks(config: Readonly<ConnectorConfig>, expected: number, producedSince: number): Promise<{ done: Promise<number[]> }> {
  const consumer = createKafka(config.kafka, log, 'bench-watch').consumer({ groupId: `${config.deliverer.groupId}-watch`, readUncommitted: false, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [config.topics.deliveries], fromBeginning: true });
  const delays: number[] = [];
  let seen = 0;
  const done = new Promise<number[]>((resolve) => {
    // No offset commits: the watch reads from the beginning once, and a commit per batch would add hundreds of requests a second to the broker under test.
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        for (const message of batch.messages) {
          const producedAt = Number(/"producedAt":"?(\d+)/.exec(message.value?.toString() ?? '')?.[1] ?? 0);
          seen += 1;
          if (producedAt >= producedSince) delays.push(now - producedAt);
        }
        if (seen >= expected) resolve(delays);
      },
    });
  });
  return { done: done.finally(() => consumer.disconnect()) };
}

const cpuMicros = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;

/** The round with the median ratio (rounds repeat a noisy measurement; one outlier should not decide). */
function medianRound<T extends { ratio: number }>(rounds: T[]): T {
  return [...rounds].sort((x, y) => x.ratio - y.ratio)[Math.floor(rounds.length / 2)]!;
}

/** The median of the figures that were measured (null ones left out), or null when none was. */
function medianOf(values: Array<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  return known.length > 0 ? known[Math.floor(known.length / 2)]! : null;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('benchmark step timed out');
}

async function main(): Promise<void> {
  const values = parseBenchArgs({
    tasks: { type: 'string', default: '100000' }, rate: { type: 'string', default: '500' }, seconds: { type: 'string', default: '10' },
    backlog: { type: 'string', default: '1000000' }, warmup: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, 'serial-tasks': { type: 'string', default: '3000' }, 'memory-webhooks': { type: 'string', default: '1000' }, 'slow-share': { type: 'string', default: '0.1' }, deliverers: { type: 'string', default: '1' }, webhooks: { type: 'string', default: '1,10' }, only: { type: 'string' }, processes: { type: 'boolean', default: false }, 'router-share': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return console.log('npm run bench:delivery [-- --tasks N --rounds N --deliverers N --rate R --seconds S --warmup S --backlog B --webhooks 1,10 --only throughput|floor|latency|isolation|memory|serial[,…] --serial-tasks N --memory-webhooks N --slow-share F --processes --router-share]\n  --tasks: requests of each raw loop and tasks of each throughput round, over 200 webhooks (default 100000: ten times DELIVERER_MAX_BUFFERED, so the deliverer is timed working through a backlog, as after an outage, over its second half)\n  --slow-share: the share of webhooks whose endpoint answers after 10 s in the isolation run (default 0.1; above DELIVERER_MAX_IN_FLIGHT / 100, more slow endpoints than slots)\n  --memory-webhooks: webhooks the backlog of the memory run is spread over (default 1000; with few, every webhook queue fills and the rest of their tasks wait in Kafka)\n  --router-share: also report when each task became readable (the router share of the latency; the watching consumer adds load)\n  --rounds: throughput and isolation rounds (throughput: the deliverer between two raw-loop runs; isolation: the run with slow webhooks between two without); the median ratio is reported (default 3)\n  floor: the least a kafkajs deliverer does (read, parse, sign, POST, log the attempt, commit; bench/lib/kafkajs-floor.ts) against the raw loop, in --rounds rounds\n  serial: the ceiling of one webhook (its sends are one at a time by design) against a raw loop of one request at a time, --serial-tasks tasks (default 3000), in --rounds rounds\n  --deliverers N: the throughput run starts N deliverer processes in one group, sharing the concurrency of the raw loop (scale-out; default 1)\n  --warmup: seconds at the latency rate before measuring (default 5; JIT and caches settle)\n  --processes: throughput and latency runs start the deliverer (and router) as processes of their own, as deployed (needs spare cores)\n  BENCH_ROLE_NODE_ARGS: node flags for those processes only, e.g. --cpu-prof\n  BENCH_ROLE_ENV: connector settings for the roles (in-process or as processes), e.g. "DELIVERER_MAX_BUFFERED=2000 ROUTER_LINGER_MS=0"\n  BENCH_ROLE_ENTRY=source: run those processes from the sources through tsx instead of the compiled build (dist/, built first when older than the sources), which the image runs');
  // Every value checked before the stack is touched: a typo fails at once, not after minutes, nor measures nothing.
  const wanted = onlyOption(values.only, ['throughput', 'floor', 'latency', 'isolation', 'memory', 'serial']);
  for (const name of ['tasks', 'rounds', 'deliverers', 'rate', 'seconds', 'backlog', 'serial-tasks', 'memory-webhooks'] as const) numberOption(name, values[name]);
  numberOption('warmup', values.warmup, { min: 0, fractional: true });
  numberOption('slow-share', values['slow-share'], { min: 0.001, max: 0.999, fractional: true });
  for (const count of values.webhooks.split(',')) numberOption('webhooks', count);
  const tasks = Number(values.tasks);
  const services = await benchServices();
  await migrateUp(services.databaseUrl, log);
  const pool = createPool({ url: services.databaseUrl, max: 4, applicationName: 'bench' }, log);
  const receiver = await startReceiver();
  const results: Record<string, unknown> = {};
  const run = async (label: string, body: (config: Readonly<ConnectorConfig>, org: string, parts: RunningPart[], env: Record<string, string>) => Promise<void>) => {
    process.stdout.write(`\n${label}… `);
    const env = envFor(services);
    const config = loadConfig(env);
    const kafka = createKafka(config.kafka, log, 'bench');
    await ensureTopics(kafka, [...connectorTopics(config), ...['userEvents', 'groupEvents', 'authEvents'].map((k) => ({ topic: config.topics[k as 'userEvents'], numPartitions: 3 }))], 1);
    const parts: RunningPart[] = [];
    try {
      await body(config, `bench-${randomUUID().slice(0, 8)}`, parts, env);
    } finally {
      await stopParts(parts, log);
      await deleteTopics(kafka, `${config.topics.deliveries.split('.')[0]}.`);
      await receiver.reset();
    }
  };

  if (wanted('throughput')) {
    // The raw loop alone swings by ±30 % between consecutive runs on a small VM. Each round measures it just
    // before and just after the deliverer and compares with their mean, and the median round is reported.
    // Every side's CPU per request: the raw loop's client and receiver, and the deliverer's with the receiver and the
    // broker it adds (fetches, attempt records, offset commits); all share the machine's cores.
    const rounds: Array<{
      rawBefore: number; rawAfter: number; deliveriesPerSecond: number; ratio: number; rawCpuUsPerPost: number; receiverCpuUsPerRawPost: number | null;
      delivererCpuUsPerDelivery: number | null; delivererMainThreadCpuUsPerDelivery: number | null; receiverCpuUsPerDelivery: number | null; brokerCpuUsPerDelivery: number | null;
      inlineSendShare: number | null; cpuBoundRatio: number | null; stealPct: number | null;
    }> = [];
    const brokerPid = stackPid('kafka');
    const roundCount = Number(values.rounds);
    const deliverers = Number(values.deliverers);
    // CPU time per request next to the rates: the cost of a request on each side, not only how fast it went.
    for (let round = 1; round <= roundCount; round += 1) {
      await run(`1. throughput, round ${round} of ${roundCount}`, async (config, org, parts, env) => {
        const sample = sampleRequest(config);
        if (round === 1) await warmReceiver(receiver.url, sample);
        // The last round's topics are still being deleted by the broker for a while: its work would slow this
        // baseline (11-13k POST/s against 28-29k after, in one run) and flatter the ratio.
        await waitForQuietMachine('before the raw loop');
        const steal = startStealMeter();
        const rawCpu = process.cpuUsage();
        const receiverAtRaw = processCpuMicros(receiver.child.pid);
        const rawBefore = await rawLoop(receiver.url, tasks, sample);
        const rawCpuUs = cpuMicros(process.cpuUsage(rawCpu)) / tasks;
        const receiverCpuUsPerRawPost = perItem(receiverAtRaw, processCpuMicros(receiver.child.pid), tasks);
        // The deliverer is timed over its second half, once it is warm too.
        const mark = Math.floor(tasks / 2);
        await receiver.reset(mark);
        const ids = await createWebhooks(pool, config, org, Array.from({ length: 200 }, (_, i) => `${receiver.url}/fast/${i}`));
        await produceTasks(config, org, ids, tasks);
        // The deliverers' CPU time so far: this process's in-process, the children's otherwise (null off Linux).
        let delivererCpu: () => number | null = () => cpuMicros(process.cpuUsage());
        let delivererMainCpu: () => number | null = () => mainThreadCpuMicros(process.pid);
        if (deliverers > 1 || values.processes) {
          // Scale-out: several deliverer processes in one group, sharing the raw loop's concurrency between them.
          // BENCH_ROLE_ENV (already in env) is applied again on top, so a DELIVERER_MAX_IN_FLIGHT set there wins over the share.
          const share = { ...env, DELIVERER_MAX_IN_FLIGHT: String(Math.ceil(MAX_IN_FLIGHT / deliverers)), ...roleEnvOverrides() };
          const started = await Promise.all(Array.from({ length: deliverers }, () => startRoleProcess('deliverer', share)));
          for (const child of started) parts.push({ name: 'deliverer', stop: child.stop });
          const sumOf = (cpu: (child: (typeof started)[number]) => number | null) => (): number | null => started.reduce<number | null>((sum, child) => {
            const used = cpu(child);
            return sum === null || used === null ? null : sum + used;
          }, 0);
          delivererCpu = sumOf((child) => child.cpuMicros());
          delivererMainCpu = sumOf((child) => child.mainThreadCpuMicros());
        } else parts.push(...(await startRole('deliverer', config, log, throwFatal)).parts);
        // Over the second half, once the deliverer is warm (in-process, the polling here is negligible). Null when
        // the second half began before every deliverer of a scale-out run had joined (the first can finish alone).
        // Requests sent from the main thread rather than a sending thread (DELIVERER_HTTP_INLINE_BELOW), in-process only.
        const sendsVia = async (via: string): Promise<number> => (await httpSends.get()).values.find((v) => v.labels['via'] === via)?.value ?? 0;
        const inlineBefore = await sendsVia('main_thread');
        const threadedBefore = await sendsVia('sending_thread');
        const atMark: { cpu?: number | null; mainCpu?: number | null; receiverCpu?: number | null; brokerCpu?: number | null; fast?: number } = {};
        await until(async () => {
          const { fast } = await receiver.stats();
          if (atMark.cpu === undefined && fast >= mark) {
            Object.assign(atMark, { cpu: delivererCpu(), mainCpu: delivererMainCpu(), receiverCpu: processCpuMicros(receiver.child.pid), brokerCpu: processCpuMicros(brokerPid), fast });
          }
          return fast >= tasks;
        }, 300_000);
        const cpuAtEnd = delivererCpu();
        const mainCpuAtEnd = delivererMainCpu();
        const deliveredSinceMark = atMark.fast === undefined ? 0 : tasks - atMark.fast;
        const receiverCpuUsPerDelivery = perItem(atMark.receiverCpu, processCpuMicros(receiver.child.pid), deliveredSinceMark);
        const brokerCpuUsPerDelivery = perItem(atMark.brokerCpu, processCpuMicros(brokerPid), deliveredSinceMark);
        const delivererCpuUs = typeof atMark.cpu === 'number' && cpuAtEnd !== null && atMark.fast !== undefined && atMark.fast < tasks
          ? (cpuAtEnd - atMark.cpu) / (tasks - atMark.fast) : null;
        // The event loop's share: the bound of one deliverer process with cores to spare (HTTP runs on its own thread).
        const delivererMainThreadCpuUsPerDelivery = atMark.fast !== undefined && atMark.fast < tasks ? perItem(atMark.mainCpu, mainCpuAtEnd, tasks - atMark.fast) : null;
        const s = await receiver.stats();
        const deliveriesPerSecond = (s.fast - mark) / ((s.lastAt - s.markAt) / 1000);
        const inlineSends = (await sendsVia('main_thread')) - inlineBefore;
        const allSends = inlineSends + (await sendsVia('sending_thread')) - threadedBefore;
        const inlineSendShare = allSends > 0 ? Number((inlineSends / allSends).toFixed(4)) : null;
        // Stopped first, so the second raw pass has the machine to itself as the first one had.
        await stopParts(parts.splice(0), log);
        await waitForQuietMachine('after the deliverer');
        const rawAfter = await rawLoop(receiver.url, tasks, sample);
        const ratio = deliveriesPerSecond / ((rawBefore + rawAfter) / 2);
        rounds.push({
          rawBefore: Math.round(rawBefore), rawAfter: Math.round(rawAfter), deliveriesPerSecond: Math.round(deliveriesPerSecond), ratio: Number(ratio.toFixed(3)),
          rawCpuUsPerPost: Math.round(rawCpuUs), receiverCpuUsPerRawPost, delivererCpuUsPerDelivery: delivererCpuUs === null ? null : Math.round(delivererCpuUs),
          delivererMainThreadCpuUsPerDelivery, receiverCpuUsPerDelivery, brokerCpuUsPerDelivery,
          inlineSendShare,
          cpuBoundRatio: cpuBoundRatio({
            cores: availableParallelism(), mainThreads: deliverers, rawPerSecond: (rawBefore + rawAfter) / 2, delivererUs: delivererCpuUs, delivererMainThreadUs: delivererMainThreadCpuUsPerDelivery, receiverUs: receiverCpuUsPerDelivery, brokerUs: brokerCpuUsPerDelivery,
          }),
          stealPct: steal(),
        });
        console.log(JSON.stringify(rounds.at(-1)));
      });
    }
    const median = medianRound(rounds);
    // The bound each round's CPU allowed, as the median over rounds (not the median round's own): how far the
    // machine itself lets the ratio go.
    const medianCpuBound = medianOf(rounds.map((r) => r.cpuBoundRatio));
    results['throughput'] = { tasks, deliverers, rounds, medianRatio: median.ratio, medianCpuBoundRatio: medianCpuBound, target: 0.7 };
    console.log(`throughput: median ratio ${median.ratio} of ${rounds.length} rounds (target 0.7); the rounds' CPU allowed a median of ${medianCpuBound ?? 'n/a'}`);
  }

  if (wanted('floor')) {
    // The least any kafkajs deliverer does (bench/lib/kafkajs-floor.ts), in this process, between two raw loops as the
    // throughput rounds are: the ceiling the fixed choice of client leaves, next to the deliverer's ratio above.
    const rounds: Array<{ rawBefore: number; rawAfter: number; deliveriesPerSecond: number; ratio: number; cpuUsPerDelivery: number; receiverCpuUsPerDelivery: number | null; brokerCpuUsPerDelivery: number | null }> = [];
    const roundCount = Number(values.rounds);
    for (let round = 1; round <= roundCount; round += 1) {
      await run(`1b. kafkajs floor, round ${round} of ${roundCount}`, async (config, org, parts) => {
        const sample = sampleRequest(config);
        if (round === 1) await warmReceiver(receiver.url, sample);
        await waitForQuietMachine('before the raw loop');
        const rawBefore = await rawLoop(receiver.url, tasks, sample);
        const mark = Math.floor(tasks / 2);
        await receiver.reset(mark);
        const urls = Array.from({ length: 200 }, (_, i) => `${receiver.url}/fast/${i}`);
        const ids = await createWebhooks(pool, config, org, urls);
        const targets = new Map(ids.map((id, i): [string, WebhookTarget] => [id, {
          id, organization: org, name: 'bench', url: urls[i]!, bodyFormat: 'parallelworks', ordering: 'relaxed', signingSecrets: [generateSigningSecret()], apiKey: null, deliverable: true,
        }]));
        await produceTasks(config, org, ids, tasks);
        const floor = await startKafkajsFloor(config, targets, MAX_IN_FLIGHT, log);
        parts.push({ name: 'kafkajs floor', stop: () => floor.stop() });
        const atMark: { cpu?: number; receiverCpu?: number | null; brokerCpu?: number | null; fast?: number } = {};
        await until(async () => {
          const { fast } = await receiver.stats();
          if (atMark.cpu === undefined && fast >= mark) {
            Object.assign(atMark, { cpu: cpuMicros(process.cpuUsage()), receiverCpu: processCpuMicros(receiver.child.pid), brokerCpu: processCpuMicros(stackPid('kafka')), fast });
          }
          return fast >= tasks;
        }, 300_000);
        const since = tasks - (atMark.fast ?? tasks);
        const cpuUsPerDelivery = since > 0 ? (cpuMicros(process.cpuUsage()) - atMark.cpu!) / since : 0;
        const receiverCpuUsPerDelivery = perItem(atMark.receiverCpu, processCpuMicros(receiver.child.pid), since);
        const brokerCpuUsPerDelivery = perItem(atMark.brokerCpu, processCpuMicros(stackPid('kafka')), since);
        const s = await receiver.stats();
        const deliveriesPerSecond = (s.fast - mark) / ((s.lastAt - s.markAt) / 1000);
        await stopParts(parts.splice(0), log);
        await waitForQuietMachine('after the floor');
        const rawAfter = await rawLoop(receiver.url, tasks, sample);
        rounds.push({
          rawBefore: Math.round(rawBefore), rawAfter: Math.round(rawAfter), deliveriesPerSecond: Math.round(deliveriesPerSecond),
          ratio: Number((deliveriesPerSecond / ((rawBefore + rawAfter) / 2)).toFixed(3)), cpuUsPerDelivery: Math.round(cpuUsPerDelivery), receiverCpuUsPerDelivery, brokerCpuUsPerDelivery,
        });
        console.log(JSON.stringify(rounds.at(-1)));
      });
    }
    const median = medianRound(rounds);
    results['kafkajsFloor'] = { tasks, rounds, medianRatio: median.ratio };
    console.log(`kafkajs floor: median ratio ${median.ratio} of ${rounds.length} rounds`);
  }

  // One webhook takes every event (its queue is serial by design), then the same rate spread over several webhooks.
  const latencyResults: unknown[] = [];
  for (const webhookCount of values.webhooks.split(',').map(Number)) {
    if (!wanted('latency')) break;
    await run(`2. end-to-end latency, ${values.rate}/s over ${webhookCount} webhook(s)`, async (config, org, parts, env) => {
      const rate = Number(values.rate);
      const seconds = Number(values.seconds);
      const registry = createSchemaRegistryClient(config.schemaRegistry);
      const ids = await registerSchemas(registry, config);
      const orgs = Array.from({ length: webhookCount }, (_, i) => `${org}-${i}`);
      for (const [i, o] of orgs.entries()) await createWebhooks(pool, config, o, [`${receiver.url}/fast/e2e-${i}`]);
      // With --processes, router and deliverer each run in a process of their own, as deployed. By default they
      // share this one: on a 2-core machine that also runs the broker, five busy processes oversubscribe the CPU
      // and the run measures the scheduler's queueing rather than the pipeline.
      // Each role's CPU while measuring (processes only), with the broker's and the receiver's: at a fixed rate the
      // run is as fast as the machine lets the pipeline be, and these say which process took the machine.
      const cpuOf: Record<string, () => number | null> = { broker: () => processCpuMicros(stackPid('kafka')), receiver: () => processCpuMicros(receiver.child.pid) };
      for (const role of ['router', 'deliverer'] as const) {
        if (values.processes) {
          const child = await startRoleProcess(role, env);
          parts.push({ name: role, stop: child.stop });
          cpuOf[role] = child.cpuMicros;
        } else parts.push(...(await startRole(role, config, log, throwFatal)).parts);
      }
      // One long-lived producer: the clock starts when a record is handed to Kafka, not before a connection is set up.
      const producer = createProducer(createKafka(config.kafka, log, 'bench-e2e'));
      await producer.connect();
      const catalog = loadEventCatalog();
      const total = rate * seconds;
      // An even rate: a small batch every 10 ms, not bursts of a tenth of a second's events at once,
      // which would queue 50 events behind each other at a single webhook (its sends are serial by design).
      const perTick = Math.max(1, Math.round(rate / 100));
      const stream = async (count: number): Promise<void> => {
        const started = Date.now();
        for (let sent = 0; sent < count; sent += perTick) {
          const wait = started + (sent / rate) * 1000 - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const producedAt = String(Date.now());
          const events = Array.from({ length: Math.min(perTick, count - sent) }, (_, i) => sampleEvent(catalog, 'USER_CREATED', orgs[(sent + i) % orgs.length]!, { attributes: { producedAt } }));
          const encoded = await Promise.all(events.map((event) => registry.encode(ids.user, event)));
          await producer.send({ topic: config.topics.userEvents, messages: encoded.map((value) => ({ value })) });
        }
      };
      // Warm-up at the same rate, delivered and then forgotten: the first seconds of fresh processes
      // (JIT, connections, caches) are start-up, not the steady state the target is about. One webhook
      // at 500/s runs close to its serial capacity on a loaded 2-core machine, and 2 s of warm-up left it
      // below that capacity often enough to build a queue of seconds.
      const warmUp = Math.round(rate * Number(values.warmup));
      await stream(warmUp);
      await until(async () => (await receiver.stats()).fast >= warmUp, 120_000);
      await receiver.reset();
      const measuredFrom = Date.now();
      const steal = startStealMeter();
      // Where the time goes (--router-share): when each task becomes visible to a read_committed reader. Off by
      // default: the watch is one more consumer fetching after every router commit, on the measured event loop
      // and broker, and it made the runs it watched slower.
      const taskWatch = values['router-share'] ? await watchTasks(config, warmUp + total, measuredFrom) : null;
      const cpuAtStart = Object.fromEntries(Object.entries(cpuOf).map(([name, read]) => [name, read()]));
      await stream(total);
      const cpuUsPerEvent = Object.fromEntries(Object.entries(cpuOf).map(([name, read]) => [name, perItem(cpuAtStart[name], read(), total)]));
      await producer.disconnect();
      await until(async () => (await receiver.stats()).fast >= total, 120_000);
      const latencies = (await receiver.stats()).latencies.sort((a, b) => a - b);
      const routed = taskWatch ? (await taskWatch.done).sort((a, b) => a - b) : null;
      const row = {
        rate, seconds, webhooks: webhookCount, events: total, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: latencies.at(-1), targetP99Ms: 100,
        ...(routed ? { routedP50Ms: percentile(routed, 50), routedP99Ms: percentile(routed, 99) } : {}),
        cpuUsPerEvent,
        stealPct: steal(),
      };
      latencyResults.push(row);
      console.log(JSON.stringify(row));
    });
  }
  if (latencyResults.length > 0) results['latency'] = latencyResults;

  const slowShare = Number(values['slow-share']);
  if (!(slowShare > 0 && slowShare < 1)) throw new Error(`--slow-share: ${values['slow-share']} is not a fraction between 0 and 1`);
  /**
   * Healthy webhooks' deliveries per second, alone or next to webhooks whose endpoint answers after 10 s. Both
   * runs have the same healthy webhooks with the same tasks; the slow run adds the slow webhooks and their share.
   * Also this process's CPU (the deliverer's, in-process) per healthy delivery, from the deliverer's start to the
   * last healthy delivery: what the slow webhooks cost in work, apart from how fast the machine ran meanwhile.
   */
  const isolationRun = async (withSlow: boolean): Promise<{ rate: number; cpuUsPerHealthyDelivery: number }> => {
    let result = { rate: 0, cpuUsPerHealthyDelivery: 0 };
    const slowCount = Math.round(100 * slowShare);
    await run(`3. isolation (${withSlow ? `${slowCount} of 100 webhooks slow` : `the ${100 - slowCount} healthy webhooks alone`})`, async (config, org, parts) => {
      const fastUrls = Array.from({ length: 100 - slowCount }, (_, i) => `${receiver.url}/fast/${i}`);
      const slowUrls = withSlow ? Array.from({ length: slowCount }, (_, i) => `${receiver.url}/slow/${i}`) : [];
      // Slow ones first in each round of webhooks, so they take slots before the healthy ones.
      const ids = await createWebhooks(pool, config, org, [...slowUrls, ...fastUrls]);
      const fastExpected = Math.floor(tasks * (1 - slowShare));
      await produceTasks(config, org, ids, withSlow ? tasks : fastExpected);
      const cpuAtStart = process.cpuUsage();
      parts.push(...(await startRole('deliverer', config, log, throwFatal)).parts);
      await until(async () => (await receiver.stats()).fast >= fastExpected, 300_000);
      const cpuUsPerHealthyDelivery = cpuMicros(process.cpuUsage(cpuAtStart)) / fastExpected;
      const s = await receiver.stats();
      result = { rate: (s.fast - 1) / ((s.lastAt - s.firstAt) / 1000), cpuUsPerHealthyDelivery };
      console.log(`${Math.round(result.rate)} healthy deliveries/s, ${result.cpuUsPerHealthyDelivery.toFixed(1)} µs of CPU each`);
    });
    return result;
  };
  if (wanted('isolation')) {
    // Rounds as for throughput: the run with slow webhooks between two without, compared with their mean, so a
    // machine (or a JIT) that speeds up or slows down during the benchmark favours neither side. Median round.
    // The rates swing with the machine (runs alone differ by up to a quarter within a round); CPU per healthy
    // delivery does far less, so `cpuRatio` (alone against with slow webhooks) tells what the slow ones cost.
    const rounds: Array<{ aloneBefore: number; withSlow: number; aloneAfter: number; ratio: number; cpuRatio: number; stealPct: number | null }> = [];
    for (let round = 1; round <= Number(values.rounds); round += 1) {
      const steal = startStealMeter();
      const aloneBefore = await isolationRun(false);
      const withSlow = await isolationRun(true);
      const aloneAfter = await isolationRun(false);
      const ratio = withSlow.rate / ((aloneBefore.rate + aloneAfter.rate) / 2);
      const cpuRatio = (aloneBefore.cpuUsPerHealthyDelivery + aloneAfter.cpuUsPerHealthyDelivery) / 2 / withSlow.cpuUsPerHealthyDelivery;
      rounds.push({
        aloneBefore: Math.round(aloneBefore.rate), withSlow: Math.round(withSlow.rate), aloneAfter: Math.round(aloneAfter.rate), ratio: Number(ratio.toFixed(3)),
        cpuRatio: Number(cpuRatio.toFixed(3)), stealPct: steal(),
      });
      console.log(JSON.stringify(rounds.at(-1)));
    }
    const median = medianRound(rounds);
    const medianCpuRatio = medianOf(rounds.map((r) => r.cpuRatio));
    results['isolation'] = { slowShare, rounds, medianRatio: median.ratio, medianCpuRatio, target: 0.9 };
    console.log(`isolation: median ratio ${median.ratio} of ${rounds.length} rounds with ${Math.round(slowShare * 100)} % of webhooks slow (target 0.9); CPU per healthy delivery, alone against with them: median ${medianCpuRatio}`);
  }

  if (wanted('memory')) await run(`4. memory with a ${values.backlog}-task backlog`, async (config, org, parts) => {
    const backlog = Number(values.backlog);
    // Many webhooks: the shared buffer bounds the backlog read. Few (--memory-webhooks 10): each webhook's queue
    // fills, and the rest of its tasks wait in Kafka as offsets (DELIVERER_MAX_QUEUED_PER_WEBHOOK).
    const webhookCount = Number(values['memory-webhooks']);
    const ids = await createWebhooks(pool, config, org, Array.from({ length: webhookCount }, (_, i) => `${receiver.url}/fast/${i}`));
    const baseline = process.memoryUsage().rss;
    await produceTasks(config, org, ids, backlog);
    parts.push(...(await startRole('deliverer', config, log, throwFatal)).parts);
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
    await until(async () => (await receiver.stats()).fast >= Math.min(backlog, 100_000), 600_000);
    clearInterval(sampler);
    results['memory'] = { backlog, delivered: (await receiver.stats()).fast, rssBeforeMiB: Math.round(baseline / 2 ** 20), peakRssMiB: Math.round(peak / 2 ** 20), maxBuffered: config.deliverer.maxBuffered, webhooks: webhookCount };
    console.log(JSON.stringify(results['memory']));
  });

  if (wanted('serial')) {
    // One webhook's deliveries go out one at a time by design, so one endpoint gets at most one per round trip
    // plus the deliverer's work between them. This measures that ceiling against a raw loop of one request at a
    // time (the same request), before and after, in rounds: what the 1-webhook latency run should be read against.
    const rounds: Array<{ rawBefore: number; rawAfter: number; deliveriesPerSecond: number; ratio: number; stealPct: number | null }> = [];
    const count = Number(values['serial-tasks']);
    for (let round = 1; round <= Number(values.rounds); round += 1) {
      await run(`5. one webhook's ceiling, round ${round} of ${values.rounds}`, async (config, org, parts) => {
        const sample = sampleRequest(config);
        // A discarded pass first: the receiver process takes thousands of requests to reach full speed.
        if (round === 1) await rawLoop(receiver.url, count, sample, 1);
        const steal = startStealMeter();
        const rawBefore = await rawLoop(receiver.url, count, sample, 1);
        const mark = Math.floor(count / 2);
        await receiver.reset(mark);
        const ids = await createWebhooks(pool, config, org, [`${receiver.url}/fast/serial`]);
        await produceTasks(config, org, ids, count);
        parts.push(...(await startRole('deliverer', config, log, throwFatal)).parts);
        await until(async () => (await receiver.stats()).fast >= count, 300_000);
        const s = await receiver.stats();
        const deliveriesPerSecond = (s.fast - mark) / ((s.lastAt - s.markAt) / 1000);
        await stopParts(parts.splice(0), log);
        const rawAfter = await rawLoop(receiver.url, count, sample, 1);
        const ratio = deliveriesPerSecond / ((rawBefore + rawAfter) / 2);
        rounds.push({ rawBefore: Math.round(rawBefore), rawAfter: Math.round(rawAfter), deliveriesPerSecond: Math.round(deliveriesPerSecond), ratio: Number(ratio.toFixed(3)), stealPct: steal() });
        console.log(JSON.stringify(rounds.at(-1)));
      });
    }
    const median = medianRound(rounds);
    results['serial'] = { tasks: count, rounds, medianRatio: median.ratio, medianDeliveriesPerSecond: median.deliveriesPerSecond };
    console.log(`one webhook: median ${median.deliveriesPerSecond} deliveries/s, ratio ${median.ratio} of a raw loop of one request at a time`);
  }

  receiver.child.kill();
  await pool.end();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/delivery.json', JSON.stringify({ at: new Date().toISOString(), results }, null, 2));
  console.log('\n' + JSON.stringify(results, null, 2) + '\nwritten to bench/results/delivery.json');
  process.exit(0);
}

runBench('bench:delivery', main);
