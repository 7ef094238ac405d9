/**
 * The least any deliverer built on kafkajs does per task, and nothing more:
 * read the task in a consumer group, parse it, build and sign its request,
 * POST it, log the attempt to the attempts topic, commit the offset. No order
 * per webhook, no retries, no breaker, no metrics, no sending thread, no
 * backpressure. Its rate against the raw loop is the ceiling the fixed
 * choice of client leaves on this machine: how much of the deliverer's gap to
 * the raw loop is ours, and how much is Kafka's work done through kafkajs.
 */
import type { Logger } from '../../connector/observability/logger.js';
import type { ConnectorConfig } from '../../config/load.js';
import { createAttemptLog } from '../../connector/delivery/attempt-log.js';
import { attemptRecord } from '../../connector/delivery/attempt-record.js';
import { createHttpSender } from '../../connector/delivery/http-sender.js';
import { buildWebhookRequest } from '../../connector/delivery/request.js';
import { createSsrfGuard } from '../../connector/delivery/ssrf-guard.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import type { WebhookTarget } from '../../connector/subscriptions/webhook.js';

export interface Floor {
  stop(): Promise<void>;
}

/** Starts the floor loop on the deliveries topic, `concurrency` requests in flight at most. */
export async function startKafkajsFloor(config: Readonly<ConnectorConfig>, targets: ReadonlyMap<string, WebhookTarget>, concurrency: number, log: Logger): Promise<Floor> {
  const kafka = createKafka(config.kafka, log, 'bench-floor');
  const { http } = config;
  const sender = createHttpSender({
    allowPlainHttp: http.allowPlainHttp, connectTimeoutMs: http.connectTimeoutMs, requestTimeoutMs: http.requestTimeoutMs, maxResponseBytes: http.maxResponseBytes, guard: createSsrfGuard(http.ssrfAllowlist),
  });
  const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  // As the deliverer's attempt log is set up (connector/app.ts).
  const attempts = createAttemptLog(producer, config.topics.attempts, { lingerMs: 50, maxBatch: 1000, log });
  const consumer = kafka.consumer({ groupId: `${config.deliverer.groupId}-floor`, readUncommitted: false, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [config.topics.deliveries], fromBeginning: true });

  // One bound on requests in flight over the partitions consumed at once, as the deliverer and the raw loop have.
  let inFlight = 0;
  const slotFreed: Array<() => void> = [];
  const acquire = async (): Promise<void> => {
    while (inFlight >= concurrency) await new Promise<void>((resolve) => slotFreed.push(resolve));
    inFlight += 1;
  };
  const release = (): void => {
    inFlight -= 1;
    slotFreed.shift()?.();
  };

  /** Sends the task; its attempt record joins `logged`, so the batch is committed once they are all written. */
  const deliver = async (value: Buffer | null, logged: Array<Promise<void>>): Promise<void> => {
    const task = decodeTask(value);
    const target = targets.get(task.webhookId)!;
    const nowMs = Date.now();
    const request = buildWebhookRequest(task, target, Math.floor(nowMs / 1000), http.userAgent);
    const sent = await sender.post(target.url, request.headers, request.body);
    logged.push(attempts.record(attemptRecord({
      task, outcome: 'delivered', result: sent.result, requestHeaders: request.loggableHeaders, requestBodyFrame: request.frame,
      responseBody: sent.responseExcerpt, durationMs: sent.durationMs, now: nowMs,
    })));
  };

  // Each partition's commits in order: a batch's offset once its attempts and those of the batches before are logged.
  const commits = new Map<number, Promise<unknown>>();
  // Batches of several partitions at once, so the bound above is what limits the requests in flight.
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Batches of several partitions at once, so the bound above is what limits the requests in flight.
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      const sends: Array<Promise<void>> = [];
      const logged: Array<Promise<void>> = [];
      for (const message of batch.messages) {
        await acquire();
        sends.push(deliver(message.value, logged).finally(release));
      }
      await Promise.all(sends);
      if (batch.messages.length === 0) return;
      // Read on from here at once; the commit waits for the attempt records (written every 50 ms), not the reading.
      resolveOffset(batch.lastOffset());
      const offset = String(BigInt(batch.lastOffset()) + 1n);
      const { topic, partition } = batch;
      const previous = commits.get(partition) ?? Promise.resolve();
      commits.set(partition, Promise.all([previous, ...logged]).then(() => consumer.commitOffsets([{ topic, partition, offset }])).catch(() => undefined));
      await heartbeat();
    },
  });
  return {
    async stop() {
      await consumer.stop();
      await Promise.all(commits.values());
      await consumer.disconnect();
      await attempts.close();
      await producer.disconnect();
      await sender.close();
    },
  };
}
