import type { Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { AttemptLog } from '../../connector/delivery/attempt-log.js';
import type { AttemptRecord } from '../../connector/delivery/attempt-record.js';
import type { HttpSender, PostOptions, SendResult } from '../../connector/delivery/http-sender.js';
import { createTaskHandler } from '../../connector/delivery/task-handler.js';
import type { DeliveryTask } from '../../connector/delivery/task.js';
import { WITHDRAWN } from '../../connector/delivery/threaded-sender.js';
import type { Pool } from '../../connector/db/pool.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import type { WebhookTarget } from '../../connector/subscriptions/webhook.js';

const WEBHOOK = '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c11';
const target: WebhookTarget = {
  id: WEBHOOK, organization: 'acme', name: 'hook', url: 'https://example.com/hook', bodyFormat: 'parallelworks', ordering: 'relaxed',
  signingSecrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], apiKey: null, deliverable: true,
};
const taskNumber = (n: number): DeliveryTask => ({
  v: 1, taskId: `msg_${n}`, webhookId: WEBHOOK, organization: 'acme', attempt: 1, routedAt: 0,
  event: { eventId: `evt-${n}`, eventType: 'USER_CREATED', family: 'user', occurredAt: 0, organization: 'acme', actor: null, source: 'idp', payload: { n } },
});
const answer = (status: number): SendResult => ({ result: { kind: 'response', status }, responseExcerpt: '', durationMs: 1 });

/**
 * The handler alone, around a sender whose answers the test scripts: what it does with a request its sender took
 * back unsent (its partition went to another instance while the request waited in a sending thread).
 */
function handlerWith(answers: Array<SendResult | Promise<SendResult>>) {
  const posted: string[] = [];
  const logged: AttemptRecord[] = [];
  const produced: string[] = [];
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
  const handle = createTaskHandler({
    pool: {} as Pool,
    targets: { get: async () => target, invalidate: () => undefined, clear: () => undefined },
    sender,
    attempts,
    failures: { failure: async () => false, success: async () => undefined },
    producer: { send: async ({ topic }: { topic: string }) => void produced.push(topic) } as unknown as Producer,
    schedule: { delaysMs: [5000], jitter: 0, maxRetryAfterMs: 60_000 },
    // One failure opens the breaker, and it admits a probe at once.
    breakerPolicy: { failureThreshold: 1, openMs: 0 },
    retryTopic: (tier) => `retry.${tier}`,
    dlqTopic: 'dlq',
    userAgent: 'test',
    bodyTypeName: (_format, type) => type,
    log: createRootLogger({ level: 'silent' }),
  });
  return { handle, posted, logged, produced };
}

describe('the task handler, for a request taken back unsent', () => {
  it('neither decides nor logs it, throws the partition\'s reason, and frees the breaker\'s probe it was', async () => {
    const partition = new AbortController();
    // Taken back when the partition goes, as a sending thread answers a request still waiting in its lane.
    const takenBack = new Promise<SendResult>((resolve) => partition.signal.addEventListener('abort', () => resolve(WITHDRAWN)));
    const { handle, posted, logged, produced } = handlerWith([answer(503), takenBack, answer(204)]);
    const stop = new AbortController();
    // A 503 opens the breaker; the next request is its probe.
    await handle(taskNumber(1), stop.signal);
    expect(produced).toEqual(['retry.5s']);
    const taken = handle(taskNumber(2), stop.signal, undefined, partition.signal);
    await expect.poll(() => posted).toEqual(['msg_1', 'msg_2']);
    partition.abort(new Error('partition 3 was assigned to another instance'));
    await expect(taken).rejects.toThrow('assigned to another instance');
    expect(logged.map((record) => record.taskId)).toEqual(['msg_1']);
    // The probe was taken back: the next request probes, and is sent, rather than shed as CIRCUIT_OPEN.
    await handle(taskNumber(3), stop.signal);
    expect(posted).toEqual(['msg_1', 'msg_2', 'msg_3']);
    expect(logged.map((record) => [record.taskId, record.outcome])).toEqual([['msg_1', 'retry'], ['msg_3', 'delivered']]);
  });

  it('sends nothing for a task whose partition went before its request was made', async () => {
    const { handle, posted, logged } = handlerWith([answer(204)]);
    const partition = new AbortController();
    partition.abort(new Error('gone'));
    await expect(handle(taskNumber(1), new AbortController().signal, undefined, partition.signal)).rejects.toThrow('gone');
    expect(posted).toEqual([]);
    expect(logged).toEqual([]);
  });
});
