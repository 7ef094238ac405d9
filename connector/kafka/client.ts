import { useFastCrc32cInKafkajs } from './crc32c.js'; // before kafkajs: its record batch encoder takes our checksum only if it is in place when kafkajs loads
import { Kafka, logLevel, type Consumer, type KafkaConfig, type Producer, type ProducerConfig, type SASLOptions } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import type { Logger } from '../observability/logger.js';
import { consumerCrashes } from '../observability/metrics.js';
import { createRepeatLimiter, type RepeatLimiter } from '../observability/repeat-limiter.js';
import { fatal } from '../errors.js';
import { cacheCoordinatorLookups } from './coordinator-cache.js';
import { memoizedKeyPartitioner } from './partitioner.js';
import { filterAbortedTransactions } from './read-committed.js';
import { stopIdleRequestQueueTimers } from './request-queue-timer.js';

export type { Kafka } from 'kafkajs';

/**
 * kafkajs logs every failed request at ERROR, retriable ones included (a
 * coordinator still loading, a leader moving). Real failures reach us as
 * thrown errors, which we log; its own lines go one level down.
 */
const PINO_LEVEL: Record<number, 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'warn',
  [logLevel.WARN]: 'info',
  [logLevel.INFO]: 'debug',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Broker answers that are part of normal operation, retried by kafkajs and
 * by us, which kafkajs logs as failures all the same. CONCURRENT_TRANSACTIONS
 * answers a transaction begun while the broker still writes the previous
 * one's markers: a router meets it many times a minute.
 */
const ROUTINE_RETRIES = [/concurrent operation on the same transaction/];

/** The pino level of a kafkajs log line. */
export function kafkaLogLevel(level: number, entry: { message?: unknown; error?: unknown }): 'warn' | 'info' | 'debug' {
  const text = `${String(entry.message ?? '')} ${String(entry.error ?? '')}`;
  if (ROUTINE_RETRIES.some((pattern) => pattern.test(text))) return 'debug';
  return PINO_LEVEL[level] ?? 'debug';
}

/** How long a kafkajs warning that repeats is held back after it was written (see RepeatLimiter). */
export const REPEATED_WARNING_WINDOW_MS = 10_000;

/**
 * kafkajs logs through pino, so its lines carry the same fields and
 * redaction. Warnings that repeat are limited: a client that lost its broker
 * logs the same connection error several times a second per connection, and
 * a 26 s broker outage wrote hundreds of identical lines per process. The
 * first is written, then one per window with the number held back.
 */
export function kafkaLogCreator(kafkaLog: Logger, limiter: RepeatLimiter): NonNullable<KafkaConfig['logCreator']> {
  return () => ({ namespace, level, log: entry }) => {
    const { message, ...extra } = entry;
    const pinoLevel = kafkaLogLevel(level, entry);
    let heldBack = 0;
    if (pinoLevel === 'warn') {
      const admitted = limiter.admit(`${namespace}\u0000${String(message)}\u0000${String(entry.error ?? '')}`);
      if (!admitted.write) return;
      heldBack = admitted.heldBack;
    }
    kafkaLog[pinoLevel]({ namespace, ...extra, ...(heldBack > 0 ? { repeatsHeldBack: heldBack } : {}) }, message);
  };
}

/** All Kafka access starts here, so the client library can be swapped in one place. */
export function createKafka(config: ConnectorConfig['kafka'], log: Logger, clientSuffix = ''): Kafka {
  const kafkaLog = log.child({ component: 'kafkajs' });
  const sasl: SASLOptions | undefined = config.sasl.mechanism
    ? ({ mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions)
    : undefined;
  const options: KafkaConfig = {
    clientId: clientSuffix ? `${config.clientId}-${clientSuffix}` : config.clientId,
    brokers: config.brokers,
    ssl: config.ssl,
    connectionTimeout: config.connectionTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(kafkaLog, createRepeatLimiter(REPEATED_WARNING_WINDOW_MS)),
  };
  if (sasl) options.sasl = sasl;
  const kafka = new Kafka(options);
  if (!filterAbortedTransactions(kafka)) throw fatal('KAFKAJS_UNSUPPORTED', 'kafkajs internals changed: aborted transactions cannot be filtered correctly, so read_committed consumers would see aborted tasks; keep kafkajs at the version in package-lock.json');
  if (!cacheCoordinatorLookups(kafka)) kafkaLog.warn('kafkajs internals changed: coordinator lookups are not cached, each transaction makes four more round trips');
  if (!useFastCrc32cInKafkajs()) kafkaLog.warn('kafkajs was loaded before connector/kafka/crc32c.ts or its internals changed: record batches are checksummed a byte at a time');
  if (!stopIdleRequestQueueTimers()) kafkaLog.warn('kafkajs internals changed: every broker connection keeps a 1 ms timer running while idle');
  return kafka;
}

/**
 * How long a fetch may wait at the broker for new records. Short, because a
 * consumer leaving the group waits for its pending fetch, and shutdown
 * should be quick; an idle fetch a second costs the broker nothing.
 */
export const CONSUMER_MAX_WAIT_MS = 1000;

/**
 * A group member reading only committed records, as every consumer of the
 * connector does, its crashes counted. kafkajs restarts a consumer by itself
 * after a crash it deems retriable. After any other (a non-retriable broker
 * answer, an error thrown from the batch handler) it disconnects the
 * consumer and stays silent: the process would keep running, healthy to
 * every probe, and consume nothing. `onGivenUp` hears of such a crash, and
 * the component rejoins or stops the process.
 */
export function createGroupConsumer(kafka: Kafka, options: {
  groupId: string; sessionTimeoutMs: number; maxWaitMs?: number; maxBytesPerPartition?: number; onGivenUp: (error: Error) => void;
  /** False where the topics are made at start-up: a topic deleted while subscribed must not come back empty. */
  allowAutoTopicCreation?: boolean;
}): Consumer {
  const consumer = kafka.consumer({
    groupId: options.groupId, sessionTimeout: options.sessionTimeoutMs, readUncommitted: false, maxWaitTimeInMs: options.maxWaitMs ?? CONSUMER_MAX_WAIT_MS,
    ...(options.allowAutoTopicCreation === undefined ? {} : { allowAutoTopicCreation: options.allowAutoTopicCreation }),
    ...(options.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: options.maxBytesPerPartition }),
  });
  // Both series exist from the start, at 0: a rate over a series that appears with its first crash misses that crash.
  const restarted = consumerCrashes.labels({ group: options.groupId, restarted: 'true' });
  const givenUp = consumerCrashes.labels({ group: options.groupId, restarted: 'false' });
  restarted.inc(0);
  givenUp.inc(0);
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return restarted.inc();
    givenUp.inc();
    options.onGivenUp(payload.error);
  });
  return consumer;
}

/**
 * Producers partition by key with the Java client's murmur2 hash, so a
 * webhook's tasks land on the same partition whichever client wrote them
 * (remembered per key: see memoizedKeyPartitioner).
 */
export function createProducer(kafka: Kafka, options: Omit<ProducerConfig, 'createPartitioner'> = {}): Producer {
  return kafka.producer({ ...options, createPartitioner: memoizedKeyPartitioner });
}
