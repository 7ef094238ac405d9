import { describe, expect, it } from 'vitest';
import { decodeProgress } from '../../connector/delivery/progress-metadata.js';
import { committableOffset, giveBack, newPartitionState, planCommit, PROGRESS_AFTER_HELD_MS, recordCommitted, revoke, type PartitionState } from '../../connector/delivery/partition-state.js';

/** A partition with tasks at offsets 10–14 handed out, started at time 0. */
function partitionWithTasks(): PartitionState {
  const state = newPartitionState('deliveries', 0, 0, new AbortController().signal);
  for (let offset = 10n; offset <= 14n; offset += 1n) state.tracker.add(offset);
  return state;
}

/** What a new owner would skip, read back from the metadata. */
function unfinishedIn(progress: string | null, committed: bigint): bigint[] {
  return [...(decodeProgress(committed, progress)?.unfinished ?? [])];
}

describe('planCommit', () => {
  it('commits nothing before any work, and the lowest unfinished offset once there is some', () => {
    const state = newPartitionState('deliveries', 0, 0, new AbortController().signal);
    expect(planCommit(state, 0)).toBeNull();
    state.tracker.add(10n);
    expect(planCommit(state, 0)).toEqual({ offset: 10n, progress: null });
  });

  it('commits an offset that moved without progress, and nothing again until it moves', () => {
    const state = partitionWithTasks();
    state.tracker.finish(10n);
    state.tracker.finish(11n);
    const commit = planCommit(state, 100)!;
    expect(commit).toEqual({ offset: 12n, progress: null });
    recordCommitted(state, commit, 100);
    expect(planCommit(state, 200)).toBeNull();
    state.tracker.finish(12n);
    expect(planCommit(state, 300)).toEqual({ offset: 13n, progress: null });
  });

  it('sends the last commit again after a rejoin, though nothing moved: kafkajs may have dropped it unsent', () => {
    const state = partitionWithTasks();
    state.tracker.finish(10n);
    recordCommitted(state, planCommit(state, 0)!, 0);
    expect(planCommit(state, 10)).toBeNull();
    state.resend = true;
    expect(planCommit(state, 10)).toEqual({ offset: 11n, progress: null });
    recordCommitted(state, planCommit(state, 10)!, 10);
    expect(planCommit(state, 20)).toBeNull();
  });

  it('still checks a commit a rejoin overlapped: kafkajs may have answered it unsent, its consumer not running', () => {
    const state = partitionWithTasks();
    state.tracker.finish(10n);
    // The rejoin marked the partition for its check while the commit was out; the commit's answer came after.
    state.resend = true;
    recordCommitted(state, planCommit(state, 0)!, 0, true);
    expect(state.committed).toBe(11n);
    expect(state.resend).toBe(true);
    expect(planCommit(state, 10)).toEqual({ offset: 11n, progress: null });
  });

  it('adds the finished offsets above a commit held for a second, once, and again when they change', () => {
    const state = partitionWithTasks();
    recordCommitted(state, planCommit(state, 0)!, 0);
    // 10 holds the commit while 11 and 13 finish.
    state.tracker.finish(11n);
    state.tracker.finish(13n);
    expect(planCommit(state, PROGRESS_AFTER_HELD_MS - 1)).toBeNull();
    const held = planCommit(state, PROGRESS_AFTER_HELD_MS)!;
    expect(held.offset).toBe(10n);
    expect(unfinishedIn(held.progress, 10n)).toEqual([10n, 12n, 14n]);
    recordCommitted(state, held, PROGRESS_AFTER_HELD_MS);
    // The same progress is not written again; more finished above it is.
    expect(planCommit(state, PROGRESS_AFTER_HELD_MS + 200)).toBeNull();
    state.tracker.finish(14n);
    expect(unfinishedIn(planCommit(state, PROGRESS_AFTER_HELD_MS + 400)!.progress, 10n)).toEqual([10n, 12n]);
  });

  it('counts the second from when the committed offset last moved, not from each commit of progress', () => {
    const state = partitionWithTasks();
    recordCommitted(state, planCommit(state, 0)!, 0);
    state.tracker.finish(10n);
    recordCommitted(state, planCommit(state, 5000)!, 5000);
    state.tracker.finish(12n);
    expect(planCommit(state, 5000 + PROGRESS_AFTER_HELD_MS - 1)).toBeNull();
    expect(planCommit(state, 5000 + PROGRESS_AFTER_HELD_MS)?.offset).toBe(11n);
  });

  it('keeps the commit below deferred tasks still in Kafka, and says what finished above them at once', () => {
    const state = partitionWithTasks();
    state.deferred.defer('held-webhook', 9n);
    state.tracker.finish(10n);
    state.tracker.finish(12n);
    const commit = planCommit(state, 0)!;
    expect(commit.offset).toBe(9n);
    expect(unfinishedIn(commit.progress, 9n)).toEqual([9n, 11n, 13n, 14n]);
  });
});

describe('giveBack', () => {
  it('moves a queued task from the tracker to the deferred ones, so the commit stays below it until it is read again and finished', () => {
    const state = partitionWithTasks();
    state.tracker.finish(10n);
    expect(giveBack(state, 'a', 14n, false)).toBe(true);
    expect(giveBack(state, 'a', 13n, false)).toBe(true);
    for (const offset of [11n, 12n]) state.tracker.finish(offset);
    // The tracker alone would commit past 14; 13 and 14 wait in Kafka.
    expect(state.tracker.committableOffset).toBe(15n);
    expect(committableOffset(state)).toBe(13n);
    // Nothing above 13 is finished: the commit carries no progress, and a new owner skips nothing.
    expect(planCommit(state, 0)).toEqual({ offset: 13n, progress: null });
    for (const offset of [13n, 14n]) {
      expect(state.deferred.take('a', offset)).toBe(true);
      state.deferred.finish('a', offset);
    }
    expect(committableOffset(state)).toBe(15n);
  });

  it('leaves the tracker alone when the task refused was out of order', () => {
    const state = partitionWithTasks();
    state.deferred.defer('a', 12n);
    expect(giveBack(state, 'a', 14n, false)).toBe(false);
    expect([...state.tracker.pendingOffsets()]).toEqual([10n, 11n, 12n, 13n, 14n]);
  });
});

describe('revoke', () => {
  it('ends what the partition\'s tasks wait on, and so does the deliverer stopping', () => {
    const stop = new AbortController();
    const taken = newPartitionState('deliveries', 0, 0, stop.signal);
    const kept = newPartitionState('deliveries', 1, 0, stop.signal);
    revoke(taken);
    expect(taken.revoked).toBe(true);
    expect(taken.signal.aborted).toBe(true);
    expect(String(taken.signal.reason)).toMatch(/deliveries\[0\] was assigned to another instance/);
    expect(kept.signal.aborted).toBe(false);
    stop.abort(new Error('shutting down'));
    expect(kept.signal.aborted).toBe(true);
  });

  it('lets many waiting tasks listen at once without a leak warning (strict webhooks retrying in place)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const state = newPartitionState('deliveries', 0, 0, new AbortController().signal);
      for (let i = 0; i < 50; i += 1) state.signal.addEventListener('abort', () => undefined);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
