import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Offsets, Producer, Transaction } from 'kafkajs';
import { createGroupConsumer, createProducer } from '../kafka/client.js';
import { assignedPartitionKeys, partitionKey } from '../kafka/assignment.js';
import { isProducerFenced, needsFreshProducers } from '../kafka/consumer-crash.js';
import { createRestartBudget } from '../kafka/restart-budget.js';
import { classify, poison } from '../errors.js';
import type { EventCatalog } from '../events/catalog.js';
import { encodeTask } from '../delivery/task.js';
import { deadLetters as deadLettersTotal, decodeFailures, recordsConsumed, routerTransactions, routingFanout, tasksProduced } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { SubscriptionStore } from '../subscriptions/subscription-store.js';
import { toCanonicalEvent } from './canonical-event.js';
import { deadLetterCode, deadLetterOf } from '../kafka/dead-letter.js';
import { bySize } from '../kafka/by-size.js';
import { recordBytes } from '../kafka/record-size.js';
import { checkSourceTopic, type SourceTopic } from './source-topic.js';
import type { SourceFamily } from '../../schemas/avro/index.js';
import { planTasks } from './route.js';
import { lingerAfterBatch } from './linger.js';

/** Source records per transaction: large enough to amortize its round trips, small enough to retry cheaply. */
const MAX_RECORDS_PER_TRANSACTION = 2000;
/** Partition batches handled at once, each with its own transactions. Order within a partition is kept. */
const PARTITIONS_CONSUMED_CONCURRENTLY = 16;
/**
 * A router fenced once (woken from a pause longer than its session) rejoins its group; one fenced more than
 * this often within the window is stuck, and exits so that its supervisor restarts it and alerts show it.
 */
const MAX_REJOINS = 5;
/** Waits between tries of a slice that failed transiently (the registry out of reach), doubling up to the second. */
const TRANSIENT_FIRST_WAIT_MS = 250;
const TRANSIENT_MAX_WAIT_MS = 5000;
/** Heartbeats at least this often while a slice waits: far inside any session timeout. */
const HEARTBEAT_WHILE_WAITING_MS = 1000;
const REJOIN_WINDOW_MS = 10 * 60_000;

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

/** A source partition's own transactional producer; see createRouter. */
interface PartitionLane {
  /** Connected, with its transactional id initialized (which fences the partition's previous owner). */
  producer: Promise<Producer>;
  /**
   * The group's committed offset for the partition, read once the id is
   * initialized: records below it were routed by a previous owner (see
   * aboveFloor). Raised past each of this lane's own commits (raisedFloor).
   */
  floor: Promise<bigint | null>;
  /** The transaction under way, if any; a revoked lane closes after it. */
  busy: Promise<void>;
}

/**
 * Initializes a transactional producer's id now rather than at its first
 * transaction: kafkajs's connect() does not. The broker answers only once the
 * id's previous transaction is complete, its markers written (a commit's
 * offsets included), and that producer fenced. An empty transaction's abort
 * sends nothing to the broker.
 */
async function initTransactionalId(producer: Producer): Promise<void> {
  const transaction = await producer.transaction();
  await transaction.abort();
}

/**
 * The records of a batch this instance may route: those at or above the
 * floor. kafkajs reads the committed offset when the partition is assigned,
 * before this instance initializes the partition's transactional id, and
 * Kafka answers that read with the last *completed* commit (kafkajs cannot ask
 * for stable offsets, KIP-447). A previous owner whose commit was still
 * writing its markers then (it lost the partition in a rebalance right after
 * committing, or crashed mid-commit) routed records the new owner would route
 * again. Read after the id is initialized, the committed offset is final.
 */
export function aboveFloor<M extends { offset: string }>(messages: M[], floor: bigint | null): M[] {
  if (floor === null || messages.length === 0 || BigInt(messages[0]!.offset) >= floor) return messages;
  return messages.filter((message) => BigInt(message.offset) >= floor);
}

/**
 * The floor after this lane committed up to `next`. A partition that stays
 * with this router across a rebalance keeps its lane, while kafkajs reads
 * the committed offset again and fetches from there: read while the commit
 * markers of the last transaction are still being written (kafkajs's offset
 * fetch cannot ask for stable offsets), it is the offset before that
 * transaction, and its records would be routed twice. Never lowered.
 */
export function raisedFloor(floor: bigint | null, next: bigint): bigint {
  return floor === null || next > floor ? next : floor;
}

/** Transactional id of a source partition's producer: the same whichever router instance owns the partition. */
export function transactionalIdFor(groupId: string, topic: string, partition: number): string {
  return `${groupId}-${topic}-${partition}`;
}

export interface RouterDeps {
  kafka: Kafka;
  catalog: EventCatalog;
  subscriptions: SubscriptionStore;
  /** Source topic → the decoder of its reader schema and the source family that schema carries. */
  sources: ReadonlyMap<string, SourceTopic>;
  groupId: string;
  sessionTimeoutMs: number;
  deliveriesTopic: string;
  /** The largest task the deliveries topic takes (its `max.message.bytes`). */
  maxTaskBytes: number;
  ingestDlqTopic: string;
  /** The largest message the ingest DLQ takes: a source topic may take larger records than it. */
  maxDeadLetterBytes: number;
  /** After a caught-up batch, how long to wait before fetching again (see lingerAfterBatch); 0 fetches at once. */
  lingerMs: number;
  /** Bytes of tasks a transaction carries at most (a transaction takes at least one event, and never part of one). */
  transactionMaxTaskBytes: number;
  /** The router cannot go on (its consumer stopped for good): the process stops in order and exits non-zero. */
  onFatal: (error: unknown) => void;
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
  /** Reads committed offsets for lanes taking a partition over; connected on first use, again after a failed connect. */
  let adminClient: { admin: Admin; connected: Promise<Admin> } | null = null;
  const admin = (): Promise<Admin> => {
    if (!adminClient) {
      const created = kafka.admin();
      const entry = { admin: created, connected: created.connect().then(() => created) };
      entry.connected.catch(() => {
        if (adminClient === entry) adminClient = null;
      });
      adminClient = entry;
    }
    return adminClient.connected;
  };

  /** Which topic carries each source family, for the reason of an event on another's. */
  const topicByFamily = new Map<SourceFamily, string>([...deps.sources].map(([topic, source]) => [source.family, topic]));
  const topicOfFamily = (family: SourceFamily): string | undefined => topicByFamily.get(family);

  /**
   * Decode, match and plan the first records of a slice of a batch, up to the transaction's task budget (at least one
   * record); `routed` says how many. Poison goes to the DLQ list, anything else fails the slice. Nothing is counted
   * here: a slice whose commit fails is routed again, so its metrics are counted by the caller once it is written.
   */

  const routeSlice = async (
    topic: string, partition: number, messages: KafkaMessage[], heartbeat: () => Promise<void>,
  ): Promise<{ routed: number; tasks: Message[]; deadLetters: Message[]; fanouts: number[] }> => {
    const source = deps.sources.get(topic);
    if (!source) throw new Error(`no decoder for topic ${topic}`);
    const { decoder } = source;
    const tasks: Message[] = [];
    const deadLetters: Message[] = [];
    const fanouts: number[] = [];
    // Writer schemas first, once for the slice; then every record decodes without waiting.
    const decode = await decoder.prepare(messages.map((message) => message.value), heartbeat);
    // Taken after the registry's lookups, which may take long: a reload meanwhile (a webhook disabled) applies.
    const index = deps.subscriptions.current();
    const now = Date.now();
    let routed = 0;
    let taskBytes = 0;
    for (const message of messages) {
      // Tasks are held until their transaction commits: with many webhooks per event, the rest waits for the next.
      if (taskBytes >= deps.transactionMaxTaskBytes) break;
      routed += 1;
      try {
        const event = toCanonicalEvent(decode(message.value), deps.catalog);
        checkSourceTopic(event.eventType, event.family, source.family, topicOfFamily);
        const planned = planTasks(event, index, now);
        fanouts.push(planned.length);
        if (planned.length === 0) continue;
        const eventJson = JSON.stringify(event);
        const eventTasks = planned.map((task): Message => ({ key: task.webhookId, value: encodeTask(task, eventJson) }));
        // The broker would refuse the task on every try, failing the transaction and stalling the partition:
        // the event is poison instead. Its tasks differ only in ids, so the whole event goes, not some of them.
        // Loops, not spreads: an event matching a few hundred thousand webhooks would pass the engine's argument limit.
        let largest = 0;
        let eventBytes = 0;
        for (const task of eventTasks) {
          const bytes = recordBytes(task);
          largest = Math.max(largest, bytes);
          eventBytes += bytes;
        }
        if (largest > deps.maxTaskBytes) {
          throw poison('TASK_TOO_LARGE', `the event's delivery task would be ${largest} bytes; the deliveries topic takes at most ${deps.maxTaskBytes} (the smaller of its max.message.bytes and TOPIC_DELIVERIES_MAX_MESSAGE_BYTES)`);
        }
        for (const task of eventTasks) tasks.push(task);
        taskBytes += eventBytes;
      } catch (error) {
        const failure = classify(error);
        // Only poison is dead-lettered; a transient failure (registry down) fails the slice, which is retried whole.
        if (failure.kind !== 'poison') throw failure;
        log.warn({ topic, partition, offset: message.offset, code: failure.code, reason: failure.message }, 'source record dead-lettered');
        deadLetters.push(deadLetterOf({ topic, partition, message }, failure, message, deps.maxDeadLetterBytes));
      }
    }
    return { routed, tasks, deadLetters, fanouts };
  };

  /**
   * One transactional producer per source partition, with the transactional
   * id derived from the group and the partition (as Kafka Streams does). The
   * instance that takes a partition over initializes that id, which aborts
   * whatever transaction the previous owner left open and fences it: a router
   * frozen past its session timeout (a long GC pause, a stopped VM) cannot
   * commit tasks for a partition it no longer owns when it wakes up, and its
   * open transaction does not hold back read_committed readers until the
   * transaction times out. kafkajs cannot fence by consumer group generation
   * (KIP-447), so this is how zombies are kept out. The id is initialized
   * before the lane's first batch, and the committed offset read after it
   * bounds what the lane routes (aboveFloor). Partitions also commit
   * independently, so one partition's transaction never waits for another's.
   */
  const lanes = new Map<string, PartitionLane>();
  /** Source partitions assigned to this instance by the last rebalance. */
  let owned = new Set<string>();

  const openLane = (topic: string, partition: number): PartitionLane => {
    const key = partitionKey(topic, partition);
    let lane = lanes.get(key);
    if (!lane) {
      const producer = createProducer(kafka, {
        transactionalId: transactionalIdFor(deps.groupId, topic, partition),
        idempotent: true,
        maxInFlightRequests: 1,
        // Right after a commit the broker is still writing markers and answers the next transaction with
        // CONCURRENT_TRANSACTIONS; kafkajs's default 300 ms first backoff would add that to every event's latency.
        // Locally the markers take a few ms: a 5 ms first retry (±20 %) mostly succeeds, where 25 ms waited
        // 20-30 ms each time. Doubling from 5 ms, 11 retries still span about 10 s of broker trouble.
        retry: { initialRetryTime: 5, retries: 11 },
      });
      // A producer connected but whose id could not be initialized (coordinator unavailable) is never handed out,
      // so closeLane cannot reach it: it is disconnected here, or every retry would leave one open.
      const connected = producer.connect().then(() => initTransactionalId(producer)).then(() => producer, async (error: unknown) => {
        await producer.disconnect().catch(() => undefined);
        throw error;
      });
      const floor = connected.then(() => committedOffset(topic, partition));
      const opened: PartitionLane = { producer: connected, floor, busy: Promise.resolve() };
      lanes.set(key, opened);
      // A failed connect or read is seen by the batch that awaits it; the lane is dropped so the retry starts afresh.
      floor.catch(() => {
        forgetLane(key, opened);
        void closeLane(opened);
      });
      lane = opened;
    }
    return lane;
  };

  /** The group's committed offset of a source partition, or null when it has none. */
  const committedOffset = async (topic: string, partition: number): Promise<bigint | null> => {
    const [offsets] = await (await admin()).fetchOffsets({ groupId: deps.groupId, topics: [topic] });
    const offset = offsets?.partitions.find((p) => p.partition === partition)?.offset;
    return offset === undefined || BigInt(offset) < 0n ? null : BigInt(offset);
  };

  /** Takes a lane out of use, unless a newer one has replaced it already. */
  const forgetLane = (key: string, lane: PartitionLane): void => {
    if (lanes.get(key) === lane) lanes.delete(key);
  };

  /** Disconnects a lane's producer once its transaction under way, if any, has ended. */
  const closeLane = async (lane: PartitionLane): Promise<void> => {
    await lane.busy.catch(() => undefined);
    const producer = await lane.producer.catch(() => null);
    await producer?.disconnect().catch((error: unknown) => log.warn({ err: error }, 'router producer disconnect failed'));
  };

  /** Tasks, dead letters and the partition's next source offset, atomically. */
  const commitSlice = async (topic: string, partition: number, nextOffset: string, tasks: Message[], deadLetters: Message[]): Promise<void> => {
    const lane = openLane(topic, partition);
    const producer = await lane.producer;
    // After the lane's transaction under way, if any: a skip past filtered records (skipFiltered) may still be committing.
    const work = lane.busy.catch(() => undefined).then(async () => {
      const transaction = await producer.transaction();
      try {
        for (const messages of bySize(tasks, deps.maxTaskBytes)) await transaction.send({ topic: deps.deliveriesTopic, messages });
        for (const messages of bySize(deadLetters, deps.maxDeadLetterBytes)) await transaction.send({ topic: deps.ingestDlqTopic, messages });
        await sendOffsetsRetrying(transaction, { consumerGroupId: deps.groupId, topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }] });
        await transaction.commit();
        routerTransactions.inc();
        const next = BigInt(nextOffset);
        // A floor whose read failed (its lane is dropped for it) must not become an unhandled rejection here.
        lane.floor = lane.floor.then((floor) => raisedFloor(floor, next), () => next);
      } catch (error) {
        await transaction.abort().catch((abortError: unknown) => log.warn({ err: abortError }, 'transaction abort failed'));
        // Fenced by the partition's new owner, or in an unknown state: a fresh producer is initialized on the
        // next attempt, and this one is closed once this transaction has settled.
        forgetLane(partitionKey(topic, partition), lane);
        void closeLane(lane);
        if (isProducerFenced(error)) {
          log.warn({ topic, partition }, 'router fenced: another instance owns this partition now; its uncommitted tasks were discarded');
        }
        throw error;
      }
    });
    lane.busy = work;
    await work;
  };

  /**
   * A fetched batch whose records were all filtered out (an aborted source
   * transaction and its marker) is never handed to eachBatch, so no slice
   * commits past it, and the partition's lag would read 1 until the next
   * event. It gets a transaction of its own with only the source offset:
   * nothing in it is an event, so committing past it loses nothing.
   */
  const skipFiltered = (topic: string, partition: number, nextOffset: string): void => {
    const key = partitionKey(topic, partition);
    if (!owned.has(key)) return;
    const lane = openLane(topic, partition);
    lane.floor.then((below) => {
      // The floor of a fresh lane takes a while (producer, transactions, offsets); the partition may have gone to
      // another instance meanwhile, or this one stopped: committing now would open a lane again and fence its owner.
      if (!owned.has(key) || lanes.get(key) !== lane) return undefined;
      // Below the floor the previous owner committed further already: this commit would move the offset back.
      return below !== null && BigInt(nextOffset) <= below ? undefined : commitSlice(topic, partition, nextOffset, [], []);
    }).catch((error: unknown) => {
      log.warn({ err: error, topic, partition }, 'could not commit past filtered source records; the next batch commits past them');
    });
  };

  /** After a rebalance, partitions this instance no longer owns give up their producers. */
  const onAssignment = (assignment: Record<string, number[]>): void => {
    owned = assignedPartitionKeys(assignment);
    for (const [key, lane] of lanes) {
      if (owned.has(key)) continue;
      lanes.delete(key);
      void closeLane(lane);
    }
  };

  /**
   * Routes a slice, waiting out a transient failure it names (the schema
   * registry out of reach) here, heartbeating, rather than throwing it to
   * kafkajs: past its few retries kafkajs restarts the consumer, which leaves
   * the group, and every router doing so every ten seconds or so kept the
   * whole group rebalancing for as long as an outage lasted. Null once the
   * partition went or the router stops. An error nothing classified (a bug)
   * is thrown as before.
   */
  const routeSliceWaitingOut = async (
    topic: string, partition: number, slice: KafkaMessage[], heartbeat: () => Promise<void>, gone: () => boolean,
  ): Promise<Awaited<ReturnType<typeof routeSlice>> | null> => {
    for (let wait = TRANSIENT_FIRST_WAIT_MS; ; wait = Math.min(wait * 2, TRANSIENT_MAX_WAIT_MS)) {
      try {
        return await routeSlice(topic, partition, slice, heartbeat);
      } catch (error) {
        const failure = classify(error);
        if (failure.kind !== 'transient' || failure.code === 'UNCLASSIFIED') throw error;
        log.warn({ topic, partition, code: failure.code, reason: failure.message, retryInMs: wait }, 'routing waits for a dependency out of reach; trying the records again');
        for (let waited = 0; waited < wait && !gone(); waited += HEARTBEAT_WHILE_WAITING_MS) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(HEARTBEAT_WHILE_WAITING_MS, wait - waited)));
          await heartbeat();
        }
        if (gone()) return null;
      }
    }
  };

  const handleBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const messages = aboveFloor(batch.messages, await openLane(batch.topic, batch.partition).floor);
    if (messages.length === 0) {
      // All routed by the previous owner, whose commit covers them already.
      resolveOffset(batch.lastOffset());
      await heartbeat();
      return;
    }
    // A fetched batch can hold thousands of records; bounded slices keep each transaction well under broker limits,
    // and within the task budget (routeSlice routes as many of a slice's records as that allows).
    for (let start = 0; start < messages.length;) {
      if (!isRunning() || isStale()) return;
      const slice = messages.slice(start, start + MAX_RECORDS_PER_TRANSACTION);
      const result = await routeSliceWaitingOut(batch.topic, batch.partition, slice, heartbeat, () => !isRunning() || isStale());
      if (!result) return;
      const { routed, tasks, deadLetters, fanouts } = result;
      const lastOffset = slice[routed - 1]!.offset;
      // The last slice commits past whatever ended the batch after its last event: a source written in
      // transactions leaves a commit marker there, which is no event (else the source's lag never reads 0).
      const isLast = start + routed >= messages.length;
      const nextOffset = BigInt(isLast ? batch.lastOffset() : lastOffset) + 1n;
      await commitSlice(batch.topic, batch.partition, nextOffset.toString(), tasks, deadLetters);
      // Counted once written: a slice that fails is routed again, and its poison with it.
      for (const letter of deadLetters) {
        const reason = deadLetterCode(letter);
        deadLettersTotal.inc({ kind: 'ingest', reason });
        decodeFailures.inc({ topic: batch.topic, reason });
      }
      for (const fanout of fanouts) routingFanout.observe(fanout);
      recordsConsumed.inc({ topic: batch.topic }, routed);
      tasksProduced.inc(tasks.length);
      resolveOffset(lastOffset);
      start += routed;
      await heartbeat();
    }
    const linger = lingerAfterBatch(batch.offsetLag(), deps.lingerMs);
    if (linger > 0) await new Promise((resolve) => setTimeout(resolve, linger));
  };

  /** Set by stop(): a crash after it is part of the shutdown, not a reason to rejoin. */
  let stopped = false;
  /** Fenced more often than this and the router stops the process rather than rejoin in a loop. */
  const rejoins = createRestartBudget({ max: MAX_REJOINS, windowMs: REJOIN_WINDOW_MS });

  const startConsumer = async (): Promise<void> => {
    const created: Consumer = createGroupConsumer(kafka, {
      groupId: deps.groupId,
      sessionTimeoutMs: deps.sessionTimeoutMs,
      onGivenUp: (error) => {
        if (stopped || consumer !== created) return;
        if (!needsFreshProducers(error)) {
          deps.onFatal(error);
          return;
        }
        // Woken from a pause longer than its session: the group has moved on and handed its partitions to another
        // instance, whose producers fenced this one's. kafkajs gives such a consumer up; it rejoins as a new member
        // instead, with fresh producers (every old one may be fenced), and routes whatever the group assigns it now.
        if (!rejoins.spend()) {
          deps.onFatal(new Error(`router fenced more than ${MAX_REJOINS} times within ${REJOIN_WINDOW_MS / 60_000} minutes; stopping rather than rejoining again`, { cause: error }));
          return;
        }
        if (isProducerFenced(error)) log.warn('router fenced: its session had expired and another instance took its partitions over; rejoining the group');
        else log.warn({ err: error }, 'a transactional producer of the router lost its state at the broker (an expired transactional id?); rejoining the group with fresh producers');
        void rejoin().catch((rejoinError: unknown) => deps.onFatal(rejoinError));
      },
    });
    consumer = created;
    created.on(created.events.GROUP_JOIN, ({ payload }) => onAssignment(payload.memberAssignment));
    created.on(created.events.END_BATCH_PROCESS, ({ payload }) => {
      // Only batches kafkajs did not hand over: none of their records was an event (batches without any
      // records report no first offset and say nothing about what lies below the high watermark).
      if (payload.batchSize === 0 && payload.firstOffset !== null) skipFiltered(payload.topic, payload.partition, (BigInt(payload.lastOffset) + 1n).toString());
    });
    await created.connect();
    await created.subscribe({ topics: [...deps.sources.keys()], fromBeginning: true });
    // Stopped while a rejoin was joining: this consumer may have connected after stop disconnected it, and must not run.
    if (stopped) {
      await created.disconnect().catch(() => undefined);
      return;
    }
    // Every assigned partition's batch at once: each partition routes and commits on its own.
    await created.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: PARTITIONS_CONSUMED_CONCURRENTLY, eachBatch: handleBatch });
  };

  const closeAllLanes = async (): Promise<void> => {
    const open = [...lanes.values()];
    lanes.clear();
    owned = new Set();
    await Promise.all(open.map(closeLane));
  };

  const rejoin = async (): Promise<void> => {
    // kafkajs has disconnected the consumer that gave up already; this is in case it had not.
    await consumer?.disconnect().catch(() => undefined);
    await closeAllLanes();
    if (stopped) return;
    await startConsumer();
    log.info({ groupId: deps.groupId }, 'router rejoined its group');
  };

  return {
    async start() {
      await startConsumer();
      log.info({ topics: [...deps.sources.keys()], groupId: deps.groupId }, 'router consuming');
    },
    async stop() {
      stopped = true;
      try {
        await consumer?.disconnect();
      } finally {
        // Whatever the consumer's leaving did, the producers and the admin client close.
        consumer = null;
        await closeAllLanes();
        const client = adminClient;
        adminClient = null;
        await client?.admin.disconnect().catch(() => undefined);
      }
    },
  };
}
