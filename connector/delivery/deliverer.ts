import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from '../observability/logger.js';
import { deferredTasks, fetchedBytes, newTasksBlocked, readWaits, tasksReadAgain } from '../observability/metrics.js';
import { createGroupConsumer } from '../kafka/client.js';
import { classify } from '../errors.js';
import { createKeyedScheduler, type Aside } from './keyed-scheduler.js';
import { createLevelCounter } from './level-counter.js';
import { assignedPartitionKeys, partitionKey, partitionOfKey } from '../kafka/assignment.js';
import { mayQueue, refusedByPressureOnly, shouldReadAgain, type QueueLimits } from './queue-limits.js';
import { createHeldWebhooks, type QueuedTask } from './held-webhooks.js';
import { decodeProgress, type Progress } from './progress-metadata.js';
import { committableOffset, newPartitionState, planCommit, recordCommitted, revoke, type PartitionState, type PlannedCommit } from './partition-state.js';
import { deadLetterRecord, decodeOrDeadLetter, heartbeatWhile, untilDone } from './persist.js';
import type { TaskHandler } from './task-handler.js';

export interface DelivererDeps {
  kafka: Kafka;
  handle: TaskHandler;
  /** Dead-letters tasks that can never be sent: records that are no task, tasks whose handling is poison. */
  producer: Producer;
  dlqTopic: string;
  groupId: string;
  sessionTimeoutMs: number;
  topic: string;
  maxInFlight: number;
  maxBuffered: number;
  /**
   * Tasks of one webhook queued at most; its later tasks are left in Kafka (their offsets remembered) and read
   * again once its queue is down to half, so one webhook's endpoint never fills the buffer every webhook shares.
   */
  maxQueuedPerWebhook: number;
  /** Tasks left in Kafka, at most, across this deliverer's partitions; reading new tasks waits above it. */
  maxDeferred: number;
  /** Bytes of one partition a fetch returns at most (DELIVERER_FETCH_MAX_BYTES_PER_PARTITION); the client's default without it. */
  fetchMaxBytesPerPartition?: number;
  drainTimeoutMs: number;
  /** Its consumer stopped for good (kafkajs gave it up): the process stops in order and exits non-zero. */
  onFatal: (error: unknown) => void;
  /**
   * When a record's task is due (ms since the epoch), for topics of tasks that wait (retry tiers); without it
   * every task is due when read. A partition whose next task is not due yet is paused until it is.
   */
  dueAt?: (message: KafkaMessage) => number;
  now?: () => number;
  log: Logger;
}

export interface Deliverer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Item extends QueuedTask {
  message: KafkaMessage;
}

/** How long a first-attempt fetch waits at the end of its partitions; see start(). */
const PASS_FETCH_WAIT_MS = 250;
/** How long reading new tasks waits while too many are deferred, before it looks again. */
const DEFERRED_FULL_RECHECK_MS = 200;
/** How long a partition waits for a nearly full buffer to drain before leaving a task in Kafka; see handleBatch. */
const PRESSURE_WAIT_MS = 100;

const COMMIT_INTERVAL_MS = 200;
/** How often a batch waiting for backpressure to ease heartbeats and looks for a stop (see easing). */
const EASING_CHECK_MS = 1000;
/** How soon a partition given back is placed again after its committed offset could not be read. */
const REPOSITION_RETRY_MS = 1000;

/**
 * The deliverer's consumer. kafkajs waits for every batch of a fetch before
 * fetching again, so a batch handler that awaited HTTP calls would let one
 * slow endpoint stall every partition. Instead each batch is only scheduled:
 * tasks join their webhook's queue (one at a time per webhook, in offset
 * order; many webhooks at once), the handler returns, and fetching goes on.
 * Offsets are committed by us, only past the contiguous finished prefix of
 * each partition, so a crash re-delivers and never skips. The retry tiers
 * are deliverers too, whose tasks wait until due (see retry-tier.ts).
 */
export function createDeliverer(deps: DelivererDeps): Deliverer {
  const { log } = deps;
  const now = deps.now ?? Date.now;
  const partitions = new Map<string, PartitionState>();
  /**
   * Paused partitions' resumptions, one per partition (a pass reading deferred tasks again resumes a retry tier's
   * partition and pauses it once more at the same head: its earlier timer goes), cancelled on stop.
   */
  const resumeTimers = new Map<string, NodeJS.Timeout>();
  const shutdown = new AbortController();
  let consumer: Consumer | null = null;
  /**
   * Reads the progress committed with the partitions this instance takes; connected on first need (a deliverer
   * that is given no records, such as an idle retry tier, never connects one).
   */
  let admin: Promise<Admin> | null = null;
  /** The group's committed offsets of the topic, read once per rebalance for every partition it assigned here. */
  let committedAtJoin: Promise<Array<{ partition: number; offset: string; metadata: string | null }>> | null = null;
  /** Rejoins so far: an answer read for one join says nothing of the partitions after the next (see settleResend). */
  let joins = 0;
  let commitTimer: NodeJS.Timeout | undefined;
  /** Partitions assigned to this instance by the last rebalance. */
  let assigned = new Set<string>();
  /**
   * Partitions whose read position this instance moved (seek), and those of them it was given back since. kafkajs
   * keeps a seek it had not applied when a partition is taken away, and applies it should the partition come back:
   * reading would start there rather than at the committed offset, and the tasks in between would never be read.
   * A partition given back is put at its committed offset before its first batch is taken.
   */
  const sought = new Set<string>();
  const toReposition = new Set<string>();
  /**
   * Partitions whose batch handleBatch left untaken (a reposition, a batch from before a seek): kafkajs still reports
   * the batch processed (END_BATCH_PROCESS), and its records must not count as seen there: fetched again, they would
   * be taken for tasks already queued, never sent, and committed past.
   */
  const batchesLeft = new Set<string>();

  const runTask = async (item: Item, aside: Aside): Promise<{ logged: Promise<void> }> => {
    const { signal } = item.state;
    const task = await decodeOrDeadLetter(item.message, item.state, { producer: deps.producer, dlqTopic: deps.dlqTopic, signal, log });
    if (!task) return { logged: Promise.resolve() };
    try {
      // A request still waiting in a sending thread when the partition goes is taken back unsent: the new owner sends it.
      return await untilDone(() => deps.handle(task, signal, aside, item.state.release.signal), {
        signal,
        // Classified once here. Poison can never be sent: dead-lettered below. The rest is tried again: trouble that
        // passes (Postgres unreachable for a webhook not read before), and trouble of this webhook alone that an
        // operator mends (its secret opens with no configured key). Either waits aside, holding its webhook's queue
        // and not a slot: webhooks whose targets are at hand go on meanwhile. Stopping the process for one webhook's
        // row would stop every instance in turn as the partition moved.
        giveUpOn: (error) => classify(error).kind === 'poison',
        wait: aside,
        onFailure: (error, retryInMs) => {
          const failure = classify(error);
          if (failure.kind === 'fatal') log.error({ err: error, code: failure.code, webhookId: task.webhookId, taskId: task.taskId, retryInMs }, 'delivery cannot be made until an operator mends this webhook; its tasks wait');
          else log.warn({ err: error, webhookId: task.webhookId, taskId: task.taskId, retryInMs }, 'delivery could not be completed; retrying');
        },
      });
    } catch (error) {
      if (signal.aborted) throw error;
      // It can never be sent: tried again, it would hold its webhook's queue and its partition's commit for good.
      await deadLetterRecord(item.message, item.state, classify(error), { producer: deps.producer, dlqTopic: deps.dlqTopic, signal, log });
      return { logged: Promise.resolve() };
    }
  };

  let stopping = false;
  /** Webhooks a task of which the stop gave up on: their later tasks are not started (see the scheduler). */
  const givenUpAtStop = new Set<string>();
  /** Tasks left in Kafka across this deliverer's partitions (the gauge sums every deliverer of the process). */
  let deferredCount = 0;
  // One series per topic, from the start: the WebhooksDelivererReadingStalled alert judges it.
  const blocked = newTasksBlocked.labels({ topic: deps.topic });
  blocked.set(0);
  const countDeferred = (change: number): void => {
    deferredCount += change;
    deferredTasks.inc(change);
    // The same test handleBatch makes before reading a new task.
    blocked.set(deferredCount >= deps.maxDeferred ? 1 : 0);
  };
  const limits: QueueLimits = { maxQueuedPerWebhook: deps.maxQueuedPerWebhook, maxBuffered: deps.maxBuffered };
  const hasRoom = (webhookId: string): boolean => mayQueue(limits, scheduler.backlogOf(webhookId), scheduler.pressing, held.countIfHeld(webhookId));

  /**
   * Reads a partition paused until a task came due again now, its resume timer dropped. Never throws: a consumer
   * not running (between runs, or given up) has nothing paused, and a new run starts with nothing paused.
   */
  const resumeNow = (state: PartitionState): void => {
    const key = partitionKey(state.topic, state.partition);
    clearTimeout(resumeTimers.get(key));
    resumeTimers.delete(key);
    try {
      consumer?.resume([{ topic: state.topic, partitions: [state.partition] }]);
    } catch {
      // Not running: see above.
    }
  };

  /**
   * Moves where the partition is read next, resuming it if paused (the pause comes again where it is still due).
   * Never throws: it runs as tasks end, whose bookkeeping must go on. A seek refused (the consumer between
   * generations) is only a pass not started: the rebalance reads from the committed offset again, or the next task
   * to end asks again.
   */
  const seek = (state: PartitionState, offset: bigint): boolean => {
    // Stopping: nothing more is read, and a seek would resume a partition the stop paused.
    if (!consumer || state.revoked || stopping) return false;
    try {
      consumer.seek({ topic: state.topic, partition: state.partition, offset: offset.toString() });
      sought.add(partitionKey(state.topic, state.partition));
      if (state.waitingAt !== null) resumeNow(state);
      return true;
    } catch (error) {
      log.warn({ err: error, topic: state.topic, partition: state.partition, offset: String(offset) }, 'could not move the read position; deferred tasks are read again later');
      return false;
    }
  };

  /**
   * Starts a pass that reads the partition again from a webhook's next deferred task, once its queue has room.
   * A pass serves every webhook with room whose deferred tasks it reads, and skips all else (seen before).
   */
  const readDeferredAgain = (state: PartitionState, webhookId: string): void => {
    const next = state.deferred.nextOf(webhookId);
    if (next === null || stopping || state.revoked || !consumer) return;
    if (!shouldReadAgain(limits, scheduler.backlogOf(webhookId), scheduler.pressing, held.countIfHeld(webhookId))) return;
    // A pass under way that has not read that far yet serves it.
    if (state.refetchFrom !== null && state.passAt < next) return;
    if (!seek(state, next)) return;
    state.refetchFrom = next;
    state.passAt = next - 1n;
  };

  /**
   * After a task of the webhook ended or was dropped: the partition it came from, and the partition's state now if
   * it was taken away and given back since (that state's deferred tasks of the webhook waited for this queue to
   * empty; nothing else would read them again).
   */
  const readDeferredAgainOf = (item: Item): void => {
    readDeferredAgain(item.state, item.webhookId);
    // Only a revoked state is not the partition's current one (this runs for every task).
    if (!item.state.revoked) return;
    const current = partitions.get(partitionKey(item.state.topic, item.state.partition));
    if (current) readDeferredAgain(current, item.webhookId);
  };

  /** A task of a revoked partition, dropped: its webhook is no longer held for it, and may read on elsewhere. */
  const letGo = (item: Item): void => {
    held.forget(item.webhookId);
    readDeferredAgainOf(item);
  };

  /** Forgets a partition this instance no longer reads as before: its tasks' waits end, its queued ones are dropped. */
  const forgetPartition = (key: string, state: PartitionState): void => {
    revoke(state);
    countDeferred(-state.deferred.clear());
    partitions.delete(key);
    // Paused until a task came due: kafkajs keeps a pause across rebalances, so a partition given back later would
    // fetch nothing until its timer fired (hours, in the long tiers), due tasks and all. Stopping, all stays paused.
    if (!resumeTimers.has(key)) return;
    if (stopping) {
      clearTimeout(resumeTimers.get(key));
      resumeTimers.delete(key);
    } else resumeNow(state);
  };

  /** Ends a pass once no webhook with room has deferred tasks ahead of it, going straight back to new tasks. */
  const endPassWhenServed = (state: PartitionState): void => {
    for (const [webhookId, next] of state.deferred.waiting()) {
      if (next > state.passAt && hasRoom(webhookId)) return;
    }
    state.refetchFrom = null;
    const end = state.tracker.end;
    if (end !== null && state.passAt + 1n < end) seek(state, end);
  };

  /**
   * Attempt-log writes of finished tasks not yet acknowledged; stop waits for
   * them so it can commit those tasks, and reading waits while too many are
   * (the log retries a write Kafka refused, holding its records meanwhile).
   */
  const pendingLogs = createLevelCounter();
  const logSettled = (): void => pendingLogs.add(-1);
  // Tasks waiting aside (strict retries in place, slow requests) cannot go back to Kafka: up to a buffer's worth of
  // them do not count against it, or enough strict webhooks failing at once would stop reading for hours.
  const scheduler = createKeyedScheduler<Item>(deps.maxInFlight, async (_key, item, aside) => {
    // Revoked: not started, not finished, so not committed; the next owner delivers it.
    if (item.state.revoked) return letGo(item);
    // Shutting down: only tasks below one already started still run. Webhooks progress at their
    // own pace, so later offsets of a fast webhook may be done while a slow one's earlier offsets
    // wait; running those fills the gap and lets the commit cover what was sent. Tasks past every
    // started offset stay for the next owner.
    if (stopping && (item.state.maxStarted === null || item.offset > item.state.maxStarted)) return;
    // Its webhook's earlier task was given up by the stop (a strict retry in place): sent now, this one would reach the
    // endpoint before it, which comes again after the restart.
    if (stopping && givenUpAtStop.has(item.webhookId)) return;
    if (item.state.maxStarted === null || item.offset > item.state.maxStarted) item.state.maxStarted = item.offset;
    const watched = held.watch(item, aside);
    try {
      const { logged } = await runTask(item, watched.aside);
      watched.finished();
      // Room in the webhook's queue: its tasks left in Kafka may be read again.
      readDeferredAgainOf(item);
      // The webhook's next task may start now; the offset counts as finished once the attempt log has it.
      pendingLogs.add(1);
      logged.then(
        () => {
          if (item.late) item.state.deferred.finish(item.webhookId, item.offset);
          else item.state.tracker.finish(item.offset);
          logSettled();
        },
        (error: unknown) => {
          log.warn({ err: error, offset: String(item.offset) }, 'attempt log write given up at shutdown; the task stays uncommitted and is redelivered after a restart');
          logSettled();
        },
      );
    } catch {
      // Aborted by shutdown: left unfinished, so it is not committed and comes back after a restart.
      if (stopping) givenUpAtStop.add(item.webhookId);
      // Aborted because the partition went to another instance, which sends the task from its committed offset.
      else if (item.state.revoked) letGo(item);
    }
  }, { maxUncountedAside: deps.maxBuffered });
  /** Webhooks whose endpoint holds them keep a small queue, and give back what they queued before (see held-webhooks.ts). */
  const held = createHeldWebhooks<Item>({ scheduler, limits, onGivenBack: () => countDeferred(1), log });

  const connectedAdmin = (): Promise<Admin> =>
    (admin ??= (async () => {
      const client = deps.kafka.admin();
      await client.connect();
      return client;
    })().catch((error: unknown) => {
      admin = null;
      throw error;
    }));

  /**
   * The group's commit of a partition as it stood when it was assigned here. Nobody commits a partition assigned
   * here before its first batch, so one read per rebalance serves them all; a failed read is made again next time.
   */
  const committedAtAssignment = async (partition: number): Promise<{ offset: string; metadata: string | null } | undefined> => {
    committedAtJoin ??= connectedAdmin()
      .then((client) => client.fetchOffsets({ groupId: deps.groupId, topics: [deps.topic] }))
      .then(([topic]) => topic?.partitions ?? []);
    try {
      return (await committedAtJoin).find((p) => p.partition === partition);
    } catch (error) {
      committedAtJoin = null;
      throw error;
    }
  };

  /** What the group's last commit of a partition said was finished above its offset (the previous owner's word). */
  const committedProgress = async (state: PartitionState): Promise<Progress | null> => {
    try {
      const committed = await committedAtAssignment(state.partition);
      if (!committed || Number(committed.offset) < 0) return null;
      return decodeProgress(BigInt(committed.offset), committed.metadata);
    } catch (error) {
      // Without it the partition is read as before: what finished above the committed offset is sent again.
      log.warn({ err: error, topic: state.topic, partition: state.partition }, 'could not read the committed progress; deliveries above the committed offset may be sent again');
      return null;
    }
  };

  /**
   * Puts a partition given back to this instance at the group's committed offset (or its start, with none), as the
   * assignment of the rejoin it is called in (`join`) had it. Skipped once another rejoin came in between: the
   * offset read may be an earlier owner's, and the later rejoin places the partition itself if it is still here.
   */
  const repositionAtCommitted = async (topic: string, partition: number, join = joins): Promise<void> => {
    const key = partitionKey(topic, partition);
    const stillOurs = (): boolean => join === joins && assigned.has(key) && !stopping;
    try {
      let offset = (await committedAtAssignment(partition))?.offset ?? '-1';
      if (BigInt(offset) < 0n) offset = (await (await connectedAdmin()).fetchTopicOffsets(topic)).find((p) => p.partition === partition)?.low ?? '0';
      if (!stillOurs()) return;
      consumer?.seek({ topic, partition, offset });
      // A seek like any other: kept by kafkajs should the partition go before its next fetch.
      sought.add(key);
    } catch (error) {
      if (!stillOurs()) return;
      // Not placed: tried again at its next batch, and meanwhile on a timer, since a kept seek at the log's end gets
      // no batch; never read from a position nobody chose.
      toReposition.add(key);
      log.warn({ err: error, topic, partition }, 'could not read the committed offset of a partition given back; trying again');
      setTimeout(() => {
        if (stillOurs() && toReposition.has(key)) void repositionAtCommitted(topic, partition, join);
      }, REPOSITION_RETRY_MS).unref();
    }
  };

  /**
   * One commit at a time, and an offset counts as committed only once the
   * broker took it: a failed commit is sent again by the next one, and two
   * commits in flight cannot land out of order.
   */
  let committing: Promise<void> | null = null;
  const commitOnce = async (): Promise<void> => {
    if (!consumer) return;
    const planned: Array<[PartitionState, PlannedCommit]> = [];
    for (const state of partitions.values()) {
      if (state.resend && !(await settleResend(state))) continue;
      const next = planCommit(state, now());
      if (next) planned.push([state, next]);
    }
    // Dropped as stale, or taken away, while the others were checked.
    const current = planned.filter(([state]) => !state.revoked);
    if (current.length === 0) return;
    const join = joins;
    try {
      await consumer.commitOffsets(current.map(([state, next]) => ({ topic: state.topic, partition: state.partition, offset: next.offset.toString(), metadata: next.progress })));
      for (const [state, next] of current) recordCommitted(state, next, now(), join !== joins);
    } catch (error) {
      log.warn({ err: error }, 'offset commit failed; the next commit sends it again');
    }
  };
  /**
   * A partition kept across a rejoin sends its last commit again only if the group does not have it: kafkajs may
   * have dropped it. It may also have landed; or the group may be past it, the partition another member's for a
   * while (this one out of the group: a session timeout, the process paused or starved) whose commits moved on.
   * Then what this member holds of the partition is stale: kept, its commits would move the group's offset back,
   * and tasks the other member finished would be sent again after a restart.
   */
  const settleResend = async (state: PartitionState): Promise<boolean> => {
    // What this member would have the group at: its last commit, or (none yet) the lowest offset it has not finished.
    const ours = state.committed ?? committableOffset(state);
    if (ours === null) {
      state.resend = false;
      return true;
    }
    const join = joins;
    try {
      const group = await committedAtAssignment(state.partition);
      // Read for an earlier join than the one now (a rejoin while the read was under way): unknown, asked again.
      if (join !== joins) return false;
      if (!group || state.revoked) return true;
      const groupOffset = BigInt(group.offset);
      if (groupOffset < 0n) return true;
      // The same offset with another member's progress above it is that member's commit too.
      const sameProgress = (group.metadata || null) === (state.committedProgress || null);
      if (groupOffset > ours || (groupOffset === ours && state.committed !== null && !sameProgress)) dropStale(state, groupOffset);
      else if (groupOffset === ours) state.resend = false;
      return true;
    } catch {
      // Unknown: not committed until known (the next tick asks again), or a stale commit could move the group back.
      return false;
    }
  };

  /** Forgets a partition's stale state and reads it again from the group's committed offset (see settleResend). */
  const dropStale = (state: PartitionState, groupOffset: bigint): void => {
    const key = partitionKey(state.topic, state.partition);
    log.warn(
      { topic: state.topic, partition: state.partition, committedHere: String(state.committed), committedByGroup: String(groupOffset) },
      'another member committed this partition further while this one was out of the group; reading it again from the group\'s offset',
    );
    // As if it had been taken away.
    forgetPartition(key, state);
    // A batch of it under way (waiting for backpressure to ease) ends untaken: its end must not mark its records
    // seen in the state that comes next, which reads from the group's offset, below them.
    batchesLeft.add(key);
    // Stopping: nothing more is read (see seek).
    if (stopping) return;
    // Placed now, not at its next batch: a partition with nothing new to read would get none.
    void repositionAtCommitted(state.topic, state.partition);
    // Paused until a task came due, it would fetch nothing from there.
    resumeNow(state);
  };
  const commit = async (): Promise<void> => {
    // After a commit under way, commit again whatever moved meanwhile.
    while (committing) await committing;
    committing = commitOnce().finally(() => (committing = null));
    await committing;
  };

  /** Whether a webhook has tasks waiting in Kafka in any partition this instance reads. */
  const hasDeferred = (webhookId: string): boolean => {
    for (const state of partitions.values()) if (state.deferred.has(webhookId)) return true;
    return false;
  };

  const partitionState = (topic: string, partition: number): PartitionState => {
    const key = partitionKey(topic, partition);
    let state = partitions.get(key);
    if (!state) {
      state = newPartitionState(topic, partition, now(), shutdown.signal);
      partitions.set(key, state);
    }
    return state;
  };

  /** Why reading a partition waits, counted per topic so SREs see what holds a deliverer's reading back. */
  const readWaitsOf = {
    not_due: readWaits.labels({ topic: deps.topic, reason: 'not_due' }),
    deferred_full: readWaits.labels({ topic: deps.topic, reason: 'deferred_full' }),
    buffer_pressure: readWaits.labels({ topic: deps.topic, reason: 'buffer_pressure' }),
  };

  /** Stops reading a partition for a while (until its next task is due, say), without holding anything else up. */
  const pauseFor = (key: string, ms: number, pause: EachBatchPayload['pause'], reason: keyof typeof readWaitsOf): void => {
    // Stopping: the whole topic is paused (see stop); pausing one partition would have kafkajs resume the others.
    if (stopping) return;
    readWaitsOf[reason].inc();
    const resume = pause();
    clearTimeout(resumeTimers.get(key));
    resumeTimers.set(key, setTimeout(() => {
      resumeTimers.delete(key);
      resume();
    }, ms));
  };

  /** Stops fetching the topic (stopping: see stop and handleBatch). */
  const pauseTopic = (): void => {
    try {
      consumer?.pause([{ topic: deps.topic }]);
    } catch (error) {
      // kafkajs gave up on the consumer, or is between its runs (a crash and restart): nothing is fetched to pause,
      // and the stop goes on, so tasks under way finish and what finished is committed. A restarted run is paused
      // as it joins, or at its first batch.
      log.debug({ err: error }, 'consumer not running; nothing to pause');
    }
  };

  const handleBatch = async ({ batch, heartbeat, resolveOffset, pause, isStale }: EachBatchPayload): Promise<void> => {
    const key = partitionKey(batch.topic, batch.partition);
    // Stopping, yet fetching: kafkajs restarted a consumer that had crashed, unpaused, after the stop paused it (or
    // could not, between its runs). Nothing more is taken; its records are the next owner's.
    if (stopping) {
      batchesLeft.add(key);
      pauseTopic();
      return;
    }
    if (toReposition.delete(key)) {
      // Whatever this batch holds, reading starts again at the committed offset (see `sought`).
      batchesLeft.add(key);
      // Heartbeating: the admin's round trips may take a while, and the member would lose every partition meanwhile.
      await heartbeatWhile(heartbeat, () => repositionAtCommitted(batch.topic, batch.partition));
      return;
    }
    const state = partitionState(batch.topic, batch.partition);
    // Kept across a rejoin: not stale (see settleResend), or the batch is not taken and reading starts again. A
    // commit under way is awaited first: landed but not yet recorded, it would make the group look ahead of us.
    if (state.resend) {
      await committing;
      await heartbeatWhile(heartbeat, () => settleResend(state));
      if (state.revoked) {
        batchesLeft.add(key);
        return;
      }
    }
    // The first batch here starts at the committed offset, which the progress read now belongs to.
    if (state.resumed === undefined) state.resumed = await heartbeatWhile(heartbeat, () => committedProgress(state));
    // Fetched before this partition's last seek, which kafkajs has not applied yet: the batch goes on from where
    // reading was, as if the pass the seek started (see readDeferredAgain) had ended. Its records come again later.
    if (isStale()) {
      batchesLeft.add(key);
      return;
    }
    let lastTaken: string | null = null;
    for (const message of batch.messages) {
      const offset = BigInt(message.offset);
      const webhookId = message.key?.toString() ?? '';
      // After a rebalance kafkajs fetches again from the committed offset; what is already queued stays queued once.
      if (!state.tracker.seen(offset)) {
        if (state.resumed) {
          if (offset >= state.resumed.until) state.resumed = null;
          else if (!state.resumed.unfinished.has(offset)) {
            // Finished by the previous owner, after a task that held the committed offset back: not sent again.
            state.tracker.skipTo(offset + 1n);
            lastTaken = message.offset;
            continue;
          }
        }
        const wait = deps.dueAt ? deps.dueAt(message) - now() : 0;
        if (wait > 0) {
          // Tasks of one topic share one delay (within its jitter, see nextRetry), so they come due about in offset
          // order: the rest of the batch waits too, and is fetched again from here once the partition resumes.
          state.waitingAt = offset;
          pauseFor(key, wait, pause, 'not_due');
          break;
        }
        if (deferredCount >= deps.maxDeferred) {
          // Too many left in Kafka already: new tasks wait (passes reading deferred ones go on meanwhile).
          state.waitingAt = offset;
          pauseFor(key, DEFERRED_FULL_RECHECK_MS, pause, 'deferred_full');
          break;
        }
        state.waitingAt = null;
        state.refetchFrom = null;
        // Behind a task of its webhook left in Kafka, a task must be left there too, to keep the webhook's order.
        const behindDeferred = state.deferred.has(webhookId);
        if (!behindDeferred && hasRoom(webhookId)) {
          state.tracker.add(offset);
          scheduler.enqueue(webhookId, { state, offset, webhookId, message, late: false });
        } else {
          if (!behindDeferred && state.pressureWaitAt !== offset
            && refusedByPressureOnly(limits, scheduler.backlogOf(webhookId), scheduler.pressing, held.countIfHeld(webhookId))) {
            // Refused only because the buffer is nearly full: the partition waits a moment for it to drain, once per
            // task. In a healthy backlog every webhook's queue reaches its smaller part, and leaving each task in Kafka
            // read 70 % of a 100,000-task backlog twice; a webhook that is stuck without being held (a slow endpoint
            // with DELIVERER_SLOW_REQUEST_MS at 0) costs its partition this wait, then its task is left in Kafka.
            state.pressureWaitAt = offset;
            state.waitingAt = offset;
            pauseFor(key, PRESSURE_WAIT_MS, pause, 'buffer_pressure');
            break;
          }
          state.deferred.defer(webhookId, offset);
          countDeferred(1);
          state.tracker.skipTo(offset + 1n);
        }
      } else {
        if (state.refetchFrom !== null && offset > state.passAt) state.passAt = offset;
        // Read again: a deferred task whose webhook has room now joins its queue.
        if (state.deferred.nextOf(webhookId) === offset && hasRoom(webhookId)) {
          state.deferred.take(webhookId, offset);
          countDeferred(-1);
          tasksReadAgain.inc();
          scheduler.enqueue(webhookId, { state, offset, webhookId, message, late: true });
        }
      }
      lastTaken = message.offset;
    }
    if (state.refetchFrom !== null) endPassWhenServed(state);
    // The next fetch starts after what was taken (the last record of a batch also covers the marker after it).
    if (lastTaken !== null) resolveOffset(lastTaken);
    await heartbeat();
    // Backpressure: a backlog of millions must not become millions of tasks in memory, nor of attempt records
    // waiting for Kafka to take them.
    if (scheduler.pressing > deps.maxBuffered) {
      // Held webhooks' queues go back to Kafka first: waiting for them to drain could take minutes.
      held.shrinkAll();
      await easing(scheduler.pressingBelow(deps.maxBuffered), heartbeat);
    }
    if (pendingLogs.value > deps.maxBuffered) await easing(pendingLogs.below(deps.maxBuffered), heartbeat);
  };

  /**
   * Waits for backpressure to ease, heartbeating meanwhile: the batch holds the consumer's only worker, and a wait
   * past the session timeout (every slot on a slow endpoint, Kafka refusing the attempt log) would have the group
   * drop this member and hand its partitions to another. Ends at a stop too: the stop's own drain takes over, and
   * the consumer can leave the group rather than wait for a batch that waits on the attempt log the stop closes.
   */
  const easing = async (eased: Promise<void>, heartbeat: () => Promise<void>): Promise<void> => {
    let done = false;
    let wake: (() => void) | null = null;
    // One reaction on the promise however long the wait, and one timer at a time.
    void eased.then(() => {
      done = true;
      wake?.();
    });
    while (!done && !stopping) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, EASING_CHECK_MS);
      });
      clearTimeout(timer);
      // kafkajs sends a heartbeat only once its interval has passed since the last one.
      if (!done && !stopping) await heartbeat();
    }
  };

  return {
    async start() {
      consumer = createGroupConsumer(deps.kafka, {
        groupId: deps.groupId, sessionTimeoutMs: deps.sessionTimeoutMs, maxBytesPerPartition: deps.fetchMaxBytesPerPartition, onGivenUp: deps.onFatal,
        // Made at start-up (a retired tier's found there): an operator deleting a drained tier's topic must not see it come back.
        allowAutoTopicCreation: false,
        // A pass reading deferred tasks again starts with the next fetch, after the one waiting at the partition's end:
        // a shorter wait there lets a webhook with deferred tasks go on sooner. Retry tiers are not in a hurry.
        maxWaitMs: deps.dueAt ? undefined : PASS_FETCH_WAIT_MS,
      });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        assigned = assignedPartitionKeys(payload.memberAssignment);
        committedAtJoin = null;
        joins += 1;
        // Rejoined after a crash during the stop: kafkajs's new run is not paused (see handleBatch).
        if (stopping) pauseTopic();
        for (const [key, state] of partitions) {
          if (!assigned.has(key)) {
            // Another instance owns it now: drop queued work, end what only waits, never commit for it again.
            forgetPartition(key, state);
          } else state.resend = true;
        }
        for (const key of sought) {
          // Given back (assigned, with no state of this owner): a seek kafkajs kept from before would place it.
          if (assigned.has(key) && !partitions.has(key)) {
            toReposition.add(key);
            // Placed now, not at its first batch: a seek kept to the log's end fetches nothing until a new task comes,
            // which on a quiet partition (a long retry tier) is hours, and the tasks below it wait that long. Its
            // first batch, from wherever, is still left untaken and placed again (one fetch more). It stays among the
            // sought: a placing skipped or failed here is made again by the next rejoin that gives it back.
            const { topic, partition } = partitionOfKey(key);
            if (!stopping) void repositionAtCommitted(topic, partition);
          }
        }
        held.forgetIdle(hasDeferred);
      });
      // Records past a batch's last task (the transaction's commit marker, aborted tasks) are no work: the committed
      // offset moves past them, or a drained partition would show a lag of one. Done here, once a batch is processed,
      // because kafkajs reports every batch but hands over none that held only a marker or aborted tasks. A batch
      // without records says nothing: its last offset is the high watermark, which in read_committed mode may lie
      // beyond tasks of a transaction still open.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const key = partitionKey(payload.topic, payload.partition);
        // A batch handleBatch left untaken: its records are read again, and nothing past them is known yet. Nor is
        // anything known of a partition given back before it is put at its committed offset: a batch of only markers
        // (which kafkajs reports without handing it over) may come from a seek kept from before.
        if (batchesLeft.delete(key) || toReposition.has(key)) return;
        if (payload.firstOffset === null) return;
        // Never for a partition this instance does not own: committing for it would move another owner's offset.
        if (!assigned.has(key)) return;
        const state = partitionState(payload.topic, payload.partition);
        // Reading stopped at a task not due yet: what lies past it is not skipped, it is still to come.
        if (state.waitingAt !== null) return;
        state.tracker.skipTo(BigInt(payload.lastOffset) + 1n);
      });
      // A consumer reads one topic, so every fetch it makes is that topic's. The series exists from the start, at 0.
      const fetched = fetchedBytes.labels({ topic: deps.topic });
      fetched.inc(0);
      for (const waits of Object.values(readWaitsOf)) waits.inc(0);
      consumer.on(consumer.events.REQUEST, ({ payload }) => {
        if (payload.apiName === 'Fetch') fetched.inc(payload.size);
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [deps.topic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: handleBatch });
      commitTimer = setInterval(() => {
        // A slow commit is not queued behind: the next tick after it commits what moved.
        if (!committing) void commit();
      }, COMMIT_INTERVAL_MS);
      log.info({ topic: deps.topic, groupId: deps.groupId }, 'deliverer consuming');
    },
    async stop() {
      if (!consumer) return;
      // Stop fetching, finish requests under way and the gaps below them (bounded), commit what finished, then leave the group.
      stopping = true;
      pauseTopic();
      // A partition's pause ending now would resume reading during the drain.
      for (const timer of resumeTimers.values()) clearTimeout(timer);
      resumeTimers.clear();
      // Requests under way finish, and their outcomes are written (tried once, not again); what only
      // waits (a strict webhook's retry in place, a pause before trying a write again) ends now, its task left
      // uncommitted for the next owner, rather than holding the drain until its timeout.
      shutdown.abort(new Error('shutting down'));
      // Finished means sent and in the attempt log: without the second wait, tasks sent in the
      // last linger window would stay uncommitted and be sent again after a restart.
      const drained = await Promise.race([
        scheduler.idle().then(() => pendingLogs.below(0)).then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), deps.drainTimeoutMs).unref()),
      ]);
      if (!drained) log.warn({ buffered: scheduler.buffered }, 'shutdown: unfinished deliveries are left uncommitted and will be redelivered');
      clearInterval(commitTimer);
      await commit();
      held.clear();
      // What it left in Kafka is the next owner's now. The gauge is the process's: where deliverers start and stop
      // within one process (tests, the benchmark), a stopped one's count would stay in it for good.
      for (const state of partitions.values()) countDeferred(-state.deferred.clear());
      await consumer.disconnect();
      const client = await admin?.catch(() => null);
      await client?.disconnect();
      admin = null;
      consumer = null;
    },
  };
}
