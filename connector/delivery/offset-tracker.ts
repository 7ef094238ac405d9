/**
 * Which offset of a partition may be committed. Tasks finish out of order
 * (different webhooks run concurrently); the committable offset is one past
 * the last offset below which everything finished, so a crash re-delivers
 * unfinished work and never skips it.
 */
export class OffsetTracker {
  private readonly pending = new Set<bigint>();
  private readonly finished = new Set<bigint>();
  private next: bigint | null = null;
  private committable: bigint | null = null;

  /** Records that an offset was handed out; offsets must be added in increasing order. */
  add(offset: bigint): void {
    if (this.next === null) {
      this.next = offset;
      this.committable = offset;
    }
    this.pending.add(offset);
    this.next = offset + 1n;
  }

  /** Marks an offset finished; returns the new committable offset if it moved. */
  finish(offset: bigint): bigint | null {
    if (!this.pending.delete(offset)) return null;
    this.finished.add(offset);
    const before = this.committable;
    // Walk the contiguous finished run from the current low-water mark.
    while (this.committable !== null && this.finished.has(this.committable)) {
      this.finished.delete(this.committable);
      this.committable += 1n;
    }
    return this.committable !== before ? this.committable : null;
  }

  /** One past the last contiguous finished offset (what to commit), or null before any work. */
  get committableOffset(): bigint | null {
    return this.committable;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** True once the offset was handed out before (a re-fetch after a seek or rebalance). */
  seen(offset: bigint): boolean {
    return this.next !== null && offset < this.next;
  }
}
