import { bucketsOf, bucketsSince, histogramQuantile, sumOf, type Buckets, type Sample } from './metrics-text.js';

/** What the connector's processes report at one moment, read from their /metrics. */
export interface Snapshot {
  at: number;
  /** Source records the router read. */
  eventsIn: number;
  /** Attempts answered 2xx. */
  delivered: number;
  /** Deliveries sent to a retry tier. */
  retried: number;
  /** Deliveries dead-lettered (failed for good). */
  deadLettered: number;
  /** End-to-end latency histogram (event time → 2xx), cumulative. */
  endToEnd: Buckets;
}

export function snapshotOf(router: readonly Sample[], deliverer: readonly Sample[], at: number): Snapshot {
  return {
    at,
    eventsIn: sumOf(router, 'webhooks_records_consumed_total'),
    delivered: sumOf(deliverer, 'webhooks_deliveries_total', { outcome: 'delivered' }),
    retried: sumOf(deliverer, 'webhooks_retries_scheduled_total'),
    deadLettered: sumOf(deliverer, 'webhooks_dead_letters_total', { kind: 'delivery' }),
    // First attempts, as the latency alert reads it: a retry comes 5 s or more after its event by design.
    endToEnd: bucketsOf(deliverer, 'webhooks_end_to_end_latency_seconds', { delivery: 'first' }),
  };
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

function bar(fraction: number, width = 12): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * The demo's live summary: totals since start, the rate and p99 end-to-end
 * latency over a sliding window, and how far delivery has caught up with
 * what was produced.
 */
export function createLiveSummary(options: { windowMs: number; startedAt: number }) {
  const history: Snapshot[] = [];
  /** A quantile of end-to-end latency over the window, or null without deliveries in it. */
  const quantile = (q: number): number | null => {
    const last = history.at(-1);
    if (!last) return null;
    const first = history.length > 1 ? history[0] : undefined;
    return histogramQuantile(q, bucketsSince(last.endToEnd, first?.endToEnd));
  };
  /** Deliveries per second over the window; null before two readings. */
  const rate = (): number | null => {
    const last = history.at(-1);
    const first = history[0];
    if (!last || !first || last.at === first.at) return null;
    return (last.delivered - first.delivered) / ((last.at - first.at) / 1000);
  };
  return {
    quantile,
    rate,
    latest: (): Snapshot | undefined => history.at(-1),
    add(snapshot: Snapshot): void {
      history.push(snapshot);
      while (history.length > 2 && history[1]!.at <= snapshot.at - options.windowMs) history.shift();
    },
    line(produced: number): string {
      const last = history.at(-1);
      if (!last) return 'no metrics yet';
      const elapsed = Math.round((last.at - options.startedAt) / 1000);
      const caughtUp = produced === 0 ? 1 : Math.min(1, last.delivered / produced);
      return [
        `${String(elapsed).padStart(4)}s`,
        `produced ${produced}`,
        `in ${last.eventsIn}`,
        `delivered ${last.delivered} ${bar(caughtUp)} ${Math.floor(caughtUp * 100)}%`,
        `retried ${last.retried}`,
        `dead-lettered ${last.deadLettered}`,
        `${rate()?.toFixed(1) ?? '–'}/s`,
        `e2e p50 ${formatSeconds(quantile(0.5))} p99 ${formatSeconds(quantile(0.99))}`,
      ].join(' · ');
    },
  };
}
