import { EventEmitter } from 'node:events';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createDeliverer } from '../../connector/delivery/deliverer.js';
import type { TaskHandler } from '../../connector/delivery/task-handler.js';
import { encodeTask } from '../../connector/delivery/task.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { waitFor } from '../support/wait.js';

/** Webhook ids are UUIDs: a task naming anything else is dead-lettered unread. */
const WEBHOOK_A = '00000000-0000-4000-8000-00000000000a';
const WEBHOOK_B = '00000000-0000-4000-8000-00000000000b';

/**
 * The deliverer's bookkeeping when it leaves a batch untaken: kafkajs hands
 * over a batch fetched before a seek (`isStale`), and reports every batch
 * processed afterwards (END_BATCH_PROCESS). A real broker gives that order
 * only by chance (a fetch of several partitions, one sought while another's
 * batch is handled), so the consumer here is scripted: kafkajs's calls and
 * events, in that order. Everything else is the deliverer's own code.
 */
function scriptedConsumer() {
  const events = { GROUP_JOIN: 'consumer.group_join', END_BATCH_PROCESS: 'consumer.end_batch_process', REQUEST: 'consumer.network.request' };
  const emitter = new EventEmitter();
  const commits: string[] = [];
  let eachBatch: ((payload: unknown) => Promise<void>) | null = null;
  const seeks: string[] = [];
  /** Partitions paused and resumed, in order: `pause:0`, `resume:0`. */
  const pausing: string[] = [];
  const consumer = {
    events,
    on: (event: string, listener: (...args: unknown[]) => void) => emitter.on(event, listener),
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async (options: { eachBatch: (payload: unknown) => Promise<void> }) => void (eachBatch = options.eachBatch),
    seek: ({ offset }: { offset: string }) => void seeks.push(offset),
    pause: () => undefined,
    resume: (topics: Array<{ partitions?: number[] }>) => void pausing.push(...topics.flatMap((t) => (t.partitions ?? []).map((p) => `resume:${p}`))),
    commitOffsets: async (offsets: Array<{ offset: string }>) => void commits.push(...offsets.map((o) => o.offset)),
    disconnect: async () => undefined,
  };
  /** The group's committed offset of partition 0 as the admin reads it; a test may answer late, or fail. */
  let committed = async (): Promise<string> => '-1';
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    fetchOffsets: async () => [{ topic: 'tasks', partitions: [{ partition: 0, offset: await committed(), metadata: null }] }],
    fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '100' }],
  };
  const kafka = { consumer: () => consumer, admin: () => admin } as unknown as Kafka;
  return {
    kafka,
    answerCommitted: (read: () => Promise<string>) => void (committed = read),
    commits,
    seeks,
    pausing,
    assign: () => emitter.emit(events.GROUP_JOIN, { payload: { memberAssignment: { tasks: [0] } } }),
    revoke: () => emitter.emit(events.GROUP_JOIN, { payload: { memberAssignment: {} } }),
    /** A batch of only commit markers or aborted records: kafkajs reports it processed without handing it over. */
    markersOnly: (from: number, to: number) =>
      emitter.emit(events.END_BATCH_PROCESS, { payload: { topic: 'tasks', partition: 0, firstOffset: String(from), lastOffset: String(to) } }),
    /** Hands over offsets `from`..`to` (webhook a or b by parity, or `webhook`), then reports the batch processed, as kafkajs does. */
    async batch(from: number, to: number, stale = false, webhook?: string, dueAt?: number): Promise<void> {
      const messages = [];
      for (let offset = from; offset <= to; offset++) {
        const webhookId = webhook ?? (offset % 2 ? WEBHOOK_A : WEBHOOK_B);
        const task = { v: 1 as const, taskId: `t${offset}`, webhookId, organization: 'o', attempt: 1, routedAt: 0, event: { eventId: `e${offset}`, eventType: 'USER_CREATED', family: 'user', occurredAt: 0, organization: 'o', actor: null, source: 's', payload: {} } };
        messages.push({ offset: String(offset), key: Buffer.from(webhookId), value: encodeTask(task), headers: dueAt === undefined ? {} : { due: String(dueAt) } });
      }
      await eachBatch!({ batch: { topic: 'tasks', partition: 0, messages }, heartbeat: async () => undefined, resolveOffset: () => undefined, pause: () => (pausing.push('pause:0'), () => void pausing.push('resume:0')), isStale: () => stale });
      emitter.emit(events.END_BATCH_PROCESS, { payload: { topic: 'tasks', partition: 0, firstOffset: String(from), lastOffset: String(to) } });
    },
  };
}

/**
 * A deliverer whose partition it moved the read position of (a seek back to tasks left in Kafka) is taken away
 * before kafkajs applied the seek: kafkajs keeps it for when the partition comes back.
 */
async function soughtThenTakenAway(scripted: ReturnType<typeof scriptedConsumer>) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const handle: TaskHandler = async (task) => {
    if (task.taskId === 't0') await held;
    return { logged: Promise.resolve() };
  };
  const deliverer = await startedDeliverer(scripted, handle, 1);
  scripted.assign();
  await scripted.batch(0, 3, false, WEBHOOK_A);
  release();
  await waitFor('the seek back to the deferred tasks', () => scripted.seeks.length > 0, 5000);
  scripted.revoke();
  return deliverer;
}

/** A started deliverer of the scripted consumer's topic, with one webhook's queue at most `maxQueuedPerWebhook`. */
async function startedDeliverer(scripted: ReturnType<typeof scriptedConsumer>, handle: TaskHandler, maxQueuedPerWebhook: number, tier = false) {
  const deliverer = createDeliverer({
    // A retry tier's: a task is due at the time in its `due` header.
    ...(tier ? { dueAt: (message: KafkaMessage) => Number(message.headers?.['due']?.toString()) } : {}),
    kafka: scripted.kafka, handle, producer: {} as never, dlqTopic: 'dlq', groupId: 'g', sessionTimeoutMs: 1000, topic: 'tasks',
    maxInFlight: 10, maxBuffered: 100, maxQueuedPerWebhook, maxDeferred: 1000, drainTimeoutMs: 500, onFatal: () => undefined,
    log: createRootLogger({ level: 'silent' }),
  });
  await deliverer.start();
  return deliverer;
}

describe('a batch the deliverer leaves untaken', () => {
  it('(fetched before a seek) is neither sent nor counted as seen: read again, every task of it is sent, then committed', async () => {
    const scripted = scriptedConsumer();
    const sent: string[] = [];
    const handle: TaskHandler = async (task) => (sent.push(task.taskId), { logged: Promise.resolve() });
    const deliverer = await startedDeliverer(scripted, handle, 100);
    scripted.assign();
    await scripted.batch(0, 1);
    await scripted.batch(2, 5, true);
    expect(sent).toEqual(['t0', 't1']);
    await scripted.batch(2, 5);
    await waitFor('the six tasks sent', () => sent.length >= 6, 5000);
    await deliverer.stop();
    expect(sent).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
    expect(scripted.commits.at(-1)).toBe('6');
  });

  it('(a partition given back, before it is put at its committed offset) is not committed past, even when kafkajs reports only markers', async () => {
    const scripted = scriptedConsumer();
    const sent: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // One webhook with a queue of one: t0 runs until released, t1..t3 are left in Kafka, to be read again (a seek).
    const handle: TaskHandler = async (task) => {
      sent.push(task.taskId);
      if (task.taskId === 't0') await held;
      return { logged: Promise.resolve() };
    };
    const deliverer = await startedDeliverer(scripted, handle, 1);
    scripted.assign();
    await scripted.batch(0, 3, false, WEBHOOK_A);
    release();
    await waitFor('the seek back to the deferred tasks', () => scripted.seeks.length > 0, 5000);
    // Taken away and given back; kafkajs applies the kept seek, and its first fetch there holds only markers.
    scripted.revoke();
    scripted.assign();
    scripted.markersOnly(4, 5);
    await scripted.batch(6, 7, false, WEBHOOK_A);
    // Put at the committed offset, it is read again from there; then from wherever it seeks, as kafkajs would.
    const rest = ['t1', 't2', 't3', 't4', 't5', 't6', 't7'];
    let from = Number(scripted.seeks.at(-1));
    for (let read = 0; read < 20 && !rest.every((id) => sent.includes(id)); read++) {
      const seen = scripted.seeks.length;
      await scripted.batch(from, 7, false, WEBHOOK_A);
      await waitFor('a seek back, or every task sent', () => scripted.seeks.length > seen || rest.every((id) => sent.includes(id)), 2000);
      from = Number(scripted.seeks.at(-1));
    }
    expect(rest.filter((id) => !sent.includes(id))).toEqual([]);
    await waitFor('the commit past every task', () => scripted.commits.at(-1) === '8', 2000);
    await deliverer.stop();
  });

  it('(a partition given back with a seek kafkajs kept from before) is put at its committed offset at once, not at a batch that may never come', async () => {
    const scripted = scriptedConsumer();
    const deliverer = await soughtThenTakenAway(scripted);
    const seeksBefore = scripted.seeks.length;
    // Given back; kafkajs would apply the kept seek, and a quiet partition has no batch to hand over.
    scripted.assign();
    // No committed offset yet: the group's position is the log's start.
    await waitFor('the partition placed at its committed offset', () => scripted.seeks.length > seeksBefore, 2000);
    expect(scripted.seeks.at(-1)).toBe('0');
    await deliverer.stop();
  });

  it('(a partition given back) is placed by the answer of its own rejoin only: a late one of an earlier rejoin moves nothing', async () => {
    const scripted = scriptedConsumer();
    const deliverer = await soughtThenTakenAway(scripted);
    // Given back: its committed offset is read late, and meanwhile it is taken away and given back once more.
    let answerLate: ((offset: string) => void) | undefined;
    scripted.answerCommitted(() => new Promise<string>((resolve) => (answerLate = resolve)));
    scripted.assign();
    await waitFor('the first rejoin\'s read under way', () => answerLate !== undefined, 2000);
    scripted.revoke();
    scripted.answerCommitted(async () => '5');
    const seeksBefore = scripted.seeks.length;
    scripted.assign();
    await waitFor('placed by the last rejoin', () => scripted.seeks.length > seeksBefore, 2000);
    expect(scripted.seeks.at(-1)).toBe('5');
    // The first rejoin's answer (an earlier owner's offset) comes now, and is not applied.
    answerLate!('1');
    const placed = scripted.seeks.length;
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.resolve();
    expect(scripted.seeks.slice(placed)).toEqual([]);
    await deliverer.stop();
  });

  it('(a partition given back whose committed offset could not be read) is placed once it can be, without waiting for a batch', async () => {
    const scripted = scriptedConsumer();
    const deliverer = await soughtThenTakenAway(scripted);
    let failures = 0;
    scripted.answerCommitted(async () => {
      if (failures++ === 0) throw new Error('coordinator moving');
      return '3';
    });
    const seeksBefore = scripted.seeks.length;
    scripted.assign();
    await waitFor('placed after the failed read', () => scripted.seeks.length > seeksBefore, 5000);
    expect(scripted.seeks.at(-1)).toBe('3');
    expect(failures).toBe(2);
    await deliverer.stop();
  });

  it('(a retry tier\'s, paused until its head is due, then taken away) is resumed as it goes: kafkajs keeps the pause for when it comes back', async () => {
    const scripted = scriptedConsumer();
    const sent: string[] = [];
    const handle: TaskHandler = async (task) => (sent.push(task.taskId), { logged: Promise.resolve() });
    const deliverer = await startedDeliverer(scripted, handle, 100, true);
    scripted.assign();
    // Due in an hour: the partition is paused until then.
    await scripted.batch(0, 0, false, WEBHOOK_A, Date.now() + 3_600_000);
    expect(scripted.pausing).toEqual(['pause:0']);
    scripted.revoke();
    expect(scripted.pausing).toEqual(['pause:0', 'resume:0']);
    // Given back, it reads again at once, and a task due now is sent.
    scripted.assign();
    await scripted.batch(0, 0, false, WEBHOOK_A, Date.now() - 1);
    await waitFor('the due task sent', () => sent.length === 1, 5000);
    await deliverer.stop();
    expect(sent).toEqual(['t0']);
  });
});
