/**
 * Reading the Prometheus text format a process serves on /metrics: enough to
 * sum counters and take a quantile of a histogram, as the demo's live summary
 * does without needing a Prometheus server.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

const unescape = (value: string): string => value.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  return Number(raw);
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = unescape(value!);
    samples.push({ name: match[1]!, labels, value: parseValue(match[3]!) });
  }
  return samples;
}

type LabelFilter = Record<string, string>;

const matches = (sample: Sample, name: string, filter: LabelFilter): boolean =>
  sample.name === name && Object.entries(filter).every(([key, value]) => sample.labels[key] === value);

/** The sum of every series of a metric (a counter or gauge) whose labels match. */
export function sumOf(samples: readonly Sample[], name: string, filter: LabelFilter = {}): number {
  let sum = 0;
  for (const sample of samples) if (matches(sample, name, filter)) sum += sample.value;
  return sum;
}

/** A histogram's cumulative bucket counts by upper bound, summed over its other labels. */
export type Buckets = Map<number, number>;

export function bucketsOf(samples: readonly Sample[], histogram: string, filter: LabelFilter = {}): Buckets {
  const buckets: Buckets = new Map();
  for (const sample of samples) {
    if (!matches(sample, `${histogram}_bucket`, filter) || sample.labels['le'] === undefined) continue;
    const le = parseValue(sample.labels['le']);
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  return buckets;
}

/** later − earlier, bucket by bucket: the observations made in between. */
export function bucketsSince(later: Buckets, earlier: Buckets | undefined): Buckets {
  const out: Buckets = new Map();
  for (const [le, count] of later) out.set(le, Math.max(0, count - (earlier?.get(le) ?? 0)));
  return out;
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside its
 * bucket as PromQL's histogram_quantile does; null without observations.
 */
export function histogramQuantile(q: number, buckets: Buckets): number | null {
  const sorted = [...buckets.entries()].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (sorted.length === 0 || total === 0 || sorted.at(-1)![0] !== Infinity) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      // In the +Inf bucket all we know is "above the last finite bound".
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + (le - lowerBound) * ((rank - lowerCount) / (count - lowerCount));
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
