import type { Consumer, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import { createProducer } from '../kafka/client.js';
import { classify } from '../errors.js';
import { deliveries, endToEndLatency, httpRequestDuration } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import { deactivateWebhook } from '../subscriptions/status.js';
import type { TargetCache } from '../subscriptions/target-cache.js';
import type { Pool } from '../db/pool.js';
import type { HttpSender } from './http-sender.js';
import { decideOutcome, statusClass, type Outcome } from './outcome.js';
import { buildWebhookRequest } from './request.js';
import { decodeTask, type DeliveryTask } from './task.js';

export interface DelivererDeps {
  kafka: Kafka;
  pool: Pool;
  targets: TargetCache;
  sender: HttpSender;
  groupId: string;
  sessionTimeoutMs: number;
  deliveriesTopic: string;
  deliveriesDlqTopic: string;
  partitionsConcurrently: number;
  userAgent: string;
  log: Logger;
}

export interface Deliverer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The deliverer: consume tasks keyed by webhook, POST each to its endpoint,
 * decide what the answer means. Records of one partition are handled one
 * after another, so each webhook's tasks go out in the order they were routed.
 */
export function createDeliverer(deps: DelivererDeps): Deliverer {
  const { kafka, log } = deps;
  let consumer: Consumer | null = null;
  let producer: Producer | null = null;

  const deadLetter = async (value: Buffer | null, key: Buffer | null, code: string, reason: string, attempt: number): Promise<void> => {
    deliveries.inc({ outcome: 'dead_letter', status_class: code });
    await producer!.send({
      topic: deps.deliveriesDlqTopic,
      messages: [{ key, value, headers: { 'dlq.error.code': code, 'dlq.error.message': reason.slice(0, 1000), 'dlq.attempt': String(attempt), 'dlq.failed.at': new Date().toISOString() } }],
    });
  };

  const deliver = async (task: DeliveryTask): Promise<Outcome | null> => {
    const target = await deps.targets.get(task.webhookId);
    if (!target || !target.deliverable) {
      // Deleted, disabled or unverified since routing: the admin's latest word wins.
      deliveries.inc({ outcome: 'skipped', status_class: 'none' });
      log.info({ webhookId: task.webhookId, taskId: task.taskId }, 'task skipped: webhook no longer deliverable');
      return null;
    }
    const request = buildWebhookRequest(task, target, Math.floor(Date.now() / 1000), deps.userAgent);
    const sent = await deps.sender.post(target.url, request.headers, request.body);
    const outcome = decideOutcome(sent.result, Date.now());
    const cls = statusClass(sent.result);
    httpRequestDuration.observe({ status_class: cls }, sent.durationMs / 1000);
    log.info({ webhookId: task.webhookId, taskId: task.taskId, eventType: task.event.eventType, statusClass: cls, decision: outcome.decision, ms: Math.round(sent.durationMs) }, 'delivery attempt');
    if (outcome.decision === 'delivered') {
      deliveries.inc({ outcome: 'delivered', status_class: cls });
      endToEndLatency.observe(Math.max(0, Date.now() - task.event.occurredAt) / 1000);
    }
    if (outcome.decision === 'disable') {
      await deactivateWebhook(deps.pool, task.webhookId, `Disabled automatically: ${outcome.reason} at ${new Date().toISOString()}`);
      deps.targets.invalidate(task.webhookId);
    }
    return outcome;
  };

  const handleMessage = async ({ message }: EachMessagePayload): Promise<void> => {
    let task: DeliveryTask;
    try {
      task = decodeTask(message.value);
    } catch (error) {
      const failure = classify(error);
      await deadLetter(message.value, message.key, failure.code, failure.message, 0);
      return;
    }
    const outcome = await deliver(task);
    if (outcome && outcome.decision !== 'delivered') {
      // Retry tiers come with the delivery engine; until then nothing is dropped: it waits in the DLQ with the reason.
      await deadLetter(message.value, message.key, outcome.decision.toUpperCase(), outcome.reason, task.attempt);
    }
  };

  return {
    async start() {
      producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      consumer = kafka.consumer({ groupId: deps.groupId, sessionTimeout: deps.sessionTimeoutMs, readUncommitted: false });
      await consumer.connect();
      await consumer.subscribe({ topics: [deps.deliveriesTopic], fromBeginning: true });
      await consumer.run({ partitionsConsumedConcurrently: deps.partitionsConcurrently, eachMessage: handleMessage });
      log.info({ topic: deps.deliveriesTopic, groupId: deps.groupId }, 'deliverer consuming');
    },
    async stop() {
      await consumer?.disconnect();
      await producer?.disconnect();
      consumer = null;
      producer = null;
    },
  };
}
