import { ConfigResourceTypes, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { decodeTask, encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { retryTopics, topicMessageLimits } from '../../connector/kafka/topics.js';
import { RECORD_OVERHEAD_BYTES } from '../../connector/kafka/record-size.js';
import { attemptRecord, attemptRowsOf } from '../../connector/delivery/attempt-record.js';
import { createProducer } from '../../connector/kafka/client.js';
import { retryHops } from '../../connector/observability/metrics.js';
import { deliveryScenario, seqs, type DeliveryScenario } from '../support/delivery-scenario.js';
import { header, readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';
import { startReceiver } from '../../scripts/lib/receiver.js';
import { consumerLag, consumerUnfinished, outcomeWriteFailures } from '../../connector/observability/metrics.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The delivery rules on real endpoints: order, retries, Retry-After, 410, 4xx, timeouts, strict ordering, the log. */
describe('delivery outcomes', () => {
  let s: DeliveryScenario;
  let dlq: TopicReader;
  const dlqFor = (webhookId: string) => dlq.messages.filter((m) => m.key?.toString() === webhookId);
  const attempts = async (webhookId: string) =>
    (await s.pool.query('SELECT * FROM delivery_attempts WHERE webhook_id = $1 ORDER BY attempted_at, attempt', [webhookId])).rows as Array<Record<string, unknown>>;

  beforeAll(async () => {
    s = await deliveryScenario(inject('services'), { HTTP_REQUEST_TIMEOUT_MS: '1000' });
    dlq = await readTopic(s.kafka, s.config.topics.deliveriesDlq);
    await s.startDeliverer();
  });

  afterAll(async () => {
    await dlq?.close();
    await s?.close();
  });

  it('keeps each webhook in order while webhooks are served concurrently', async () => {
    const hooks = await Promise.all(Array.from({ length: 4 }, () => s.addWebhook()));
    // Requests each receiver is answering, and the most seen at once: per webhook, and across the four.
    const perWebhook = hooks.map(() => ({ open: 0, most: 0 }));
    const all = { open: 0, most: 0 };
    hooks.forEach((hook, i) => hook.receiver.respondWith(async () => {
      const counts = [perWebhook[i]!, all];
      for (const count of counts) count.most = Math.max(count.most, ++count.open);
      await pause(2 + Math.random() * 13);
      for (const count of counts) count.open -= 1;
      return { status: 204 };
    }));
    for (const hook of hooks) await s.produceTasks(hook.id, 30);
    for (const hook of hooks) await waitFor('30 deliveries', () => hook.receiver.requests.length >= 30);
    for (const hook of hooks) expect(seqs(hook.receiver)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // One at a time per webhook, the next sent only once the last was answered; the webhooks at the same time.
    expect(perWebhook.map((count) => count.most)).toEqual([1, 1, 1, 1]);
    expect(all.most).toBeGreaterThan(1);
  });

  it('gets every event through to a flapping endpoint, each webhook-id accepted exactly once', async () => {
    const hook = await s.addWebhook();
    // Each message fails on its first try and is accepted on the next: the receiver counts acceptances by webhook-id.
    const tries = new Map<string, number>();
    const accepted = new Map<string, number>();
    hook.receiver.respondWith((r) => {
      const id = String(r.headers['webhook-id']);
      tries.set(id, (tries.get(id) ?? 0) + 1);
      if (tries.get(id) === 1) return { status: 503 };
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
      return { status: 200 };
    });
    const tasks = await s.produceTasks(hook.id, 20);
    await waitFor('all 20 accepted', () => accepted.size === 20, 30_000);
    expect([...accepted.keys()].sort()).toEqual(tasks.map((t) => t.taskId).sort());
    expect([...accepted.values()]).toEqual(Array(20).fill(1));
    expect(dlqFor(hook.id)).toHaveLength(0);
  });

  it('honours Retry-After on 429', async () => {
    const hopsSoFar = async (): Promise<number> => (await retryHops.get()).values.reduce((sum, v) => sum + v.value, 0);
    const hopsBefore = await hopsSoFar();
    const hook = await s.addWebhook();
    hook.receiver.respondWith((r) => (hook.receiver.requests.indexOf(r) === 0 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 204 }));
    await s.produceTasks(hook.id, 1);
    await waitFor('the retry', () => hook.receiver.requests[1], 15_000);
    const [first, second] = hook.receiver.requests;
    // The schedule alone would retry after 200 ms (up to about a second later: the tier's fetch waits up to
    // CONSUMER_MAX_WAIT_MS); the endpoint asked for three, past the longest tier (600 ms): the task hopped through
    // that tier, unsent, until then.
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(2950);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    // Hops are no attempts: the log holds the 429 and the delivery, the second as attempt 2.
    const logged = await waitFor('both attempts logged', async () => {
      const rows = await attempts(hook.id);
      return rows.length >= 2 ? rows : undefined;
    }, 15_000);
    expect(logged.map((row) => [row['attempt'], row['outcome']]).sort()).toEqual([[1, 'retry'], [2, 'delivered']]);
    expect(hook.receiver.requests).toHaveLength(2);
    // At least one hop (600 ms each at most, for 3 s), counted apart from retries.
    expect(await hopsSoFar()).toBeGreaterThan(hopsBefore);
  });

  it('disables the webhook on 410 Gone, with the reason, tells subscribed webhooks (no admin API running), and sends it nothing more', async () => {
    const watcher = await s.addWebhook({ eventTypes: ['WEBHOOK_UPDATED'] });
    const hook = await s.addWebhook();
    hook.receiver.respondWith(() => ({ status: 410 }));
    await s.produceTasks(hook.id, 1);
    await waitFor('the dead letter', () => dlqFor(hook.id)[0]);
    expect(header(dlqFor(hook.id)[0]!, 'dlq.error.code')).toBe('ENDPOINT_GONE');
    const { rows } = await s.pool.query('SELECT status, status_reason FROM webhooks WHERE id = $1', [hook.id]);
    expect(rows[0].status).toBe('inactive');
    expect(rows[0].status_reason).toMatch(/410 Gone/);
    // The deliverer relays the change it made itself: its owner hears of it without an admin API.
    const told = await waitFor('the watcher told of the disabling', () =>
      watcher.receiver.requests.map((r) => JSON.parse(r.body)).find((body) => body.payload?.resourceId === hook.id), 15_000);
    expect(told).toMatchObject({ type: 'WEBHOOK_UPDATED', payload: { changed: ['status'], enabled: false, statusReason: rows[0].status_reason } });
    await s.produceTasks(hook.id, 1);
    await waitFor('the skipped attempt in the log', async () => (await attempts(hook.id)).some((a) => a['outcome'] === 'skipped'), 15_000);
    expect(hook.receiver.requests).toHaveLength(1);
  });

  it('sends the task to the webhook\'s new URL when the URL it left answers 410 Gone meanwhile, and keeps the webhook active', async () => {
    const hook = await s.addWebhook();
    const movedTo = await startReceiver();
    try {
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      hook.receiver.respondWith(async () => (await answered, { status: 410 }));
      const [task] = await s.produceTasks(hook.id, 1);
      await waitFor('the request out to the old URL', () => hook.receiver.requests.length === 1);
      await s.pool.query('UPDATE webhooks SET url = $2 WHERE id = $1', [hook.id, movedTo.url]);
      answer();
      await waitFor('the task at the new URL', () => movedTo.requests.length === 1);
      expect(movedTo.requests[0]!.headers['webhook-id']).toBe(task!.taskId);
      const { rows } = await s.pool.query('SELECT status FROM webhooks WHERE id = $1', [hook.id]);
      expect(rows[0].status).toBe('active');
      const logged = await waitFor('both attempts in the log', async () => ((await attempts(hook.id)).length === 2 ? attempts(hook.id) : undefined), 15_000);
      expect(logged.map((a) => [a['attempt'], a['outcome'], a['status']])).toEqual([[1, 'retry', 410], [2, 'delivered', 204]]);
      expect(dlqFor(hook.id)).toHaveLength(0);
    } finally {
      await movedTo.close();
    }
  });

  it('dead-letters a record on the deliveries topic that is not a task, with the reason, even after Kafka first refuses the dead letter; its webhook\'s tasks around it go out in order', async () => {
    const hook = await s.addWebhook();
    const admin = s.kafka.admin();
    await admin.connect();
    const committedOffset = async (partition: number): Promise<bigint> => {
      const [offsets] = await admin.fetchOffsets({ groupId: s.config.deliverer.groupId, topics: [s.config.topics.deliveries] });
      return BigInt(offsets!.partitions.find((p) => p.partition === partition)!.offset);
    };
    const dlqRecordLimit = (bytes: string) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: s.config.topics.deliveriesDlq, configEntries: [{ name: 'max.message.bytes', value: bytes }] }] });
    try {
      // Kafka refuses every dead letter for now (MESSAGE_TOO_LARGE, which kafkajs does not retry).
      await dlqRecordLimit('64');
      await s.produceTasks(hook.id, 3);
      const producer = createProducer(s.kafka);
      await producer.connect();
      const [written] = await producer.send({ topic: s.config.topics.deliveries, messages: [{ key: hook.id, value: 'not a task {' }] });
      await producer.disconnect();
      const later = await s.produceTasks(hook.id, 3);
      const malformedAt = BigInt(written!.baseOffset!);
      // The tasks before it are done and committed; the malformed record, refused a dead letter, holds the offset.
      await waitFor('the tasks before it committed', async () => (await committedOffset(written!.partition)) === malformedAt);
      expect(seqs(hook.receiver)).toEqual([0, 1, 2]);
      expect(dlqFor(hook.id)).toHaveLength(0);

      await dlqRecordLimit(String(topicMessageLimits(s.config).downstream));
      await waitFor('the tasks after it delivered', () => hook.receiver.requests.length >= 6, 30_000);
      expect(seqs(hook.receiver)).toEqual([0, 1, 2, 0, 1, 2]);
      expect(hook.receiver.requests.at(-1)!.headers['webhook-id']).toBe(later.at(-1)!.taskId);
      const letter = await waitFor('the dead letter', () => dlqFor(hook.id)[0]);
      expect(dlqFor(hook.id)).toHaveLength(1);
      expect(letter.value?.toString()).toBe('not a task {');
      expect(header(letter, 'dlq.error.code')).toBe('TASK_MALFORMED');
      expect(header(letter, 'dlq.error.message')).toContain('not JSON');
      // The committed offset moves past it: a restart does not meet it again.
      await waitFor('the offset committed past the malformed record', async () => (await committedOffset(written!.partition)) > malformedAt);
    } finally {
      await dlqRecordLimit(String(topicMessageLimits(s.config).downstream));
      await admin.disconnect();
    }
  });

  it('writes a decided retry again until Kafka takes it, without sending the endpoint the task again meanwhile', async () => {
    const hook = await s.addWebhook();
    hook.receiver.respondWith((r) => (hook.receiver.requests.indexOf(r) === 0 ? { status: 503 } : { status: 200 }));
    const tier = retryTopics(s.config)[0]!;
    const admin = s.kafka.admin();
    await admin.connect();
    const recordLimit = (bytes: string) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: tier, configEntries: [{ name: 'max.message.bytes', value: bytes }] }] });
    const retryWriteFailures = async () => (await outcomeWriteFailures.get()).values.find((v) => v.labels['step'] === 'retry')?.value ?? 0;
    const failedBefore = await retryWriteFailures();
    try {
      // The tier refuses every task for now (MESSAGE_TOO_LARGE, which kafkajs does not retry).
      await recordLimit('64');
      const [task] = await s.produceTasks(hook.id, 1);
      await waitFor('the retry refused twice', async () => (await retryWriteFailures()) - failedBefore >= 2, 30_000);
      // The 503 is the answer: the retry is written again, the request is not sent again.
      expect(hook.receiver.requests).toHaveLength(1);
      await recordLimit(String(topicMessageLimits(s.config).downstream));
      await waitFor('the retry delivered', () => hook.receiver.requests.length >= 2, 30_000);
      expect(hook.receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([task!.taskId, task!.taskId]);
      await waitFor('both attempts logged', async () => (await attempts(hook.id)).length >= 2, 30_000);
      expect((await attempts(hook.id)).map((row) => [row['attempt'], row['outcome']])).toEqual([[1, 'retry'], [2, 'delivered']]);
    } finally {
      await recordLimit(String(topicMessageLimits(s.config).downstream));
      await admin.disconnect();
    }
  });

  it('a slow endpoint in a retry tier holds up only its own webhook, not the tasks behind it in the partition', async () => {
    const slow = await s.addWebhook();
    const fast = await s.addWebhook();
    // The slow endpoint answers only once the fast one has been sent its retry (or the deliverer's 1 s timeout ends it).
    let fastReached!: () => void;
    const fastSent = new Promise<void>((resolve) => (fastReached = resolve));
    let slowRequestsWhenFastSent = -1;
    slow.receiver.respondWith(async () => {
      await fastSent;
      return { status: 200 };
    });
    fast.receiver.respondWith(() => {
      slowRequestsWhenFastSent = slow.receiver.requests.length;
      fastReached();
      return { status: 200 };
    });
    const retryOf = (webhookId: string, seq: number): DeliveryTask => {
      const eventId = randomUUID();
      return {
        v: 1, taskId: taskIdFor(eventId, webhookId), webhookId, organization: s.organization, attempt: 2, routedAt: Date.now(),
        event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: s.organization, actor: null, source: 'test', payload: { seq } },
      };
    };
    const producer = createProducer(s.kafka);
    await producer.connect();
    // Three of the slow webhook's retries, then the fast one's, due now, in one partition of the tier.
    const due = { 'retry.due-at': String(Date.now()) };
    await producer.send({
      topic: retryTopics(s.config)[0]!,
      messages: [...[0, 1, 2].map((seq) => retryOf(slow.id, seq)), retryOf(fast.id, 0)].map((task) => ({ key: task.webhookId, value: encodeTask(task), partition: 0, headers: due })),
    });
    await producer.disconnect();
    await waitFor('the fast webhook sent its retry', () => fast.receiver.requests.length >= 1, 30_000);
    // Sent alongside the slow webhook's first request (which may reach its receiver first or not), never after it:
    // handled inline, the tier sent it only after each slow request had timed out (five requests by then).
    expect(slowRequestsWhenFastSent).toBeLessThanOrEqual(1);
    await waitFor('the slow webhook\'s retries delivered', () => slow.receiver.requests.length >= 3, 30_000);
    expect(seqs(slow.receiver)).toEqual([0, 1, 2]);
  });

  it('dead-letters a record in a retry tier that is not a task, and the tier goes on with the task after it', async () => {
    const hook = await s.addWebhook();
    const eventId = randomUUID();
    const task: DeliveryTask = {
      v: 1, taskId: taskIdFor(eventId, hook.id), webhookId: hook.id, organization: s.organization, attempt: 2, routedAt: Date.now(),
      event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: s.organization, actor: null, source: 'test', payload: { seq: 7 } },
    };
    const producer = createProducer(s.kafka);
    await producer.connect();
    await producer.send({
      topic: retryTopics(s.config)[0]!,
      messages: [
        { key: hook.id, value: '{"v":1}', headers: { 'retry.due-at': '0' } },
        { key: hook.id, value: encodeTask(task), headers: { 'retry.due-at': String(Date.now()) } },
      ],
    });
    await producer.disconnect();
    await waitFor('the task after it delivered', () => hook.receiver.requests.length >= 1);
    expect(hook.receiver.requests[0]!.headers['webhook-id']).toBe(task.taskId);
    const letter = await waitFor('the dead letter', () => dlqFor(hook.id)[0]);
    expect(letter.value?.toString()).toBe('{"v":1}');
    expect(header(letter, 'dlq.error.code')).toBe('TASK_MALFORMED');
  });

  it('writes the delivery log around what it cannot write, and dead-letters that with the reason: a record Postgres refuses, a message that is not attempt records', async () => {
    const hook = await s.addWebhook();
    const attemptsDlq = await readTopic(s.kafka, s.config.topics.attemptsDlq);
    try {
      const [first, second, third] = await s.produceTasks(hook.id, 3);
      const producer = createProducer(s.kafka);
      await producer.connect();
      const record = (task: DeliveryTask, webhookId = task.webhookId) => attemptRecord({ task: { ...task, webhookId }, outcome: 'skipped', reason: 'written by the test', now: Date.now() });
      // One pack with a good record and one whose webhook id is no UUID (Postgres refuses its row), a message that
      // is no JSON, then another pack.
      const refusedWebhookId = `not-a-uuid-${randomUUID()}`;
      await producer.send({ topic: s.config.topics.attempts, messages: [{ value: JSON.stringify([record(first!), record(second!, refusedWebhookId)]) }] });
      const garbage = `{"not": "attempts" ${randomUUID()}`;
      await producer.send({ topic: s.config.topics.attempts, messages: [{ key: hook.id, value: garbage }] });
      await producer.send({ topic: s.config.topics.attempts, messages: [{ value: JSON.stringify([record(third!)]) }] });
      // Two rows Postgres or this process can never write, each refused on every try before: an attempt id past the
      // primary key's index row size (SQLSTATE 54000), and an event nested deeper than JSON.stringify's stack (parsed
      // fine: V8 parses JSON without recursion). Neither may hold up the rows behind it.
      const longId = { ...record(first!), attemptId: randomBytes(4000).toString('hex') };
      // Two such rows in one pack: the pack goes to the dead-letter topic once.
      const deepRow = (task: DeliveryTask) => JSON.stringify({ ...record(task), event: null }).replace('"event":null', `"event":${'['.repeat(100_000)}${']'.repeat(100_000)}`);
      const deep = `[${deepRow(second!)},${deepRow(third!)}]`;
      const [fourth] = await s.produceTasks(hook.id, 1);
      await producer.send({ topic: s.config.topics.attempts, messages: [{ value: JSON.stringify([longId]) }, { key: 'deep', value: deep }, { value: JSON.stringify([record(fourth!)]) }] });
      await producer.disconnect();
      const logged = async () => (await s.pool.query<{ task_id: string }>(`SELECT task_id FROM delivery_attempts WHERE webhook_id = $1 AND error_message = 'written by the test'`, [hook.id])).rows;
      await waitFor('the good rows in the delivery log', async () => (await logged()).length >= 3, 30_000);
      expect((await logged()).map((row) => row.task_id).sort()).toEqual([first!.taskId, third!.taskId, fourth!.taskId].sort());
      const tooLong = await waitFor('the row with a key past the index dead-lettered', () => attemptsDlq.messages.find((m) => header(m, 'dlq.error.message')?.includes('SQLSTATE 54000')));
      expect(attemptRowsOf(tooLong.value!.toString())[0]).toMatchObject({ attemptId: longId.attemptId });
      const tooDeep = await waitFor('the row too deep to write dead-lettered', () => attemptsDlq.messages.find((m) => m.key?.toString() === 'deep'));
      expect(header(tooDeep, 'dlq.error.code')).toBe('ATTEMPT_ROW_REFUSED');
      expect(header(tooDeep, 'dlq.error.message')).toMatch(/cannot be written as JSON/);
      expect(tooDeep.value!.toString()).toBe(deep);

      // Nothing is lost: the refused row is in the dead-letter topic as a row the sink reads, with Postgres's reason.
      const refused = await waitFor('the refused row dead-lettered', () => attemptsDlq.messages.find((m) => m.key?.toString() === refusedWebhookId));
      expect(header(refused, 'dlq.error.code')).toBe('ATTEMPT_ROW_REFUSED');
      expect(header(refused, 'dlq.error.message')).toMatch(/SQLSTATE 22P02.*uuid/);
      expect(header(refused, 'dlq.source.topic')).toBe(s.config.topics.attempts);
      const [row] = attemptRowsOf(refused.value!.toString());
      expect(row).toMatchObject({ taskId: second!.taskId, webhookId: refusedWebhookId, eventId: second!.event.eventId });
      // So is the message that was not attempt records, byte for byte.
      const malformed = await waitFor('the malformed message dead-lettered', () => attemptsDlq.messages.find((m) => m.value?.toString() === garbage));
      expect(header(malformed, 'dlq.error.code')).toBe('ATTEMPT_MALFORMED');
      expect(malformed.key?.toString()).toBe(hook.id);
      // Each once.
      expect(attemptsDlq.messages.filter((m) => m.key?.toString() === refusedWebhookId || m.value?.toString() === garbage)).toHaveLength(2);
      expect(attemptsDlq.messages.filter((m) => m.key?.toString() === 'deep')).toHaveLength(1);
    } finally {
      await attemptsDlq.close();
    }
  });

  it('dead-letters many large refused rows in requests the broker takes, each once', async () => {
    const hook = await s.addWebhook();
    const attemptsDlq = await readTopic(s.kafka, s.config.topics.attemptsDlq);
    try {
      const tasks = await s.produceTasks(hook.id, 6);
      // One pack of six records whose webhook id is no UUID, each with a 100 KB payload: their rows carry it twice
      // (event and request body), so their dead letters together pass the broker's 1 MiB limit for one request.
      const refusedWebhookId = `not-a-uuid-${randomUUID()}`;
      const records = tasks.map((task) => {
        const big: DeliveryTask = { ...task, webhookId: refusedWebhookId, event: { ...task.event, payload: { blob: 'x'.repeat(100 * 1024) } } };
        return attemptRecord({ task: big, outcome: 'delivered', requestBodyFrame: { head: '{"payload":', tail: '}' }, now: Date.now() });
      });
      const producer = createProducer(s.kafka);
      await producer.connect();
      await producer.send({ topic: s.config.topics.attempts, messages: [{ value: JSON.stringify(records) }] });
      await producer.disconnect();
      const ours = () => attemptsDlq.messages.filter((m) => m.key?.toString() === refusedWebhookId);
      await waitFor('all six dead-lettered', () => ours().length >= 6, 30_000);
      const rows = ours().map((m) => attemptRowsOf(m.value!.toString())[0]!);
      expect(rows.map((row) => row['taskId']).sort()).toEqual(tasks.map((t) => t.taskId).sort());
      expect(rows.every((row) => String(row['requestBody']).length > 100 * 1024)).toBe(true);
      expect(ours().every((m) => header(m, 'dlq.error.code') === 'ATTEMPT_ROW_REFUSED')).toBe(true);
    } finally {
      await attemptsDlq.close();
    }
  });

  it('takes a task at the deliveries topic\'s size limit through a retry tier and into the delivery log', async () => {
    const hook = await s.addWebhook();
    hook.receiver.respondWith((r) => (hook.receiver.requests.indexOf(r) === 0 ? { status: 503 } : { status: 204 }));
    // A task the deliveries topic just takes. Its retry (the task plus headers) and its attempt record (the event
    // plus the request frame, headers and response) are larger: topics sized like the deliveries topic refuse them
    // on every try, and the retry write, the attempt log and the partition's commits wait forever.
    const limit = topicMessageLimits(s.config).deliveries;
    const eventId = randomUUID();
    const unpadded = encodeTask({
      v: 1, taskId: taskIdFor(eventId, hook.id), webhookId: hook.id, organization: s.organization, attempt: 1, routedAt: Date.now(),
      event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: s.organization, actor: null, source: 'test', payload: { userId: 'u-0', seq: 0, padding: '' } },
    });
    const padding = limit - RECORD_OVERHEAD_BYTES - hook.id.length - unpadded.length;
    const [task] = await s.produceTasks(hook.id, 1, 'USER_CREATED', { padding: 'x'.repeat(padding) });
    expect(encodeTask(task!).length).toBeGreaterThan(limit - 200);
    await waitFor('the retry delivered', () => hook.receiver.requests[1], 30_000);
    expect(hook.receiver.requests[1]!.headers['webhook-id']).toBe(task!.taskId);
    await waitFor('both attempts in the delivery log', async () => (await attempts(hook.id)).length === 2, 30_000);
    expect((await attempts(hook.id)).map((a) => [a['attempt'], a['outcome']])).toEqual([[1, 'retry'], [2, 'delivered']]);
  });

  it('logs an attempt whose answer and event hold NUL characters (which Postgres refuses in text), with U+FFFD in their place', async () => {
    const hook = await s.addWebhook();
    hook.receiver.respondWith(() => ({ status: 200, body: 'ok\u0000done' }));
    const [task] = await s.produceTasks(hook.id, 1, 'USER_CREATED', { note: 'a\u0000b' });
    const [logged] = await waitFor('the attempt row', async () => (await attempts(hook.id))[0] && (await attempts(hook.id)), 15_000);
    expect(logged).toMatchObject({ outcome: 'delivered', task_id: task!.taskId, response_body: 'ok\uFFFDdone' });
    expect((logged!['event'] as { payload: { note: string } }).payload.note).toBe('a\uFFFDb');
    // The request body is JSON text: its NUL was sent as an escape, six characters, and is kept as sent.
    expect(logged!['request_body']).toBe(hook.receiver.requests[0]!.body);
    expect(logged!['request_body']).toContain('"note":"a\\u0000b"');
  });

  it('dead-letters unsent a task naming another organization\'s webhook: the webhook\'s secret never signs it', async () => {
    const hook = await s.addWebhook();
    const eventId = randomUUID();
    const forged: DeliveryTask = {
      v: 1, taskId: taskIdFor(eventId, hook.id), webhookId: hook.id, organization: 'someone-else', attempt: 1, routedAt: Date.now(),
      event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: 'someone-else', actor: null, source: 'test', payload: { seq: 0 } },
    };
    const producer = createProducer(s.kafka);
    await producer.connect();
    await producer.send({ topic: s.config.topics.deliveries, messages: [{ key: hook.id, value: encodeTask(forged) }] });
    await producer.disconnect();
    const [after] = await s.produceTasks(hook.id, 1);
    // The webhook's own task behind it goes out; the forged one never does.
    await waitFor('the webhook\'s own task delivered', () => hook.receiver.requests.length >= 1);
    const letter = await waitFor('the dead letter', () => dlqFor(hook.id)[0]);
    expect(header(letter, 'dlq.error.code')).toBe('ORGANIZATION_MISMATCH');
    expect(decodeTask(letter.value).taskId).toBe(forged.taskId);
    expect(hook.receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([after!.taskId]);
  });

  it('dead-letters a 400 after one attempt and logs the attempt without secrets, even those the answer echoes', async () => {
    const hook = await s.addWebhook({ apiKey: { header: 'X-Api-Key', value: 'key-123' } });
    // A request bin's answer: the request's headers back.
    hook.receiver.respondWith((r) => ({ status: 400, body: `bad payload; x-api-key=${String(r.headers['x-api-key'])} webhook-signature=${String(r.headers['webhook-signature'])}` }));
    const [task] = await s.produceTasks(hook.id, 1);
    await waitFor('the dead letter', () => dlqFor(hook.id)[0]);
    expect(hook.receiver.requests).toHaveLength(1);
    expect(hook.receiver.requests[0]!.headers['x-api-key']).toBe('key-123');
    const letter = dlqFor(hook.id)[0]!;
    expect(header(letter, 'dlq.error.code')).toBe('NON_RETRYABLE_STATUS');
    expect(decodeTask(letter.value).taskId).toBe(task!.taskId);
    const [logged] = await waitFor('the attempt row', async () => (await attempts(hook.id))[0] && (await attempts(hook.id)), 15_000);
    expect(logged).toMatchObject({ outcome: 'dead_letter', status: 400, response_body: 'bad payload; x-api-key=[redacted] webhook-signature=v1,[redacted]', attempt: 1, task_id: task!.taskId });
    // The log's request body is the one sent, byte for byte (the attempt record carries it as a frame around the event's payload).
    expect(logged!['request_body']).toBe(hook.receiver.requests[0]!.body);
    expect(logged).toMatchObject({ event_id: task!.event.eventId, event_type: task!.event.eventType, event: task!.event });
    const headers = logged!['request_headers'] as Record<string, string>;
    expect(headers['webhook-id']).toBe(task!.taskId);
    expect(headers).not.toHaveProperty('webhook-signature');
    expect(headers).not.toHaveProperty('x-api-key');
  });

  it('retries a request that timed out', async () => {
    const hook = await s.addWebhook();
    hook.receiver.respondWith(async (r) => {
      if (hook.receiver.requests.indexOf(r) === 0) await pause(2500);
      return { status: 204 };
    });
    await s.produceTasks(hook.id, 1);
    await waitFor('the second attempt', () => hook.receiver.requests[1], 15_000);
    const rows = await waitFor('two attempt rows', async () => ((await attempts(hook.id)).length >= 2 ? attempts(hook.id) : undefined), 15_000);
    expect(rows.map((r) => [r['attempt'], r['outcome'], r['error_code']])).toEqual([[1, 'retry', 'TIMEOUT'], [2, 'delivered', null]]);
  });

  it('refuses addresses the SSRF guard does not allow, without retrying', async () => {
    const hook = await s.addWebhook({ url: 'http://127.0.0.2:9/hook' });
    await s.produceTasks(hook.id, 1);
    await waitFor('the dead letter', () => dlqFor(hook.id)[0]);
    expect(header(dlqFor(hook.id)[0]!, 'dlq.error.code')).toBe('SSRF_BLOCKED');
  });

  it('relaxed ordering lets later events pass a failing one; strict ordering holds them until it succeeds', async () => {
    const failSeq1Twice = (receiver: { requests: Array<{ body: string }> }) => (request: { body: string }) => {
      const seq = (JSON.parse(request.body) as { payload: { seq: number } }).payload.seq;
      const tries = receiver.requests.filter((r) => (JSON.parse(r.body) as { payload: { seq: number } }).payload.seq === 1).length;
      return { status: seq === 1 && tries <= 2 ? 503 : 204 };
    };
    const relaxed = await s.addWebhook();
    const strict = await s.addWebhook({ ordering: 'strict' });
    relaxed.receiver.respondWith(failSeq1Twice(relaxed.receiver));
    strict.receiver.respondWith(failSeq1Twice(strict.receiver));
    await s.produceTasks(relaxed.id, 5);
    await s.produceTasks(strict.id, 5);
    await waitFor('7 requests each', () => relaxed.receiver.requests.length >= 7 && strict.receiver.requests.length >= 7, 20_000);
    expect(seqs(strict.receiver)).toEqual([0, 1, 1, 1, 2, 3, 4]);
    expect(seqs(relaxed.receiver).slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(seqs(relaxed.receiver).slice(5)).toEqual([1, 1]);
  });
});

/**
 * What waits for one webhook does not hold the slots every webhook shares: with one slot, other webhooks still go
 * out while a strict webhook waits out its retry in place, or while an endpoint takes long to answer.
 */
describe('delivery slots, strict retries in place and slow endpoints', () => {
  let s: DeliveryScenario;

  beforeAll(async () => {
    // One slot for every webhook, and a first retry 60 s away: a waiting strict task that held the slot would
    // stop this deliverer for a minute. A request unanswered after 300 ms gives its slot up.
    s = await deliveryScenario(inject('services'), { DELIVERER_MAX_IN_FLIGHT: '1', DELIVERER_SEND_AHEAD: '0', DELIVERER_RETRY_DELAYS_MS: '60000', DELIVERER_SLOW_REQUEST_MS: '300' });
    await s.startDeliverer();
  });

  afterAll(async () => {
    await s?.close();
  });

  it('a strict webhook waiting out its retry holds its own queue, not the slot other webhooks need; only its tasks count as owed', async () => {
    const strict = await s.addWebhook({ ordering: 'strict' });
    strict.receiver.respondWith(() => ({ status: 503 }));
    const [held] = await s.produceTasks(strict.id, 2);
    await waitFor('the strict webhook\'s first attempt', () => strict.receiver.requests.length >= 1);
    // Another webhook on the same partition, so its tasks sit above the offset the strict one holds back.
    const partition = s.positionOf(held!.taskId)!.partition;
    const partitionOf = Partitioners.DefaultPartitioner();
    const partitions = Array.from({ length: s.config.topics.deliveriesPartitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    let healthy = await s.addWebhook();
    for (let tries = 0; partitionOf({ topic: s.config.topics.deliveries, partitionMetadata: partitions, message: { key: healthy.id, value: null } }) !== partition; tries += 1) {
      expect(tries, 'a webhook id on the strict webhook\'s partition').toBeLessThan(100);
      healthy = await s.addWebhook();
    }
    const healthyTasks = await s.produceTasks(healthy.id, 3);
    expect(s.positionOf(healthyTasks[0]!.taskId)!.partition).toBe(partition);
    await waitFor('the other webhook\'s tasks delivered', () => healthy.receiver.requests.length >= 3, 15_000);
    expect(seqs(healthy.receiver)).toEqual([0, 1, 2]);
    // The strict webhook's second task still waits behind its failing first.
    expect(seqs(strict.receiver)).toEqual([0]);
    // The committed lag holds the delivered tasks above the held offset; what the lag alert reads does not.
    const gauge = async (metric: typeof consumerLag) =>
      (await metric.get()).values.find((v) => v.labels['group'] === s.config.deliverer.groupId && v.labels['partition'] === String(partition))?.value;
    await waitFor('the strict webhook\'s two tasks owed, five lagging', async () => (await gauge(consumerUnfinished)) === 2 && (await gauge(consumerLag)) === 5, 20_000);
  });

  it('an endpoint slow to answer holds its own webhook, not the slot other webhooks need, and still gets its tasks once each, in order', async () => {
    const slow = await s.addWebhook();
    let slowAnswers = 0;
    // It answers once the test says so (well within the request timeout), not after a fixed time a loaded machine outruns.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    slow.receiver.respondWith(async () => {
      await released;
      slowAnswers += 1;
      return { status: 204 };
    });
    await s.produceTasks(slow.id, 2);
    await waitFor('the slow endpoint\'s first request', () => slow.receiver.requests.length >= 1);
    const healthy = await s.addWebhook();
    await s.produceTasks(healthy.id, 3);
    await waitFor('the other webhook\'s tasks delivered', () => healthy.receiver.requests.length >= 3, 15_000);
    // All three went out while the only slot's first owner was still waiting for its answer.
    expect(slowAnswers).toBe(0);
    expect(seqs(healthy.receiver)).toEqual([0, 1, 2]);
    expect(seqs(slow.receiver)).toEqual([0]);
    release();
    await waitFor('the slow webhook\'s second task', () => slowAnswers >= 2, 20_000);
    expect(seqs(slow.receiver)).toEqual([0, 1]);
  });
});
