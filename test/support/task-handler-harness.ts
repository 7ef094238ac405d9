import type { Producer } from 'kafkajs';
import type { AttemptLog } from '../../connector/delivery/attempt-log.js';
import type { AttemptRecord } from '../../connector/delivery/attempt-record.js';
import type { BreakerPolicy } from '../../connector/delivery/circuit-breaker.js';
import type { HttpSender, PostOptions, SendResult } from '../../connector/delivery/http-sender.js';
import type { RetrySchedule } from '../../connector/delivery/retry-schedule.js';
import { RETRY_DUE_AT_HEADER } from '../../connector/delivery/retry-tier.js';
import { createTaskHandler } from '../../connector/delivery/task-handler.js';
import { decodeTask, type DeliveryTask } from '../../connector/delivery/task.js';
import type { Pool } from '../../connector/db/pool.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import type { FailureTracker } from '../../connector/subscriptions/failure-tracker.js';
import type { TargetCache } from '../../connector/subscriptions/target-cache.js';
import type { WebhookTarget } from '../../connector/subscriptions/webhook.js';

export const WEBHOOK = '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c11';

export const target: WebhookTarget = {
  id: WEBHOOK, organization: 'acme', name: 'hook', url: 'https://example.com/hook', bodyFormat: 'parallelworks', ordering: 'relaxed',
  signingSecrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], apiKey: null, deliverable: true,
};

export const taskNumber = (n: number, attempt = 1): DeliveryTask => ({
  v: 1, taskId: `msg_${n}`, webhookId: WEBHOOK, organization: 'acme', attempt, routedAt: 0,
  event: { eventId: `evt-${n}`, eventType: 'USER_CREATED', family: 'user', occurredAt: 0, organization: 'acme', actor: null, source: 'idp', payload: { n } },
});

export const answer = (status: number): SendResult => ({ result: { kind: 'response', status }, responseExcerpt: '', durationMs: 1 });

/** What the handler wrote to a retry tier or the dead-letter topic. */
export interface Produced {
  topic: string;
  task: DeliveryTask;
  headers: Record<string, string>;
}

/**
 * The task handler alone, around a sender whose answers the test scripts, an attempt log, a producer and a clock
 * that only record. Its pure decisions (breaker, schedule) are the real ones.
 */
export function handlerWith(answers: Array<SendResult | Promise<SendResult>>, options: {
  schedule?: RetrySchedule;
  breakerPolicy?: BreakerPolicy;
  ordering?: WebhookTarget['ordering'];
  now?: () => number;
  /** The failing streaks (default: none ever). */
  failures?: FailureTracker;
  /** The webhooks as the deliverer reads them (default: `target`, always). */
  targets?: TargetCache;
  /** Attempts of the task's chain the delivery log holds (default: none). */
  logged?: (task: DeliveryTask) => number;
} = {}) {
  const posted: string[] = [];
  const logged: AttemptRecord[] = [];
  const produced: Produced[] = [];
  const sender: HttpSender = {
    post: async (_url, headers, _body, _options?: PostOptions) => {
      posted.push(headers['webhook-id']!);
      return answers.shift()!;
    },
    close: async () => undefined,
  };
  const attempts: AttemptLog = {
    record: async (record) => void logged.push(record),
    flush: async () => undefined,
    close: async () => undefined,
  };
  const producer = {
    send: async ({ topic, messages }: { topic: string; messages: Array<{ value: Buffer; headers: Record<string, string> }> }) => {
      for (const message of messages) produced.push({ topic, task: decodeTask(message.value), headers: message.headers });
    },
  } as unknown as Producer;
  const handle = createTaskHandler({
    pool: {} as Pool,
    targets: options.targets ?? { get: async () => ({ ...target, ordering: options.ordering ?? target.ordering }), invalidate: () => undefined, clear: () => undefined },
    sender,
    attempts,
    attemptHistory: async (task) => options.logged?.(task) ?? 0,
    failures: options.failures ?? { failure: async () => false, success: async () => undefined },
    producer,
    schedule: options.schedule ?? { delaysMs: [5000], jitter: 0, maxRetryAfterMs: 60_000 },
    // By default one failure opens the breaker, and it admits a probe at once.
    breakerPolicy: options.breakerPolicy ?? { failureThreshold: 1, openMs: 0 },
    retryTopic: (tier) => `retry.${tier}`,
    dlqTopic: 'dlq',
    userAgent: 'test',
    bodyTypeName: (_format, type) => type,
    log: createRootLogger({ level: 'silent' }),
    ...(options.now ? { now: options.now } : {}),
  });
  return { handle, posted, logged, produced };
}

export { RETRY_DUE_AT_HEADER };
