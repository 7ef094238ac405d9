import { setMaxListeners } from 'node:events';
import { DeferredOffsets } from './deferred-offsets.js';
import { OffsetTracker } from './offset-tracker.js';
import { encodeProgress, smallestOf, type Progress } from './progress-metadata.js';

/** What a deliverer knows of one partition it reads: what is finished, deferred and committed. */
export interface PartitionState {
  topic: string;
  partition: number;
  tracker: OffsetTracker;
  committed: bigint | null;
  /** The progress metadata committed with it (see progress-metadata.ts). */
  committedProgress: string | null;
  /** When the committed offset last moved (or the partition was first seen). */
  committedAt: number;
  /**
   * What the previous owner's last commit said was finished above its offset: skipped when read, not sent again.
   * Undefined until read from Kafka (on the partition's first batch here), null when there is nothing to skip.
   */
  resumed: Progress | null | undefined;
  revoked: boolean;
  /**
   * Aborts when the partition is taken away, or the deliverer stops: what its tasks run under, so one waiting (a
   * strict webhook's retry in place, a write tried again) ends rather than go on beside the partition's next owner.
   */
  signal: AbortSignal;
  /** Takes the partition away from its tasks (see signal). */
  release: AbortController;
  /**
   * The broker may not have the last commit: kafkajs drops a commit made while its consumer is between runs (a crash
   * and restart, a rejoin) without saying so. The next commit is sent even if nothing moved.
   */
  resend: boolean;
  /** The highest offset whose task was started (sent or being sent). */
  maxStarted: bigint | null;
  /** The offset of a task not due yet, where reading this partition stopped until it is; null when reading on. */
  waitingAt: bigint | null;
  /** The offset of the last task that waited for the buffer to drain rather than be left in Kafka at once. */
  pressureWaitAt: bigint | null;
  /** Tasks left in Kafka while their webhook's queue was full. */
  deferred: DeferredOffsets;
  /** Where the pass reading deferred tasks again began, while one is under way; null otherwise. */
  refetchFrom: bigint | null;
  /** The last offset that pass read. */
  passAt: bigint;
}

/** `stopSignal`: aborts when the deliverer stops (see PartitionState.signal). */
export function newPartitionState(topic: string, partition: number, now: number, stopSignal: AbortSignal): PartitionState {
  const release = new AbortController();
  const signal = AbortSignal.any([stopSignal, release.signal]);
  // Every task of the partition waiting (a strict webhook's retry in place, a write tried again) listens to it, and
  // hundreds may wait at once: not the leak Node warns of past 10. Each listener goes when its wait ends.
  setMaxListeners(0, signal);
  return {
    topic, partition, tracker: new OffsetTracker(), committed: null, committedProgress: null, committedAt: now, resumed: undefined, revoked: false,
    signal, release, resend: false,
    maxStarted: null, waitingAt: null, pressureWaitAt: null, deferred: new DeferredOffsets(), refetchFrom: null, passAt: -1n,
  };
}

/** The partition is another instance's now: nothing of it is committed here again, and its waiting tasks end. */
export function revoke(state: PartitionState): void {
  state.revoked = true;
  state.release.abort(new Error(`partition ${state.topic}[${state.partition}] was assigned to another instance`));
}

/** How long a partition's commit stays at one offset before its commits carry the progress above it. */
export const PROGRESS_AFTER_HELD_MS = 1000;

/** Below every task not finished, deferred ones included; null before any work. */
export function committableOffset(state: Readonly<PartitionState>): bigint | null {
  const tracked = state.tracker.committableOffset;
  const deferred = state.deferred.lowestUnfinished();
  if (deferred === null) return tracked;
  return tracked === null || deferred < tracked ? deferred : tracked;
}

/** The progress metadata for a commit at `committed`: the lowest unfinished offsets above it. */
export function progressAbove(state: Readonly<PartitionState>, committed: bigint): string | null {
  const end = state.tracker.end;
  if (end === null || end <= committed) return null;
  // Usually nothing is deferred: the tracker's offsets alone, already ascending.
  const sources = state.deferred.lowestUnfinished() === null ? [state.tracker.pendingOffsets()] : [state.tracker.pendingOffsets(), ...state.deferred.unfinishedByWebhook()];
  return encodeProgress(committed, end, smallestOf(sources));
}

export interface PlannedCommit {
  offset: bigint;
  progress: string | null;
}

/**
 * The commit a partition is due, or null when the broker already has what it
 * would say. Progress goes with it only for an offset held back (one task
 * waiting for a second or more while later ones finish, or tasks deferred):
 * a partition whose commit moves on would only write metadata to the broker
 * that a new owner skips little with. A held offset is committed again when
 * only the progress above it changed, so a task held for hours does not hold
 * back what finished after it.
 */
export function planCommit(state: Readonly<PartitionState>, now: number): PlannedCommit | null {
  const offset = committableOffset(state);
  if (offset === null) return null;
  const moves = offset !== state.committed;
  const held = (!moves && now - state.committedAt >= PROGRESS_AFTER_HELD_MS) || state.deferred.lowestUnfinished() !== null;
  const progress = held ? progressAbove(state, offset) : null;
  return moves || state.resend || progress !== state.committedProgress ? { offset, progress } : null;
}

/**
 * Records a commit the broker took, or seemed to. kafkajs answers a commit
 * made while its consumer is not running (crashed, about to rejoin) without
 * sending it, so one that a rejoin overlapped (`rejoinedMeanwhile`) may not
 * have landed: it is recorded, and still checked against the group's offset
 * (resend), as every commit from before a rejoin is. Cleared, a rejoin's
 * check would be skipped and the group left behind until the offset moved.
 */
export function recordCommitted(state: PartitionState, commit: PlannedCommit, now: number, rejoinedMeanwhile = false): void {
  if (commit.offset !== state.committed) state.committedAt = now;
  state.committed = commit.offset;
  state.committedProgress = commit.progress;
  state.resend = rejoinedMeanwhile;
}

/**
 * Leaves in Kafka a task that was queued and not started, to be read again later; tasks of one webhook are given
 * back latest first. Its offset moves from the tracker (or from taken, if it was read again) to the deferred ones,
 * so the commit stays below it. False, changing nothing, when the webhook's deferred tasks would be out of order.
 */
export function giveBack(state: PartitionState, webhookId: string, offset: bigint, late: boolean): boolean {
  // Deferred first: finishing it in the tracker must not leave the commit free to pass it, even for a moment.
  if (!state.deferred.giveBack(webhookId, offset)) return false;
  if (!late) state.tracker.finish(offset);
  return true;
}
