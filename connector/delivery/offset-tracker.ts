/**
 * Which offset of a partition may be committed. Tasks finish out of order
 * (different webhooks run concurrently); the committable offset is the
 * lowest offset handed out and not finished, or one past everything seen
 * when all is finished, so a crash re-delivers unfinished work and never
 * skips it.
 *
 * Offsets of a partition are not contiguous: the router's transactions
 * leave a commit marker after each one, and aborted records are never
 * handed out. Those offsets are simply never added, and count as done.
 */
/** Finished offsets the queue may hold beyond twice the pending ones before it starts over (see add). */
const COMPACT_SLACK = 1024;

export class OffsetTracker {
  /** Offsets handed out, ascending; those before `head` are finished. */
  private queue: bigint[] = [];
  private head = 0;
  private readonly pending = new Set<bigint>();
  /** Finished while an earlier offset was still pending. */
  private readonly finishedEarly = new Set<bigint>();
  /** One past the highest offset seen (handed out or skipped). */
  private next: bigint | null = null;

  /** Records that an offset was handed out; offsets must be added in increasing order. */
  add(offset: bigint): void {
    this.queue.push(offset);
    this.pending.add(offset);
    this.next = offset + 1n;
    // While one task holds the head (a strict webhook retrying in place for a day), the offsets finished behind it
    // pile up here, millions of them on a busy partition. Once they outnumber the pending ones, the queue starts
    // over from those: memory stays with the unfinished work, at a cost spread over the adds that called for it.
    if (this.queue.length - this.head > 2 * this.pending.size + COMPACT_SLACK) {
      this.queue = [...this.pending];
      this.head = 0;
      this.finishedEarly.clear();
    }
  }

  /**
   * Records that no task lies below `offset` beyond those added: a fetched
   * batch that ended in a transaction marker or aborted records. Without it
   * a partition whose last record is a marker would never commit past it.
   */
  skipTo(offset: bigint): void {
    if (this.next === null || offset > this.next) this.next = offset;
  }

  /** Marks an offset finished; returns the new committable offset if it moved. */
  finish(offset: bigint): bigint | null {
    if (!this.pending.delete(offset)) return null;
    const before = this.committableOffset;
    if (offset !== this.queue[this.head]) {
      this.finishedEarly.add(offset);
      return null;
    }
    this.head += 1;
    // Walk past what finished early behind the one just finished.
    while (this.head < this.queue.length && this.finishedEarly.delete(this.queue[this.head]!)) this.head += 1;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      // Drop the finished prefix now and then, not on every finish.
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const after = this.committableOffset;
    return after !== before ? after : null;
  }

  /** The offset to commit: the lowest unfinished one, or one past everything seen; null before any work. */
  get committableOffset(): bigint | null {
    return this.head < this.queue.length ? this.queue[this.head]! : this.next;
  }

  /** Offsets handed out and not finished, ascending. */
  pendingOffsets(): Iterable<bigint> {
    // A Set iterates in insertion order, and offsets are added in increasing order.
    return this.pending.values();
  }

  /** One past the highest offset seen (handed out or skipped); null before any. */
  get end(): bigint | null {
    return this.next;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** True once the offset was handed out or skipped before (a re-fetch after a seek or rebalance). */
  seen(offset: bigint): boolean {
    return this.next !== null && offset < this.next;
  }
}
