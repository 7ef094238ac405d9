import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Offsets, Producer, Transaction } from 'kafkajs';
import { CONSUMER_MAX_WAIT_MS, createProducer } from '../kafka/client.js';
import { classify } from '../errors.js';
import type { EventCatalog } from '../events/catalog.js';
import { encodeTask } from '../delivery/task.js';
import { decodeFailures, recordsConsumed, routingFanout, tasksProduced } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { SubscriptionStore } from '../subscriptions/subscription-store.js';
import { toCanonicalEvent } from './canonical-event.js';
import { ingestDeadLetter } from './dead-letter.js';
import type { AvroDecoder } from './decode.js';
import { planTasks } from './route.js';

/** Source records per transaction: large enough to amortize its round trips, small enough to retry cheaply. */
const MAX_RECORDS_PER_TRANSACTION = 2000;
/** Partition batches handled at once; their slices share transactions. Order within a partition is kept. */
const PARTITIONS_CONSUMED_CONCURRENTLY = 16;
/** Per send request, below the broker's default 1 MiB message.max.bytes with room for headers. */
const MAX_SEND_BYTES = 512 * 1024;

/** Splits messages into runs of at most `maxBytes` of keys and values. */
export function bySize(messages: Message[], maxBytes: number): Message[][] {
  const runs: Message[][] = [];
  let run: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = (message.value?.length ?? 0) + (typeof message.key === 'string' ? message.key.length : (message.key?.length ?? 0)) + 64;
    if (run.length > 0 && bytes + size > maxBytes) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(message);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * transaction.sendOffsets, retried while the broker answers CONCURRENT_TRANSACTIONS. When a group
 * routed to no webhook its transaction starts with AddOffsetsToTxn rather than a send, and kafkajs
 * retries that only for sends: right after a commit it would fail the whole group.
 */
export async function sendOffsetsRetrying(transaction: Pick<Transaction, 'sendOffsets'>, offsets: Offsets & { consumerGroupId: string }, retries = 11): Promise<void> {
  for (let attempt = 0, delayMs = 5; ; attempt++, delayMs *= 2) {
    try {
      return await transaction.sendOffsets(offsets);
    } catch (error) {
      if ((error as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= retries) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

interface PendingSlice {
  topic: string;
  partition: number;
  /** The source offset to commit: one past the slice's last record. */
  nextOffset: string;
  /** Source records in the slice. */
  records: number;
  tasks: Message[];
  deadLetters: Message[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface RouterDeps {
  kafka: Kafka;
  catalog: EventCatalog;
  subscriptions: SubscriptionStore;
  /** Source topic → decoder with that topic's reader schema. */
  decoders: ReadonlyMap<string, AvroDecoder>;
  groupId: string;
  sessionTimeoutMs: number;
  transactionalId: string;
  deliveriesTopic: string;
  ingestDlqTopic: string;
  log: Logger;
}

export interface Router {
  start(): Promise<void>;
  /** Stops fetching, lets the batch in hand finish its transaction, disconnects. */
  stop(): Promise<void>;
}

/**
 * The router: consume source records, decode, match, and publish one task per
 * matching webhook. Tasks, dead letters and the source offsets go in one Kafka
 * transaction, so a crash at any point neither loses nor duplicates tasks.
 */
export function createRouter(deps: RouterDeps): Router {
  const { kafka, log } = deps;
  let consumer: Consumer | null = null;
  let producer: Producer | null = null;

  /** Decode, match and plan one slice of a batch; poison goes to the DLQ list, anything else fails the slice. */
  const routeSlice = async (topic: string, partition: number, messages: KafkaMessage[]): Promise<{ tasks: Message[]; deadLetters: Message[] }> => {
    const decoder = deps.decoders.get(topic);
    if (!decoder) throw new Error(`no decoder for topic ${topic}`);
    const tasks: Message[] = [];
    const deadLetters: Message[] = [];
    const index = deps.subscriptions.current();
    const now = Date.now();
    // Writer schemas first, once for the slice; then every record decodes without waiting.
    await decoder.prepare(messages.map((message) => message.value));
    for (const message of messages) {
      try {
        const event = toCanonicalEvent(decoder.decode(message.value), deps.catalog);
        const planned = planTasks(event, index, now);
        routingFanout.observe(planned.length);
        if (planned.length === 0) continue;
        const eventJson = JSON.stringify(event);
        for (const task of planned) tasks.push({ key: task.webhookId, value: encodeTask(task, eventJson) });
      } catch (error) {
        const failure = classify(error);
        // Only poison is dead-lettered; a transient failure (registry down) fails the slice, which is retried whole.
        if (failure.kind !== 'poison') throw failure;
        decodeFailures.inc({ topic, reason: failure.code });
        log.warn({ topic, partition, offset: message.offset, code: failure.code, reason: failure.message }, 'source record dead-lettered');
        deadLetters.push(ingestDeadLetter({ topic, partition, message }, failure));
      }
    }
    return { tasks, deadLetters };
  };

  /**
   * Group commit. Partitions are consumed concurrently and each slice waits
   * for the transaction that carries it; slices that arrive while one
   * transaction is under way go together in the next. One transaction per
   * round instead of one per partition slice: fewer round trips, and fewer
   * transactions started right after a commit, which the broker answers with
   * CONCURRENT_TRANSACTIONS until its markers are written.
   */
  let queued: PendingSlice[] = [];
  let committing = false;

  /** Tasks, dead letters and the next source offset of every slice in the group, atomically. */
  const commitGroup = async (group: PendingSlice[]): Promise<void> => {
    const offsets = new Map<string, Map<number, string>>();
    const tasks: Message[] = [];
    const deadLetters: Message[] = [];
    for (const slice of group) {
      for (const task of slice.tasks) tasks.push(task);
      for (const deadLetter of slice.deadLetters) deadLetters.push(deadLetter);
      // Slices of a partition arrive in order, so the later one carries the higher offset.
      let partitions = offsets.get(slice.topic);
      if (!partitions) offsets.set(slice.topic, (partitions = new Map()));
      partitions.set(slice.partition, slice.nextOffset);
    }
    const transaction = await producer!.transaction();
    try {
      for (const messages of bySize(tasks, MAX_SEND_BYTES)) await transaction.send({ topic: deps.deliveriesTopic, messages });
      for (const messages of bySize(deadLetters, MAX_SEND_BYTES)) await transaction.send({ topic: deps.ingestDlqTopic, messages });
      await sendOffsetsRetrying(transaction, {
        consumerGroupId: deps.groupId,
        topics: [...offsets].map(([topic, partitions]) => ({ topic, partitions: [...partitions].map(([partition, offset]) => ({ partition, offset })) })),
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch((abortError: unknown) => log.warn({ err: abortError }, 'transaction abort failed'));
      throw error;
    }
  };

  /** Commits queued slices, a bounded group at a time, until none are left; one runs at a time. */
  const drain = async (): Promise<void> => {
    while (queued.length > 0) {
      let records = 0;
      let take = 0;
      while (take < queued.length && (take === 0 || records + queued[take]!.records <= MAX_RECORDS_PER_TRANSACTION)) records += queued[take++]!.records;
      const group = queued.slice(0, take);
      queued = queued.slice(take);
      try {
        await commitGroup(group);
        for (const slice of group) slice.resolve();
      } catch (error) {
        for (const slice of group) slice.reject(error);
      }
    }
    committing = false;
  };

  /** Resolves once the slice's tasks and its partition's next offset are committed; rejects if that transaction failed. */
  const commitSlice = (slice: Omit<PendingSlice, 'resolve' | 'reject'>): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queued.push({ ...slice, resolve, reject });
      // Started on the next turn of the event loop, so the other batches of the same fetch join the first transaction.
      if (!committing) {
        committing = true;
        setImmediate(() => void drain());
      }
    });

  const handleBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    // A fetched batch can hold thousands of records; bounded slices keep each transaction well under broker limits.
    for (let start = 0; start < batch.messages.length; start += MAX_RECORDS_PER_TRANSACTION) {
      if (!isRunning() || isStale()) return;
      const slice = batch.messages.slice(start, start + MAX_RECORDS_PER_TRANSACTION);
      const lastOffset = slice[slice.length - 1]!.offset;
      const { tasks, deadLetters } = await routeSlice(batch.topic, batch.partition, slice);
      await commitSlice({ topic: batch.topic, partition: batch.partition, nextOffset: (BigInt(lastOffset) + 1n).toString(), records: slice.length, tasks, deadLetters });
      recordsConsumed.inc({ topic: batch.topic }, slice.length);
      tasksProduced.inc(tasks.length);
      resolveOffset(lastOffset);
      await heartbeat();
    }
  };

  return {
    async start() {
      producer = createProducer(kafka, {
        transactionalId: deps.transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        // Right after a commit the broker is still writing markers and answers the next transaction with
        // CONCURRENT_TRANSACTIONS; kafkajs's default 300 ms first backoff would add that to every event's latency.
        // Locally the markers take a few ms: a 5 ms first retry (±20 %) mostly succeeds, where 25 ms waited
        // 20-30 ms each time. Doubling from 5 ms, 11 retries still span about 10 s of broker trouble.
        retry: { initialRetryTime: 5, retries: 11 },
      });
      await producer.connect();
      consumer = kafka.consumer({ groupId: deps.groupId, sessionTimeout: deps.sessionTimeoutMs, readUncommitted: false, maxWaitTimeInMs: CONSUMER_MAX_WAIT_MS });
      await consumer.connect();
      await consumer.subscribe({ topics: [...deps.decoders.keys()], fromBeginning: true });
      // Every assigned partition's batch at once, so one fetch's batches share a transaction (see commitSlice).
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: PARTITIONS_CONSUMED_CONCURRENTLY, eachBatch: handleBatch });
      log.info({ topics: [...deps.decoders.keys()], groupId: deps.groupId }, 'router consuming');
    },
    async stop() {
      await consumer?.disconnect();
      await producer?.disconnect();
      consumer = null;
      producer = null;
    },
  };
}
