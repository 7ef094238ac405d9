import { describe, expect, it } from 'vitest';
import { createConcurrencyLimit } from '../../admin-api/concurrency-limit.js';

describe('concurrency limit', () => {
  it('runs at most its bound at once, the rest in the order they came, and frees a slot when work fails', async () => {
    const limit = createConcurrencyLimit(2);
    const started: number[] = [];
    const finish: Array<() => void> = [];
    let most = 0;
    const results = Array.from({ length: 5 }, (_, i) => limit.run(async () => {
      started.push(i);
      most = Math.max(most, limit.running);
      await new Promise<void>((resolve) => finish.push(resolve));
      if (i === 1) throw new Error('endpoint did not answer');
      return i;
    }));
    // Watched from the start: the failing one must not be an unhandled rejection before the end.
    const outcomes = Promise.allSettled(results);
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(limit.waiting).toBe(3);
    for (let i = 0; i < 5; i += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      finish.shift()!();
    }
    const settled = await outcomes;
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(limit.running).toBe(0);
    expect(limit.waiting).toBe(0);
  });

  it('once lifted, starts what waits and everything after at once', async () => {
    const limit = createConcurrencyLimit(1);
    const finish: Array<() => void> = [];
    const work = () => limit.run(() => new Promise<void>((resolve) => finish.push(resolve)));
    const all = [work(), work(), work()];
    await Promise.resolve();
    expect([limit.running, limit.waiting]).toEqual([1, 2]);
    limit.lift();
    all.push(work());
    await new Promise((resolve) => setImmediate(resolve));
    expect([limit.running, limit.waiting]).toEqual([4, 0]);
    for (const done of finish) done();
    await Promise.all(all);
    expect(limit.running).toBe(0);
  });
});
