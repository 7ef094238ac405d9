/**
 * Where a delivery's CPU goes: each stage the deliverer adds to an HTTP POST,
 * timed alone in this process, as a ratio of a raw undici POST measured in the
 * same run. Next to bench:delivery's throughput rounds (the deliverer whole,
 * in its own process) it tells which stage a change should aim at, and how
 * much of the deliverer's cost is not in any stage but in running them
 * together (caches, scheduling, the broker and receiver on the same cores).
 *
 *   npm run bench:delivery-costs [-- --count 40000]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { createAttemptLog } from '../connector/delivery/attempt-log.js';
import { attemptRecord } from '../connector/delivery/attempt-record.js';
import { createHttpSender } from '../connector/delivery/http-sender.js';
import { createThreadedHttpSender } from '../connector/delivery/threaded-sender.js';
import { buildWebhookRequest } from '../connector/delivery/request.js';
import { generateSigningSecret } from '../connector/delivery/signature.js';
import { createSsrfGuard } from '../connector/delivery/ssrf-guard.js';
import { decodeTask, encodeTask } from '../connector/delivery/task.js';
import { createKafka, createProducer } from '../connector/kafka/client.js';
import { ensureTopics } from '../connector/kafka/topics.js';
import { createRootLogger } from '../connector/observability/logger.js';
import type { WebhookTarget } from '../connector/subscriptions/webhook.js';
import { benchTask, inFlight, MAX_IN_FLIGHT, rawLoop, sampleRequest, startReceiver } from './lib/delivery-fixtures.js';
import { mainThreadCpuMicros } from './lib/proc-cpu.js';
import { numberOption, parseBenchArgs, runBench } from './lib/bench-args.js';
import { benchServices, deleteTopics } from './services.js';

const log = createRootLogger({ level: 'error' });
const BASELINE = 'raw undici POST (baseline)';

/** CPU microseconds of this process per item while `work` runs. */
async function cpuPerItem(count: number, work: () => Promise<unknown> | unknown): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

async function main(): Promise<void> {
  const values = parseBenchArgs({ count: { type: 'string', default: '40000' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) return console.log('npm run bench:delivery-costs [-- --count N]\n  CPU per item of each stage a delivery adds to a POST, alone in this process, against a raw undici POST loop in the same run');
  const count = numberOption('count', values.count);
  const services = await benchServices();
  const id = randomUUID().slice(0, 8);
  const config = loadConfig({
    NODE_ENV: 'test', KAFKA_BROKERS: services.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: services.schemaRegistryUrl, DATABASE_URL: services.databaseUrl,
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'), HTTP_ALLOW_PLAIN_HTTP: 'true', HTTP_SSRF_ALLOWLIST: '127.0.0.1', TOPIC_DELIVERIES: `bc-${id}.deliveries`, TOPIC_ATTEMPTS: `bc-${id}.attempts`,
  });
  const receiver = await startReceiver();
  const kafka = createKafka(config.kafka, log, 'bench-costs');
  const stages: Record<string, number> = {};
  let threadedSend: { mainThreadUs: number; processUs: number } | null = null;
  const stage = (name: string, usPerItem: number): void => {
    stages[name] = Math.round(usPerItem * 10) / 10;
    console.log(`  ${name.padEnd(34)} ${stages[name]!.toFixed(1).padStart(6)} µs`);
  };
  try {
    const sample = sampleRequest(config);
    // Warm the receiver and this process's JIT, then the baseline.
    await rawLoop(receiver.url, count, sample);
    stage(BASELINE, await cpuPerItem(count, () => rawLoop(receiver.url, count, sample)));

    const { http } = config;
    const sender = createHttpSender({
      allowPlainHttp: http.allowPlainHttp, connectTimeoutMs: http.connectTimeoutMs, requestTimeoutMs: http.requestTimeoutMs, maxResponseBytes: http.maxResponseBytes, guard: createSsrfGuard(http.ssrfAllowlist),
    });
    const url = `${receiver.url}/fast/0`;
    await inFlight(count, MAX_IN_FLIGHT, () => sender.post(url, sample.headers, sample.body));
    stage('deliverer HTTP send', await cpuPerItem(count, () => inFlight(count, MAX_IN_FLIGHT, () => sender.post(url, sample.headers, sample.body))));
    await sender.close();

    // The same sends from a sending thread (DELIVERER_HTTP_THREADS=1): what stays on the main thread, and the
    // process's whole CPU with the thread's and the messages between them. Not a stage: it replaces the one above.
    const threaded = createThreadedHttpSender(http, { threads: 1, onFatal: (error) => { throw error; } });
    const sendThreaded = () => inFlight(count, MAX_IN_FLIGHT, () => threaded.post(url, sample.headers, sample.body));
    await sendThreaded();
    const mainBefore = mainThreadCpuMicros(process.pid);
    const processUs = await cpuPerItem(count, sendThreaded);
    const mainAfter = mainThreadCpuMicros(process.pid);
    if (mainBefore !== null && mainAfter !== null) {
      threadedSend = { mainThreadUs: Math.round(((mainAfter - mainBefore) / count) * 10) / 10, processUs: Math.round(processUs * 10) / 10 };
      console.log(`  ${'(threaded send: main thread)'.padEnd(34)} ${threadedSend.mainThreadUs.toFixed(1).padStart(6)} µs, the process ${threadedSend.processUs.toFixed(1)} µs`);
    }
    await threaded.close();

    const target: WebhookTarget = {
      id: randomUUID(), organization: 'bench-org', name: 'bench', url, bodyFormat: 'parallelworks', ordering: 'relaxed', signingSecrets: [generateSigningSecret()], apiKey: null, deliverable: true,
    };
    const encoded = Array.from({ length: count }, () => encodeTask(benchTask(target.id, target.organization, randomUUID())));
    const tasks = encoded.map((value) => decodeTask(value));
    stage('task parse (JSON)', await cpuPerItem(count, () => encoded.forEach((value) => decodeTask(value))));
    const requests = tasks.map((task) => buildWebhookRequest(task, target, 1_790_000_000, config.http.userAgent));
    stage('request body and signature', await cpuPerItem(count, () => tasks.forEach((task, i) => buildWebhookRequest(task, target, 1_790_000_000 + i, config.http.userAgent))));
    const record = (i: number) => attemptRecord({
      task: tasks[i]!, outcome: 'delivered', result: { kind: 'response', status: 200 }, requestHeaders: requests[i]!.loggableHeaders,
      requestBodyFrame: requests[i]!.frame, responseBody: '', durationMs: 1.3, now: Date.now(),
    });
    stage('attempt record built', await cpuPerItem(count, () => tasks.forEach((_, i) => record(i))));

    await ensureTopics(kafka, [{ topic: config.topics.deliveries, numPartitions: 12 }, { topic: config.topics.attempts, numPartitions: 12 }], 1);
    const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const records = tasks.map((_, i) => record(i));
    const attempts = createAttemptLog(producer, config.topics.attempts, { lingerMs: 20, maxBatch: 1000, log });
    stage('attempt record as JSON to Kafka', await cpuPerItem(count, () => Promise.all(records.map((r) => attempts.record(r)))));
    await attempts.close();
    for (let sent = 0; sent < count; sent += 1000) {
      await producer.send({ topic: config.topics.deliveries, messages: encoded.slice(sent, sent + 1000).map((value) => ({ key: target.id, value })) });
    }
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: `bc-${id}`, readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topics: [config.topics.deliveries], fromBeginning: true });
    let read = 0;
    const readAll = new Promise<void>((resolve) => {
      void consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => {
        read += batch.messages.length;
        if (read >= count) resolve();
      } });
    });
    stage('task fetch from Kafka', await cpuPerItem(count, () => readAll));
    await consumer.disconnect();
  } finally {
    await deleteTopics(kafka, `bc-${id}.`);
    receiver.child.kill();
  }
  const raw = stages[BASELINE]!;
  const added = Object.entries(stages).filter(([name]) => name !== BASELINE).reduce((sum, [, us]) => sum + us, 0);
  console.log(`  ${'sum of the deliverer stages'.padEnd(34)} ${added.toFixed(1).padStart(6)} µs = ${(added / raw).toFixed(2)} × the raw POST`);
  console.log(`  throughput these alone allow against the raw loop: ${(raw / added).toFixed(2)} (bench:delivery measures the deliverer whole)`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/delivery-costs.json', `${JSON.stringify({ count, microsPerItem: stages, sumOfStages: added, ratioAllowed: raw / added, threadedSend }, null, 2)}\n`);
}

runBench('bench:delivery-costs', main);
