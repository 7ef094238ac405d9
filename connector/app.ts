import type { ConnectorConfig } from '../config/load.js';
import { readerSchemas } from '../schemas/avro/index.js';
import { createPool } from './db/pool.js';
import { createAttemptHistory } from './delivery/attempt-history.js';
import { createAttemptLog } from './delivery/attempt-log.js';
import { createAttemptRetention } from './delivery/attempt-retention.js';
import { createAttemptSink } from './delivery/attempt-sink.js';
import { createDeliverer } from './delivery/deliverer.js';
import { taskPublishing } from './delivery/publish-tasks.js';
import { createRetryTier, retiredTiersToDrain, tierGroupId } from './delivery/retry-tier.js';
import { tierLabels } from './delivery/retry-schedule.js';
import { createTaskHandler } from './delivery/task-handler.js';
import { createHttpSender, type HttpSender } from './delivery/http-sender.js';
import { createSlowRequests } from './delivery/slow-requests.js';
import { sendingPlan } from './delivery/sending-plan.js';
import { createThreadedHttpSender, type ThreadedHttpSender } from './delivery/threaded-sender.js';
import { createSsrfGuard } from './delivery/ssrf-guard.js';
import { loadEventCatalog } from './events/catalog.js';
import { createAvroDecoder } from './ingest/decode.js';
import type { SourceTopic } from './ingest/source-topic.js';
import { createRouter } from './ingest/router.js';
import { createKafka, createProducer } from './kafka/client.js';
import { createSchemaRegistryClient } from './kafka/schema-registry.js';
import { connectorTopics, ensureTopics, limitShortfalls, retryTopic, topicMessageLimits, topicTakes } from './kafka/topics.js';
import { startConsumerLagMonitor } from './observability/consumer-lag.js';
import type { Logger } from './observability/logger.js';
import type { ReadinessCheck } from './observability/server.js';
import { createSecretBox } from './security/encryption.js';
import { createChangeListener } from './subscriptions/change-listener.js';
import { createFailureTracker } from './subscriptions/failure-tracker.js';
import { existingWebhookIds } from './subscriptions/repository.js';
import { createSubscriptionStore } from './subscriptions/subscription-store.js';
import { createTargetCache } from './subscriptions/target-cache.js';
import { createWebhookEventRelay, WEBHOOK_EVENTS_POLL_MS } from './subscriptions/webhook-events-relay.js';

/** router: source topics → tasks; deliverer: tasks → endpoints; sink: attempts topic → Postgres delivery log. */
export type Role = 'router' | 'deliverer' | 'sink';

/** A running part of the connector; `stop` runs in reverse start order. */
export interface RunningPart {
  name: string;
  stop(): Promise<void>;
}

export interface RunningRole {
  parts: RunningPart[];
  /** What /readyz asks: the dependencies this role needs. */
  checks: Record<string, ReadinessCheck>;
}

/**
 * Assembles and starts one role from configuration. Every dependency is made
 * here and passed down explicitly; nothing below reads config or env itself.
 */
export async function startRole(role: Role, config: Readonly<ConnectorConfig>, log: Logger, onFatal: (error: unknown) => void): Promise<RunningRole> {
  const parts: RunningPart[] = [];
  const pool = createPool({ url: config.database.url, max: config.database.poolSize, queryTimeoutMs: config.database.queryTimeoutMs, applicationName: `identity-webhooks-${role}` }, log);
  parts.push({ name: 'postgres pool', stop: () => pool.end() });
  const kafka = createKafka(config.kafka, log, role);
  try {
    const topics = connectorTopics(config);
    const limits = await ensureTopics(kafka, topics, config.topics.replicationFactor);
    const topicLimit = (topic: string, wanted: number): number => topicTakes(limits, topic, wanted);
    for (const shortfall of limitShortfalls(topics, limits)) {
      log.warn(
        shortfall,
        `topic ${shortfall.topic} takes messages up to ${shortfall.maxMessageBytes} bytes, but the connector may write up to ${shortfall.needed} to it (TOPIC_DELIVERIES_MAX_MESSAGE_BYTES): a larger one would be refused on every try. Raise its max.message.bytes to ${shortfall.needed}`,
      );
    }
    if (role === 'router') {
      const subscriptions = createSubscriptionStore({ pool, log: log.child({ component: 'subscriptions' }), reloadIntervalMs: 60_000, canonicalPattern: loadEventCatalog().canonicalPattern });
      await subscriptions.start();
      parts.push({ name: 'subscription store', stop: () => subscriptions.stop() });
      const registry = createSchemaRegistryClient(config.schemaRegistry);
      const schemas = readerSchemas();
      const sources = new Map<string, SourceTopic>([
        [config.topics.userEvents, { decoder: createAvroDecoder(registry, schemas.user), family: 'user' }],
        [config.topics.groupEvents, { decoder: createAvroDecoder(registry, schemas.group), family: 'group' }],
        [config.topics.authEvents, { decoder: createAvroDecoder(registry, schemas.auth), family: 'auth' }],
      ]);
      const router = createRouter({
        kafka,
        catalog: loadEventCatalog(),
        subscriptions,
        sources,
        groupId: config.router.groupId,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        deliveriesTopic: config.topics.deliveries,
        // A deliveries topic that takes less than configured (made before the connector sized it) bounds the tasks.
        maxTaskBytes: topicLimit(config.topics.deliveries, config.topics.deliveriesMaxMessageBytes),
        lingerMs: config.router.lingerMs,
        transactionMaxTaskBytes: config.router.transactionMaxTaskBytes,
        ingestDlqTopic: config.topics.ingestDlq,
        maxDeadLetterBytes: topicLimit(config.topics.ingestDlq, topicMessageLimits(config).downstream),
        onFatal,
        log: log.child({ component: 'router' }),
      });
      await router.start();
      parts.push({ name: 'router', stop: () => router.stop() });
    } else if (role === 'sink') {
      // Its own role: a Postgres outage stalls only the delivery log, never deliveries, and it scales on its own.
      const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      parts.push({ name: 'dead-letter producer', stop: () => producer.disconnect() });
      const sink = createAttemptSink({
        kafka, pool, topic: config.topics.attempts, producer, dlqTopic: config.topics.attemptsDlq, dlqLimitBytes: topicLimit(config.topics.attemptsDlq, topicMessageLimits(config).attemptsDlq),
        groupId: config.attempts.sinkGroupId, sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        onFatal, log: log.child({ component: 'attempt-sink' }),
      });
      await sink.start();
      parts.push({ name: 'attempt sink', stop: () => sink.stop() });
      const retention = createAttemptRetention({ pool, retentionDays: config.attempts.retentionDays, log: log.child({ component: 'attempt-retention' }) });
      retention.start();
      parts.push({ name: 'delivery log retention', stop: () => retention.stop() });
    } else {
      const senderSettings = {
        allowPlainHttp: config.http.allowPlainHttp,
        connectTimeoutMs: config.http.connectTimeoutMs,
        requestTimeoutMs: config.http.requestTimeoutMs,
        maxResponseBytes: config.http.maxResponseBytes,
      };
      const { deliverer: settings } = config;
      const { httpThreads } = settings;
      const inline = (): HttpSender => createHttpSender({ ...senderSettings, slowAfterMs: settings.slowRequestMs, guard: createSsrfGuard(config.http.ssrfAllowlist) });
      // One per process: first attempts and retry tiers share the bound on requests waiting aside.
      const slowRequests = createSlowRequests({ max: settings.maxSlowRequests });
      const threaded = (): ThreadedHttpSender => createThreadedHttpSender(
        { ...senderSettings, ssrfAllowlist: config.http.ssrfAllowlist, slowAfterMs: settings.slowRequestMs, maxAside: settings.maxSlowRequests },
        { threads: httpThreads, onFatal },
      );
      const sending = sendingPlan(settings, inline, threaded, () => slowRequests.aside);
      const { sender } = sending;
      parts.push({ name: 'http sender', stop: () => sender.close() });
      const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      parts.push({ name: 'delivery producer', stop: () => producer.disconnect() });
      // Attempt records gate offset commits, not deliveries: a longer linger means fewer, larger produce requests.
      // At 500 events/s, 50 ms rather than 20 saved the deliverer 10-50 µs of CPU per event (each request costs
      // a broker round trip); commits move up to 30 ms later, and a crash re-sends that much more.
      const attempts = createAttemptLog(producer, config.topics.attempts, {
        lingerMs: 50, maxBatch: 1000, topicLimitBytes: topicLimit(config.topics.attempts, topicMessageLimits(config).downstream), log: log.child({ component: 'attempt-log' }),
      });
      parts.push({ name: 'attempt log', stop: () => attempts.close() });
      // An admin's disable, URL change or rotation reaches the deliverers as it reaches the routers: within a second,
      // by notification (a reconnected listener forgets every entry). The TTL only bounds a lost notification, as the
      // routers' full reload does; a short one made every deliverer re-read every busy webhook every few seconds.
      const targets = createTargetCache({ pool, box: createSecretBox(config.secrets.encryptionKey, config.secrets.previousEncryptionKeys), ttlMs: settings.targetCacheTtlMs, log: log.child({ component: 'target-cache' }) });
      // Set once the task handler exists: a change heard before then has no breaker to forget.
      let forgetBreaker = (_webhookId: string): void => undefined;
      let breakerWebhookIds = (): string[] => [];
      /** After a listener reconnect: deletions made meanwhile went unheard, so each breaker's webhook is looked up. */
      const forgetBreakersOfDeleted = async (): Promise<void> => {
        const ids = breakerWebhookIds();
        if (ids.length === 0) return;
        const existing = await existingWebhookIds(pool, ids);
        for (const id of ids) if (!existing.has(id)) forgetBreaker(id);
      };
      const changes = createChangeListener({
        pool,
        log: log.child({ component: 'target-cache' }),
        onChange: (change) => {
          if (!change) {
            targets.clear();
            forgetBreakersOfDeleted().catch((error: unknown) => log.warn({ err: error }, 'could not check the circuit breakers\' webhooks after the change listener reconnected; a deleted one stays counted open until a restart'));
            return;
          }
          targets.invalidate(change.id);
          // Deleted: no task of it may come to close its breaker. (A changed URL resets it at the next attempt; any
          // other change, a rename or a script enabling it again, must not let a failing endpoint's requests through.)
          if (change.op === 'DELETE') forgetBreaker(change.id);
        },
      });
      await changes.start();
      parts.push({ name: 'webhook change listener', stop: () => changes.stop() });
      // WEBHOOK_* events of the changes this process makes (disabling a webhook after 410 Gone or a failing window),
      // and any an admin API left: stopped after the deliverer, so a disable its last tasks made goes out too.
      const webhookEvents = createWebhookEventRelay({
        pool,
        publish: taskPublishing(producer, config.topics.deliveries, topicLimit(config.topics.deliveries, config.topics.deliveriesMaxMessageBytes)),
        log: log.child({ component: 'webhook-events' }),
        intervalMs: WEBHOOK_EVENTS_POLL_MS,
      });
      webhookEvents.start();
      parts.push({ name: 'webhook change events relay', stop: () => webhookEvents.stop() });
      const handle = createTaskHandler({
        pool,
        targets,
        sender,
        attempts,
        attemptHistory: createAttemptHistory(pool, log.child({ component: 'deliverer' })),
        failures: createFailureTracker({ pool, windowMs: settings.autoDisableAfterMs, log: log.child({ component: 'failure-tracker' }) }),
        producer,
        schedule: { delaysMs: settings.retryDelaysMs, jitter: settings.retryJitter, maxRetryAfterMs: settings.maxRetryAfterMs },
        breakerPolicy: { failureThreshold: settings.breakerFailureThreshold, openMs: settings.breakerOpenMs },
        retryTopic: (label) => retryTopic(config, label),
        dlqTopic: config.topics.deliveriesDlq,
        userAgent: config.http.userAgent,
        bodyTypeName: loadEventCatalog().bodyTypeName,
        slowRequests,
        log: log.child({ component: 'deliverer' }),
      });
      forgetBreaker = handle.forget;
      breakerWebhookIds = handle.breakerWebhookIds;
      // A tier holds tasks whose endpoints failed: a quarter of the first attempts' concurrency and buffer each.
      const tierInFlight = Math.max(1, Math.floor(settings.maxInFlight / 4));
      const tierShare = {
        maxInFlight: tierInFlight + sending.aheadOf(Math.floor(settings.sendAhead / 4)),
        maxBuffered: Math.max(100, Math.floor(settings.maxBuffered / 4)),
        maxQueuedPerWebhook: Math.max(1, Math.floor(settings.maxQueuedPerWebhook / 4)),
        maxDeferred: Math.max(100, Math.floor(settings.maxDeferred / 4)),
      };
      const retired = await retiredTiersToDrain(kafka, config, log);
      const tiers = [...tierLabels({ delaysMs: settings.retryDelaysMs, jitter: 0, maxRetryAfterMs: 0 }), ...retired].map((label) =>
        createRetryTier({
          kafka, handle: handle.via(sending.lane(tierInFlight)), producer, dlqTopic: config.topics.deliveriesDlq, topic: retryTopic(config, label), groupId: tierGroupId(config, label),
          sessionTimeoutMs: config.kafka.sessionTimeoutMs, ...tierShare, drainTimeoutMs: Math.max(1000, config.shutdown.timeoutMs - 5000), onFatal,
          fetchMaxBytesPerPartition: settings.fetchMaxBytesPerPartition,
          log: log.child({ component: 'retry-tier', tier: label }),
        }),
      );
      await Promise.all(tiers.map((tier) => tier.start()));
      const tiersPart: RunningPart = { name: 'retry tiers', stop: async () => void (await Promise.all(tiers.map((tier) => tier.stop()))) };
      parts.push(tiersPart);
      const deliverer = createDeliverer({
        kafka,
        handle: handle.via(sending.lane(settings.maxInFlight)),
        producer,
        dlqTopic: config.topics.deliveriesDlq,
        groupId: settings.groupId,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        topic: config.topics.deliveries,
        maxInFlight: settings.maxInFlight + sending.aheadOf(settings.sendAhead),
        maxBuffered: settings.maxBuffered,
        maxQueuedPerWebhook: settings.maxQueuedPerWebhook,
        maxDeferred: settings.maxDeferred,
        fetchMaxBytesPerPartition: settings.fetchMaxBytesPerPartition,
        drainTimeoutMs: Math.max(1000, config.shutdown.timeoutMs - 5000),
        onFatal,
        log: log.child({ component: 'deliverer' }),
      });
      await deliverer.start();
      // First attempts and retries drain at once: one after the other, each could take its whole drain timeout,
      // twice what the shutdown's bound allows, and the process would exit before committing and closing.
      parts.splice(parts.indexOf(tiersPart), 1, {
        name: 'deliverer and retry tiers',
        stop: async () => void (await Promise.all([deliverer.stop(), tiersPart.stop()])),
      });
    }
    const lagGroups =
      role === 'router'
        ? [{ groupId: config.router.groupId, topics: [config.topics.userEvents, config.topics.groupEvents, config.topics.authEvents] }]
        : role === 'sink'
          ? [{ groupId: config.attempts.sinkGroupId, topics: [config.topics.attempts] }]
          : [{ groupId: config.deliverer.groupId, topics: [config.topics.deliveries] }];
    const lag = startConsumerLagMonitor({ kafka, groups: lagGroups, intervalMs: 5000, log: log.child({ component: 'consumer-lag' }) });
    parts.push({ name: 'consumer lag monitor', stop: () => lag.stop() });
  } catch (error) {
    // The start-up failure is what the caller must hear of; a part that also fails to stop is logged by stopParts.
    await stopParts(parts, log).catch(() => undefined);
    throw error;
  }
  const checks: Record<string, ReadinessCheck> = {
    postgres: async () => void (await pool.query('SELECT 1')),
    kafka: async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.describeCluster();
      } finally {
        await admin.disconnect();
      }
    },
  };
  if (role === 'router') {
    // With the router's credentials: a registry that requires them would otherwise never be reported ready.
    const registry = createSchemaRegistryClient({ ...config.schemaRegistry, requestTimeoutMs: 3000 });
    checks['schemaRegistry'] = () => registry.ready();
  }
  return { parts, checks };
}

/**
 * Stops parts newest first: consumers stop before the pools they use close.
 * A part that fails to stop does not keep the others from stopping; once all
 * were tried, the stop fails, naming them, so the process exits non-zero.
 */
export async function stopParts(parts: RunningPart[], log: Logger): Promise<void> {
  const failed: string[] = [];
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
      log.debug({ part: part.name }, 'stopped');
    } catch (error) {
      failed.push(part.name);
      log.error({ err: error, part: part.name }, 'part did not stop cleanly');
    }
  }
  if (failed.length > 0) throw new Error(`did not stop cleanly: ${failed.join(', ')}`);
}
