import type { Logger } from '../observability/logger.js';
import { heldWebhooks } from '../observability/metrics.js';
import type { Aside, KeyedScheduler } from './keyed-scheduler.js';
import { giveBack, type PartitionState } from './partition-state.js';
import { roomFor, type QueueLimits } from './queue-limits.js';

/** What a deliverer queues for a task: enough to leave it in Kafka again. */
export interface QueuedTask {
  state: PartitionState;
  offset: bigint;
  webhookId: string;
  /** Deferred, then read again: it finishes in the partition's deferrals, not its tracker. */
  late: boolean;
}

/**
 * Webhooks whose endpoint holds them: their last task waited aside (a
 * request past DELIVERER_SLOW_REQUEST_MS, a strict webhook waiting out a
 * retry). Such a webhook moves a task per DELIVERER_SLOW_REQUEST_MS at best,
 * so held webhooks share half the buffer (see queue-limits.ts), and the
 * tasks one queued before it was held go back to Kafka, to be read again as
 * it moves. Without that, the tasks queued before an endpoint slowed down
 * (up to the webhook's cap) stay buffered for as long as they take to send,
 * and enough held webhooks fill the buffer and stop reading for every other
 * one. A webhook is held until a task of it finishes without waiting aside,
 * or it has nothing left to send here.
 */
export interface HeldWebhooks {
  has(webhookId: string): boolean;
  /** How many webhooks are held, itself included, for a held webhook; 0 for one that is not (see queue-limits.ts). */
  countIfHeld(webhookId: string): number;
  /**
   * The aside to run a task with: its first wait marks the webhook held and gives back what it queued past its
   * room (over a full buffer, what every held webhook queued past its room, as each hold makes every part smaller).
   * `finished` says the task is over (before the scheduler counts it out): not having waited aside, it ends the
   * hold; nor is a webhook kept held with nothing left to send, so the set stays as small as the buffer.
   */
  watch(task: QueuedTask, aside: Aside): { aside: Aside; finished(): void };
  /** Gives back what every held webhook queued past its room now (the buffer is full: reading would wait for them). */
  shrinkAll(): void;
  /**
   * Forgets held webhooks with nothing queued here and nothing `waiting` in Kafka (their partitions went to another
   * owner): they would otherwise shrink every other held webhook's part of the buffer.
   */
  forgetIdle(waiting: (webhookId: string) => boolean): void;
  /** Forgets one webhook (a task of a partition gone to another owner reached its turn). */
  forget(webhookId: string): void;
  /** Forgets them all (the deliverer stopped). */
  clear(): void;
}

export interface HeldWebhooksDeps<T extends QueuedTask> {
  scheduler: Pick<KeyedScheduler<T>, 'takeBack' | 'enqueue' | 'pressing' | 'backlogOf'>;
  limits: QueueLimits;
  /** Each task given back, now waiting in Kafka. */
  onGivenBack: () => void;
  log: Logger;
}

export function createHeldWebhooks<T extends QueuedTask>(deps: HeldWebhooksDeps<T>): HeldWebhooks {
  const { scheduler, limits } = deps;
  const held = new Set<string>();
  const hold = (webhookId: string): void => {
    if (held.has(webhookId)) return;
    held.add(webhookId);
    heldWebhooks.inc();
  };
  const release = (webhookId: string): void => {
    if (held.delete(webhookId)) heldWebhooks.dec();
  };

  const shrink = (webhookId: string): void => {
    const excess = scheduler.takeBack(webhookId, roomFor(limits, scheduler.pressing, held.size));
    // Latest first: each joins its partition's deferred tasks just before those still in Kafka.
    for (let i = excess.length - 1; i >= 0; i -= 1) {
      const task = excess[i]!;
      // Revoked: its next owner reads it from the committed offset.
      if (task.state.revoked) continue;
      if (!giveBack(task.state, task.webhookId, task.offset, task.late)) {
        // Never expected; the rest stay queued, in order, ahead of those already given back.
        deps.log.error({ webhookId, offset: String(task.offset) }, 'a queued task could not be left in Kafka; the webhook keeps the rest queued');
        for (const rest of excess.slice(0, i + 1)) scheduler.enqueue(webhookId, rest);
        return;
      }
      deps.onGivenBack();
    }
  };

  const shrinkAll = (): void => {
    for (const webhookId of held) shrink(webhookId);
  };

  return {
    has: (webhookId) => held.has(webhookId),
    countIfHeld: (webhookId) => (held.has(webhookId) ? held.size : 0),
    watch({ webhookId, state }, aside) {
      let wentAside = false;
      return {
        aside: (waiting) => {
          if (!wentAside) {
            wentAside = true;
            hold(webhookId);
            // Each hold makes every held webhook's part smaller. Over a full buffer reading waits, and only the held
            // webhooks' queues can shrink it while nothing is answered: those held earlier, at a larger part, too.
            if (scheduler.pressing > limits.maxBuffered) shrinkAll();
            else shrink(webhookId);
          }
          return aside(waiting);
        },
        finished: () => {
          // A backlog of one is the task finishing. Should more of its tasks come, it is held again at their first wait.
          if (!wentAside || (scheduler.backlogOf(webhookId) <= 1 && !state.deferred.has(webhookId))) release(webhookId);
        },
      };
    },
    shrinkAll,
    forgetIdle(waiting) {
      for (const webhookId of held) if (scheduler.backlogOf(webhookId) === 0 && !waiting(webhookId)) release(webhookId);
    },
    forget: release,
    clear() {
      heldWebhooks.dec(held.size);
      held.clear();
    },
  };
}
