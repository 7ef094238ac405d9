import type { KafkaMessage } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import type { Kafka } from '../kafka/client.js';
import type { Admin } from 'kafkajs';
import { holdsRecordsSince, readByGroup, retiredTierLabels, retryTopic, withAdmin } from '../kafka/topics.js';
import type { Logger } from '../observability/logger.js';
import { createDeliverer, type Deliverer, type DelivererDeps } from './deliverer.js';

/** The header a retried task carries: when it is due, in ms since the epoch (see task-handler). */
export const RETRY_DUE_AT_HEADER = 'retry.due-at';

/**
 * The furthest ahead of its writing a valid configuration dates a retry: 3 days (the longest delay or Retry-After
 * config allows), doubled by the largest jitter, and a day to spare for clocks.
 */
export const LATEST_PLAUSIBLE_DUE_MS = 7 * 24 * 3600 * 1000;

/**
 * When a retry tier's record is due; a record without the header is due at once. So is one dated further ahead of
 * its writing (the record's timestamp) than any configuration writes: a damaged or hand-made header, seconds taken
 * for milliseconds. Its partition would wait on it for good, every task behind it too, and past 24.8 days the pause's
 * timer fires at once, so the partition would be paused and resumed in a busy loop. Sent early, the task is only
 * retried sooner than planned. Judged from the record's own time, the answer is the same on every read; one whose
 * timestamp agrees (a writer's clock far ahead) is judged from now.
 */
export function retryDueAt(message: KafkaMessage, now = Date.now()): number {
  const dueAt = Number(message.headers?.[RETRY_DUE_AT_HEADER]?.toString() ?? 0) || 0;
  const writtenAt = Number(message.timestamp) || 0;
  if (dueAt - writtenAt > LATEST_PLAUSIBLE_DUE_MS) return writtenAt;
  // Written by a process whose clock was far ahead (its timestamp agrees with the due time): as far from now.
  return dueAt - now > LATEST_PLAUSIBLE_DUE_MS ? now : dueAt;
}

/**
 * One retry tier: a deliverer of its tier's topic whose tasks wait until
 * due. Tasks in a tier share one delay, so they come due in offset order: a
 * partition whose next task is not due yet is paused until it is, rather
 * than slept on, so other partitions go on. Due tasks join their webhook's
 * queue as first attempts do, so a slow or dead endpoint in a tier holds up
 * only its own webhook, not the tasks behind it in the partition (handled
 * inline, one endpoint answering after 15 s held every task behind it, and
 * kafkajs fetches nothing more for the tier until every batch of a fetch is
 * done). Offsets are committed past the finished prefix, as the deliverer's.
 */
export function createRetryTier(deps: Omit<DelivererDeps, 'dueAt'>): Deliverer {
  const now = deps.now ?? Date.now;
  return createDeliverer({ ...deps, dueAt: (message) => retryDueAt(message, now()) });
}

/** The consumer group of a retry tier's deliverers. */
export function tierGroupId(config: Readonly<ConnectorConfig>, label: string): string {
  return `${config.deliverer.groupId}.retry.${label}`;
}

/**
 * The tiers dropped from DELIVERER_RETRY_DELAYS_MS whose topics were written to in the last week (the furthest ahead
 * any retry is due): their tasks are due all the same, and during a rolling deploy processes on the old schedule still
 * write to them, so they are drained whatever their group's offset says now. One quiet for longer is left alone (its
 * topic may be deleted): reading it would send again what its group's offsets, expired after a week without members,
 * no longer say was sent.
 */
export async function retiredTiersToDrain(kafka: Kafka, config: Readonly<ConnectorConfig>, log: Logger): Promise<string[]> {
  const retired: string[] = [];
  await withAdmin(kafka, async (admin) => {
    for (const label of retiredTierLabels(config, await admin.listTopics())) {
      if (await holdsRecordsSince(admin, retryTopic(config, label), Date.now() - LATEST_PLAUSIBLE_DUE_MS)) retired.push(label);
      else await reportLeftAlone(admin, config, label, log);
    }
  });
  if (retired.length > 0) {
    log.warn(
      { topics: retired.map((label) => retryTopic(config, label)) },
      'retry topics of tiers no longer in DELIVERER_RETRY_DELAYS_MS were written to this week: draining them too (their tasks are due all the same); a week after the last, a restart leaves them alone and they may be deleted',
    );
  }
  return retired;
}

/**
 * A retired tier's topic left alone: said at info when its group read all of it; as a warning otherwise, naming how
 * many tasks its group never read (past its committed offsets: they will not be sent unless an operator copies them
 * on) or how many it cannot tell of (no committed offset: never read, or expired). A failure to tell is a warning
 * too: it must not stop the deliverer starting.
 */
async function reportLeftAlone(admin: Admin, config: Readonly<ConnectorConfig>, label: string, log: Logger): Promise<void> {
  const topic = retryTopic(config, label);
  const groupId = tierGroupId(config, label);
  let read: { unread: bigint; unknown: bigint };
  try {
    read = await readByGroup(admin, groupId, topic);
  } catch (error) {
    log.warn({ err: error, topic, groupId }, 'retry topic of a tier no longer in DELIVERER_RETRY_DELAYS_MS has had no task for a week: left alone; could not read what its group read of it');
    return;
  }
  const { unread, unknown } = read;
  if (unread === 0n && unknown === 0n) {
    log.info({ topic }, 'retry topic of a tier no longer in DELIVERER_RETRY_DELAYS_MS has had no task for a week and its group read all of it; left alone, it may be deleted');
    return;
  }
  log.warn(
    { topic, groupId, unreadTasks: Number(unread), tasksOfUnknownState: Number(unknown) },
    'retry topic of a tier no longer in DELIVERER_RETRY_DELAYS_MS has had no task for a week and is left alone (reading it again would send what its group\'s expired offsets no longer say was sent): unreadTasks lie past its group\'s committed offsets and will not be sent unless copied by hand to a current retry topic; tasksOfUnknownState are in partitions where the group has no committed offset, so whether they were sent cannot be told (README, "Changing the retry schedule")',
  );
}
