import { describe, expect, it } from 'vitest';
import { createLiveSummary, snapshotOf } from '../../scripts/lib/live-summary.js';
import { bucketsOf, bucketsSince, histogramQuantile, parseMetrics, sumOf } from '../../scripts/lib/metrics-text.js';

const text = `# HELP webhooks_deliveries_total Delivery attempts.
# TYPE webhooks_deliveries_total counter
webhooks_deliveries_total{outcome="delivered",status_class="2xx"} 90
webhooks_deliveries_total{outcome="retry",status_class="5xx"} 10
webhooks_retries_scheduled_total{tier="5s"} 10
webhooks_dead_letters_total{kind="delivery",reason="NON_RETRYABLE_STATUS"} 2
webhooks_dead_letters_total{kind="ingest",reason="NOT_AVRO_WIRE_FORMAT"} 5
webhooks_admin_requests_total{route="/v1/webhooks/:id",method="GET",status_class="4xx",note="a \\"quoted\\" value"} 3
webhooks_end_to_end_latency_seconds_bucket{delivery="first",le="0.1"} 50
webhooks_end_to_end_latency_seconds_bucket{delivery="first",le="1"} 90
webhooks_end_to_end_latency_seconds_bucket{delivery="first",le="10"} 100
webhooks_end_to_end_latency_seconds_bucket{delivery="first",le="+Inf"} 100
webhooks_end_to_end_latency_seconds_bucket{delivery="retry",le="0.1"} 0
webhooks_end_to_end_latency_seconds_bucket{delivery="retry",le="1"} 0
webhooks_end_to_end_latency_seconds_bucket{delivery="retry",le="10"} 10
webhooks_end_to_end_latency_seconds_bucket{delivery="retry",le="+Inf"} 10
webhooks_end_to_end_latency_seconds_sum 120
webhooks_end_to_end_latency_seconds_count 100
process_start_time_seconds 1700000000
`;

describe('reading /metrics (the demo summary)', () => {
  const samples = parseMetrics(text);

  it('parses samples with their labels, escaped quotes included', () => {
    expect(sumOf(samples, 'webhooks_deliveries_total')).toBe(100);
    expect(sumOf(samples, 'webhooks_deliveries_total', { outcome: 'delivered' })).toBe(90);
    expect(samples.find((s) => s.name === 'webhooks_admin_requests_total')?.labels).toEqual({ route: '/v1/webhooks/:id', method: 'GET', status_class: '4xx', note: 'a "quoted" value' });
    expect(sumOf(samples, 'process_start_time_seconds')).toBe(1700000000);
  });

  it('takes quantiles of a histogram as PromQL histogram_quantile does', () => {
    const buckets = bucketsOf(samples, 'webhooks_end_to_end_latency_seconds', { delivery: 'first' });
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.55); // halfway through (0.1, 1]
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(9.1);
    expect(histogramQuantile(0.99, bucketsSince(buckets, buckets))).toBeNull();
    expect(histogramQuantile(0.99, new Map([[1, 0], [Infinity, 4]]))).toBe(1); // all above the last bound
  });

  it('summarises a window: totals, rate and latency of the observations made in it', () => {
    const summary = createLiveSummary({ windowMs: 30_000, startedAt: 0 });
    const later = parseMetrics(
      text
        .replace('status_class="2xx"} 90', 'status_class="2xx"} 110')
        .replace('first",le="0.1"} 50', 'first",le="0.1"} 70')
        .replace('first",le="1"} 90', 'first",le="1"} 110')
        .replace('first",le="10"} 100', 'first",le="10"} 120')
        .replace('first",le="+Inf"} 100', 'first",le="+Inf"} 120')
        // Retries in the same window, seconds after their events: not what the latency line is about.
        .replace('retry",le="10"} 10', 'retry",le="10"} 40')
        .replace('retry",le="+Inf"} 10', 'retry",le="+Inf"} 40'),
    );
    summary.add(snapshotOf([], samples, 10_000));
    summary.add(snapshotOf([], later, 20_000));
    expect(summary.rate()).toBe(2);
    // The 20 first attempts of the window were all under 0.1 s, whatever came before, and the retries do not count.
    expect(summary.quantile(0.99)).toBeLessThanOrEqual(0.1);
    const line = summary.line(120);
    expect(line).toContain('delivered 110');
    expect(line).toContain('retried 10');
    expect(line).toContain('dead-lettered 2');
    expect(line).toContain('91%');
  });
});
