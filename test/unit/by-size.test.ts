import { describe, expect, it } from 'vitest';
import { bySize } from '../../connector/kafka/by-size.js';

describe('bySize', () => {
  const message = (bytes: number) => ({ key: 'k', value: Buffer.alloc(bytes) });

  it('keeps every message, in order, in runs under the byte bound', () => {
    const messages = Array.from({ length: 50 }, (_, i) => ({ key: String(i), value: Buffer.alloc(100) }));
    const runs = bySize(messages, 1000);
    expect(runs.flat()).toEqual(messages);
    for (const run of runs) expect(run.length * (100 + 64 + 2)).toBeLessThanOrEqual(1000);
    expect(runs.length).toBeGreaterThan(1);
  });

  it('puts a single oversized message in a run of its own rather than dropping it', () => {
    const runs = bySize([message(10), message(5000), message(10)], 1000);
    expect(runs.map((r) => r.length)).toEqual([1, 1, 1]);
  });

  it('returns no runs for no messages', () => {
    expect(bySize([], 1000)).toEqual([]);
  });
});
