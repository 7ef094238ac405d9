import { describe, expect, it } from 'vitest';
import { createHeldWebhooks, type QueuedTask } from '../../connector/delivery/held-webhooks.js';
import { createKeyedScheduler, type Aside } from '../../connector/delivery/keyed-scheduler.js';
import { committableOffset, newPartitionState, type PartitionState } from '../../connector/delivery/partition-state.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { heldWebhooks } from '../../connector/observability/metrics.js';

/** A wait that never ends by itself: the request of a held endpoint. */
const never = new Promise<never>(() => undefined);

/** A deliverer's queueing, without Kafka: each task's run waits until the test ends it. */
function setup(limits = { maxQueuedPerWebhook: 100, maxBuffered: 1000 }) {
  const state = newPartitionState('deliveries', 0, 0, new AbortController().signal);
  const running = new Map<string, { aside: Aside; end: () => void }>();
  const scheduler = createKeyedScheduler<QueuedTask>(8, (key, _task, aside) => new Promise<void>((resolve) => running.set(key, { aside, end: resolve })));
  let givenBack = 0;
  const held = createHeldWebhooks({ scheduler, limits, onGivenBack: () => (givenBack += 1), log: createRootLogger({ level: 'silent' }) });
  let next = 0n;
  const enqueue = (webhookId: string, count: number, on: PartitionState = state): void => {
    for (let i = 0; i < count; i += 1) {
      on.tracker.add(next);
      scheduler.enqueue(webhookId, { state: on, offset: next, webhookId, late: false });
      next += 1n;
    }
  };
  /** The task a webhook is running (the watch needs only its webhook and partition). */
  const task = (webhookId: string, on: PartitionState = state): QueuedTask => ({ state: on, offset: 0n, webhookId, late: false });
  /** Watches the task a webhook is running, with the aside the scheduler gave it. */
  const watch = (webhookId: string, on: PartitionState = state) => held.watch(task(webhookId, on), running.get(webhookId)!.aside);
  /** The webhook's running task waits for an answer that never comes: the webhook is held. */
  const holdForever = (webhookId: string, on: PartitionState = state): void => void watch(webhookId, on).aside(never);
  const backlogs = (...webhookIds: string[]): number[] => webhookIds.map((webhookId) => scheduler.backlogOf(webhookId));
  return { state, scheduler, held, running, enqueue, watch, holdForever, backlogs, givenBack: () => givenBack };
}

/** Webhooks a and b, 30 tasks each, held: a tenth of the cap (10) each stays queued. Half the buffer is 20. */
function twoHeldAtATenth() {
  const t = setup({ maxQueuedPerWebhook: 100, maxBuffered: 40 });
  for (const hook of ['a', 'b']) t.enqueue(hook, 30);
  for (const hook of ['a', 'b']) t.holdForever(hook);
  return t;
}

describe('held webhooks', () => {
  it('a webhook whose task waits aside is held: what it queued past a tenth of its cap goes back to Kafka, latest last', () => {
    const t = setup();
    t.enqueue('slow', 50);
    t.enqueue('other', 5);
    expect(t.held.has('slow')).toBe(false);
    const watched = t.watch('slow');
    void watched.aside(never);
    expect(t.held.has('slow')).toBe(true);
    // Ten stay (the running one included), forty go back.
    expect(t.scheduler.buffered).toBe(10 + 5);
    expect(t.givenBack()).toBe(40);
    expect(t.state.deferred.untaken).toBe(40);
    expect(t.state.deferred.nextOf('slow')).toBe(10n);
    // The commit stays at the running task, and never passes what went back.
    expect(committableOffset(t.state)).toBe(0n);
    // A second wait of the same task gives nothing more back.
    void watched.aside(never);
    expect(t.givenBack()).toBe(40);
  });

  it('a webhook stays held until a task of it finishes without waiting aside, or with nothing left to send', () => {
    const t = setup();
    t.enqueue('hook', 3);
    const first = t.watch('hook');
    void first.aside(Promise.resolve());
    first.finished();
    // Its room is ten: nothing went back, and two tasks are still queued behind the one finishing.
    expect(t.held.has('hook')).toBe(true);
    t.watch('hook').finished();
    expect(t.held.has('hook')).toBe(false);

    const lone = setup();
    lone.enqueue('hook', 1);
    const only = lone.watch('hook');
    void only.aside(Promise.resolve());
    only.finished();
    expect(lone.held.has('hook')).toBe(false);
  });

  it('keeps a webhook held whose tasks wait in Kafka, though none is queued', () => {
    const t = setup({ maxQueuedPerWebhook: 10, maxBuffered: 100 });
    t.enqueue('hook', 5);
    const watched = t.watch('hook');
    void watched.aside(Promise.resolve());
    // A room of one: the other four went back to Kafka.
    expect(t.state.deferred.untaken).toBe(4);
    watched.finished();
    expect(t.held.has('hook')).toBe(true);
  });

  it('with the buffer full, held webhooks come down to an equal part of half the buffer', () => {
    const t = twoHeldAtATenth();
    t.enqueue('c', 15);
    t.enqueue('d', 5);
    // One or two held: a tenth of the cap each. Three: 20 / 3 each, which the first two still exceed; the buffer
    // (40) is not over its bound, so they keep their queues for now.
    t.holdForever('c');
    expect(t.backlogs('a', 'b', 'c')).toEqual([10, 10, 6]);
    t.held.shrinkAll();
    expect(t.backlogs('a', 'b', 'c')).toEqual([6, 6, 6]);
    // Not held: d keeps its queue.
    expect(t.scheduler.backlogOf('d')).toBe(5);
    expect(t.givenBack()).toBe(24 + 24 + 9);
    expect(t.held.countIfHeld('a')).toBe(3);
    expect(t.held.countIfHeld('d')).toBe(0);
  });

  it('a webhook held while the buffer is over its bound shrinks every held webhook to its part, not only itself', () => {
    const t = twoHeldAtATenth();
    // Reading went on past the bound (it waits after a batch): 10 + 10 + 1 + 25.
    t.enqueue('c', 1);
    t.enqueue('d', 25);
    t.holdForever('c');
    expect(t.backlogs('a', 'b', 'c')).toEqual([6, 6, 1]);
    expect(t.scheduler.buffered).toBe(38);
  });

  it('drops the queued tasks of a partition handed to another owner rather than leaving them in Kafka here', () => {
    const t = setup();
    const revoked = newPartitionState('deliveries', 1, 0, new AbortController().signal);
    t.enqueue('hook', 20, revoked);
    revoked.revoked = true;
    t.holdForever('hook');
    expect(t.scheduler.backlogOf('hook')).toBe(10);
    expect(t.givenBack()).toBe(0);
    expect(revoked.deferred.untaken).toBe(0);
  });

  it('forgets held webhooks with nothing left here, and counts the held ones in a gauge', async () => {
    const gauge = async (): Promise<number> => (await heldWebhooks.get()).values[0]?.value ?? 0;
    const before = await gauge();
    const t = setup();
    for (const hook of ['queued', 'waiting', 'gone']) {
      t.enqueue(hook, 2);
      const watched = t.watch(hook);
      void watched.aside(Promise.resolve());
    }
    expect(await gauge()).toBe(before + 3);
    // 'waiting' and 'gone' finish their queues; 'waiting' still has tasks in Kafka, 'gone' does not.
    for (const hook of ['waiting', 'gone']) {
      t.running.get(hook)!.end();
      await new Promise((resolve) => setImmediate(resolve));
      t.running.get(hook)!.end();
      await new Promise((resolve) => setImmediate(resolve));
      expect(t.scheduler.backlogOf(hook)).toBe(0);
    }
    t.held.forgetIdle((webhookId) => webhookId === 'waiting');
    expect(['queued', 'waiting', 'gone'].map((hook) => t.held.has(hook))).toEqual([true, true, false]);
    expect(await gauge()).toBe(before + 2);
    t.held.forget('waiting');
    expect(t.held.has('waiting')).toBe(false);
    t.held.clear();
    expect(t.held.has('queued')).toBe(false);
    expect(await gauge()).toBe(before);
  });
});
