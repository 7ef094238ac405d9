import { describe, expect, it } from 'vitest';
import { createFairLimit } from '../../admin-api/fair-limit.js';

/** Work that runs until `finish(name)`; records the order it started in. */
function harness() {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const work = (name: string, fail = false) => async (): Promise<string> => {
    started.push(name);
    await new Promise<void>((resolve) => finishers.set(name, resolve));
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  const finish = async (name: string): Promise<void> => {
    finishers.get(name)!();
    // Let the finished work's slot pass on.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { started, work, finish };
}

describe('fair limit', () => {
  it('runs at most its bound at once, one key\'s work in the order it came, and frees a slot when work fails', async () => {
    const limit = createFairLimit(2, 2);
    const { started, work, finish } = harness();
    const results = ['a0', 'a1', 'a2', 'a3', 'a4'].map((name) => limit.run('a', work(name, name === 'a1')));
    // Watched from the start: the failing one must not be an unhandled rejection before the end.
    const outcomes = Promise.allSettled(results);
    await Promise.resolve();
    expect(started).toEqual(['a0', 'a1']);
    expect([limit.running(), limit.waiting(), limit.waiting('a')]).toEqual([2, 3, 3]);
    await finish('a1');
    expect(started).toEqual(['a0', 'a1', 'a2']);
    for (const name of ['a0', 'a2', 'a3', 'a4']) await finish(name);
    expect((await outcomes).map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(started).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect([limit.running(), limit.waiting()]).toEqual([0, 0]);
  });

  it('keeps one key to its share of the slots, and starts keys in turn rather than one key\'s whole line first', async () => {
    const limit = createFairLimit(3, 2);
    const { started, work, finish } = harness();
    // Organization a queues a long line first; b and c come after it.
    const all = ['a0', 'a1', 'a2', 'a3', 'a4'].map((name) => limit.run('a', work(name)));
    all.push(limit.run('b', work('b0')), limit.run('b', work('b1')), limit.run('c', work('c0')));
    await Promise.resolve();
    // a has two of the three slots, its per-key share; b takes the third, though a came first.
    expect(started).toEqual(['a0', 'a1', 'b0']);
    expect(limit.running('a')).toBe(2);
    // Freed slots go to the keys in turn: a's line came first, then b's and c's, and a served goes to the back.
    await finish('a0');
    expect(started.at(-1)).toBe('a2');
    await finish('b0');
    expect(started.at(-1)).toBe('b1');
    // c's one challenge goes before the rest of a's line, which was there long before it.
    await finish('a1');
    expect(started.at(-1)).toBe('c0');
    expect(limit.waiting('a')).toBe(2);
    for (const name of ['a2', 'b1', 'c0', 'a3', 'a4']) await finish(name);
    await Promise.all(all);
    expect(started).toHaveLength(8);
    expect([limit.running(), limit.waiting()]).toEqual([0, 0]);
  });

  it('once lifted, starts what waits and everything after at once', async () => {
    const limit = createFairLimit(1, 1);
    const { work, finish } = harness();
    const all = [limit.run('a', work('a0')), limit.run('a', work('a1')), limit.run('b', work('b0'))];
    await Promise.resolve();
    expect([limit.running(), limit.waiting()]).toEqual([1, 2]);
    limit.lift();
    all.push(limit.run('a', work('a2')));
    await new Promise((resolve) => setImmediate(resolve));
    expect([limit.running(), limit.waiting()]).toEqual([4, 0]);
    for (const name of ['a0', 'a1', 'b0', 'a2']) await finish(name);
    await Promise.all(all);
    expect(limit.running()).toBe(0);
  });
});
