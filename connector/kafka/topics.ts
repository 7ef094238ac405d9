import type { Admin, ConfigResourceTypes, Kafka } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import { tierLabels } from '../delivery/retry-schedule.js';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries?: { name: string; value: string }[];
}

/**
 * The largest message each of the connector's topics takes, from the task
 * limit. A task becomes bigger on every hop after the deliveries topic: a
 * retry or a dead letter is the task plus headers; an attempt record is its
 * event plus the request frame and up to 64 KiB of response; a refused
 * attempt row's dead letter holds the payload twice (in the event and in the
 * request body). Each hop's topic has room for what the hop before can
 * produce, so a task the deliveries topic took is never refused further on,
 * where it could only be retried forever.
 */
export function topicMessageLimits(config: ConnectorConfig): { deliveries: number; downstream: number; attemptsDlq: number } {
  const task = config.topics.deliveriesMaxMessageBytes;
  return { deliveries: task, downstream: 2 * task, attemptsDlq: 4 * task };
}

const maxMessageBytes = (bytes: number): TopicSpec['configEntries'] => [{ name: 'max.message.bytes', value: String(bytes) }];

/** The topics the connector owns (source topics belong to the identity platform). */
export function connectorTopics(config: ConnectorConfig): TopicSpec[] {
  const { topics } = config;
  const limits = topicMessageLimits(config);
  const downstream = maxMessageBytes(limits.downstream);
  return [
    { topic: topics.deliveries, numPartitions: topics.deliveriesPartitions, configEntries: maxMessageBytes(limits.deliveries) },
    { topic: topics.ingestDlq, numPartitions: 1, configEntries: downstream },
    { topic: topics.deliveriesDlq, numPartitions: 1, configEntries: downstream },
    { topic: topics.attempts, numPartitions: topics.deliveriesPartitions, configEntries: downstream },
    { topic: topics.attemptsDlq, numPartitions: 1, configEntries: maxMessageBytes(limits.attemptsDlq) },
    ...retryTopics(config).map((topic) => ({ topic, numPartitions: topics.deliveriesPartitions, configEntries: downstream })),
  ];
}

/** One retry topic per distinct delay of the schedule, e.g. `webhooks.deliveries.retry.5m`. */
export function retryTopics(config: ConnectorConfig): string[] {
  return tierLabels({ delaysMs: config.deliverer.retryDelaysMs, jitter: 0, maxRetryAfterMs: 0 }).map((label) => retryTopic(config, label));
}

export function retryTopic(config: ConnectorConfig, tierLabel: string): string {
  return `${config.topics.retryPrefix}.${tierLabel}`;
}

/** A tier's label as tierLabel writes it: `5s`, `5m`, `2h`, `1500ms`. */
const TIER_LABEL = /^[1-9]\d*(?:ms|s|m|h)$/;

/**
 * The labels of retry topics among `existing` whose tier is no longer in the
 * schedule (a delay changed or dropped since they were made). Their tasks
 * are due all the same, and nothing else reads them: a deliverer drains
 * them, or they would sit until the topic's retention deleted them unsent.
 */
export function retiredTierLabels(config: ConnectorConfig, existing: readonly string[]): string[] {
  const prefix = `${config.topics.retryPrefix}.`;
  const current = new Set(retryTopics(config));
  return existing
    .filter((topic) => topic.startsWith(prefix) && !current.has(topic) && TIER_LABEL.test(topic.slice(prefix.length)))
    .map((topic) => topic.slice(prefix.length))
    .sort();
}

/**
 * Creates missing topics; existing ones are left as they are. Returns the
 * largest message each topic takes now (`max.message.bytes`, the broker's
 * default where the topic sets none), read in the same admin session: an
 * existing topic may take less than its spec asks (see limitShortfalls). A
 * broker that has just started may still answer with retriable errors (an
 * unknown partition, no leader yet) while it loads; those are retried for a
 * while.
 */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[], replicationFactor: number, timeoutMs = 60_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  return withAdmin(kafka, async (admin) => {
    for (;;) {
      try {
        const existing = new Set(await admin.listTopics());
        const missing = specs.filter((spec) => !existing.has(spec.topic));
        if (missing.length > 0) {
          await admin.createTopics({ waitForLeaders: true, topics: missing.map((spec) => ({ ...spec, replicationFactor })) });
        }
        return await messageLimits(admin, specs.map((spec) => spec.topic));
      } catch (error) {
        if (!(error as { retriable?: boolean }).retriable || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  });
}

/** Runs `work` with an admin client connected for it alone. */
export async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/** ConfigResourceTypes.TOPIC: kafkajs is CommonJS, and Node's ESM loader does not find that enum among its named exports. */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

async function messageLimits(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ['max.message.bytes'] })),
  });
  const limits = new Map<string, number>();
  for (const resource of resources) {
    const value = resource.configEntries.find((entry) => entry.configName === 'max.message.bytes')?.configValue;
    if (resource.errorCode === 0 && value !== undefined) limits.set(resource.resourceName, Number(value));
  }
  return limits;
}

export interface LimitShortfall {
  topic: string;
  /** What the topic takes now. */
  maxMessageBytes: number;
  /** What the connector may write to it (see topicMessageLimits). */
  needed: number;
}

/** What a topic takes: the smaller of what the connector sizes it for and what ensureTopics found it made with. */
export function topicTakes(limits: ReadonlyMap<string, number>, topic: string, wanted: number): number {
  return Math.min(wanted, limits.get(topic) ?? Number.POSITIVE_INFINITY);
}

/**
 * Topics that take smaller messages than the connector asks for: made by
 * hand, or by an earlier release, before the connector sized them. ensureTopics
 * leaves existing topics as they are.
 */
export function limitShortfalls(specs: TopicSpec[], limits: ReadonlyMap<string, number>): LimitShortfall[] {
  const shortfalls: LimitShortfall[] = [];
  for (const spec of specs) {
    const wanted = spec.configEntries?.find((entry) => entry.name === 'max.message.bytes');
    const has = limits.get(spec.topic);
    if (wanted && has !== undefined && has < Number(wanted.value)) shortfalls.push({ topic: spec.topic, maxMessageBytes: has, needed: Number(wanted.value) });
  }
  return shortfalls;
}

/** Whether any partition of `topic` holds a record written at or after `since` (ms since the epoch). */
export async function holdsRecordsSince(admin: Admin, topic: string, since: number): Promise<boolean> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  // The first offset written at or after `since`, or the partition's end where none was.
  const firsts = await admin.fetchTopicOffsetsByTimestamp(topic, since);
  return firsts.some((p) => BigInt(p.offset) < (ends.get(p.partition) ?? 0n));
}

/**
 * What the group read of `topic`: records past its committed offset (`unread`), and records of partitions where it
 * has no committed offset (`unknown`: it never read them, or its offsets expired a week after its last member left,
 * so whether they were read cannot be told).
 */
export async function readByGroup(admin: Admin, groupId: string, topic: string): Promise<{ unread: bigint; unknown: bigint }> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const offsets = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  let unread = 0n;
  let unknown = 0n;
  for (const p of await admin.fetchTopicOffsets(topic)) {
    const [low, high] = [BigInt(p.low), BigInt(p.high)];
    const read = offsets.get(p.partition) ?? -1n;
    if (read < 0n) unknown += high - low;
    // A committed offset retention has passed counts from the oldest record left.
    else if (high > read && high > low) unread += high - (read > low ? read : low);
  }
  return { unread, unknown };
}
