/**
 * Tasks of one partition left in Kafka because their webhook's queue was
 * full: only their offsets are kept (a number each, not the task), and the
 * deliverer reads them again once the queue has room (see deliverer.ts).
 * Without this, an endpoint that holds its queue (slow, or a strict webhook
 * waiting out a retry) would fill the deliverer's buffer with its own tasks
 * until reading stopped for every webhook.
 *
 * Per webhook the offsets are in order and go through three stages:
 * deferred, taken (read again and queued), finished. A webhook's tasks run
 * one at a time, but their attempt-log writes may be acknowledged out of
 * order, so finishing tolerates that. Offsets are numbers: Kafka's stay
 * far below 2^53.
 */
interface WebhookDeferral {
  offsets: number[];
  /** Offsets before it were taken (read again and queued). */
  taken: number;
  /** Offsets before it are finished. */
  done: number;
  /** Taken offsets finished while an earlier one was not. */
  finishedEarly: Set<number>;
}

const emptyDeferral = (): WebhookDeferral => ({ offsets: [], taken: 0, done: 0, finishedEarly: new Set() });

export class DeferredOffsets {
  private readonly byWebhook = new Map<string, WebhookDeferral>();
  private untakenCount = 0;

  /** Offsets deferred and not yet taken, across webhooks. */
  get untaken(): number {
    return this.untakenCount;
  }

  /** Whether the webhook has tasks left in Kafka: its later tasks must be deferred too, to keep its order. */
  has(webhookId: string): boolean {
    const deferral = this.byWebhook.get(webhookId);
    return deferral !== undefined && deferral.taken < deferral.offsets.length;
  }

  /** Leaves a task in Kafka; a webhook's offsets must be deferred in increasing order. */
  defer(webhookId: string, offset: bigint): void {
    let deferral = this.byWebhook.get(webhookId);
    if (!deferral) {
      deferral = emptyDeferral();
      this.byWebhook.set(webhookId, deferral);
    }
    deferral.offsets.push(Number(offset));
    this.untakenCount += 1;
  }

  /**
   * Leaves in Kafka a task that was queued and not started, the webhook's last queued one (so the latest first):
   * taken ones become untaken again, others join just before the untaken ones, keeping the offsets in order.
   * Returns false, changing nothing, for an offset that would break that order.
   */
  giveBack(webhookId: string, offset: bigint): boolean {
    const at = Number(offset);
    const deferral = this.byWebhook.get(webhookId) ?? emptyDeferral();
    const before = deferral.offsets[deferral.taken - 1];
    const after = deferral.offsets[deferral.taken];
    if (before === at && deferral.taken > deferral.done) deferral.taken -= 1;
    else if ((before === undefined || before < at) && (after === undefined || at < after)) deferral.offsets.splice(deferral.taken, 0, at);
    else return false;
    this.byWebhook.set(webhookId, deferral);
    this.untakenCount += 1;
    return true;
  }

  /** The offset of the webhook's next task to read again, or null when it has none. */
  nextOf(webhookId: string): bigint | null {
    const deferral = this.byWebhook.get(webhookId);
    if (!deferral || deferral.taken >= deferral.offsets.length) return null;
    return BigInt(deferral.offsets[deferral.taken]!);
  }

  /** Takes the webhook's next task when `offset` is it (read again, about to be queued); false otherwise. */
  take(webhookId: string, offset: bigint): boolean {
    const deferral = this.byWebhook.get(webhookId);
    if (!deferral || deferral.offsets[deferral.taken] !== Number(offset)) return false;
    deferral.taken += 1;
    this.untakenCount -= 1;
    return true;
  }

  /** Marks a taken task finished; the webhook is forgotten once all its tasks are. */
  finish(webhookId: string, offset: bigint): void {
    const deferral = this.byWebhook.get(webhookId);
    if (!deferral) return;
    const at = Number(offset);
    if (deferral.offsets[deferral.done] !== at) {
      deferral.finishedEarly.add(at);
      return;
    }
    deferral.done += 1;
    while (deferral.done < deferral.taken && deferral.finishedEarly.delete(deferral.offsets[deferral.done]!)) deferral.done += 1;
    if (deferral.done === deferral.offsets.length) {
      this.byWebhook.delete(webhookId);
    } else if (deferral.done >= 1024 && deferral.done * 2 >= deferral.offsets.length) {
      // Drop the finished prefix now and then, not on every finish.
      deferral.offsets = deferral.offsets.slice(deferral.done);
      deferral.taken -= deferral.done;
      deferral.done = 0;
    }
  }

  /** The lowest offset deferred or taken and not finished: the partition's commit must stay below it. */
  lowestUnfinished(): bigint | null {
    let lowest: number | null = null;
    for (const deferral of this.byWebhook.values()) {
      const offset = deferral.offsets[deferral.done]!;
      if (lowest === null || offset < lowest) lowest = offset;
    }
    return lowest === null ? null : BigInt(lowest);
  }

  /** Per webhook, its offsets not finished (deferred, or taken and not finished), ascending. */
  *unfinishedByWebhook(): Iterable<Iterable<bigint>> {
    for (const deferral of this.byWebhook.values()) {
      yield (function* unfinished() {
        for (let i = deferral.done; i < deferral.offsets.length; i += 1) {
          const offset = deferral.offsets[i]!;
          if (!deferral.finishedEarly.has(offset)) yield BigInt(offset);
        }
      })();
    }
  }

  /** Each webhook with tasks still to read again, with the offset of the next one. */
  *waiting(): Iterable<[string, bigint]> {
    for (const [webhookId, deferral] of this.byWebhook) {
      if (deferral.taken < deferral.offsets.length) yield [webhookId, BigInt(deferral.offsets[deferral.taken]!)];
    }
  }

  /** Forgets everything (the partition went to another owner); returns how many were untaken. */
  clear(): number {
    const untaken = this.untakenCount;
    this.byWebhook.clear();
    this.untakenCount = 0;
    return untaken;
  }
}
