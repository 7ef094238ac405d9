import { describe, expect, it } from 'vitest';
import { createKeyedScheduler } from '../../connector/delivery/keyed-scheduler.js';

/** Work whose completion the test controls. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('createKeyedScheduler', () => {
  it('runs one item per key at a time, in order, and keys concurrently', async () => {
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const scheduler = createKeyedScheduler<number>(10, async (key, n) => {
      started.push(`${key}${n}`);
      const gate = deferred();
      gates.set(`${key}${n}`, gate);
      await gate.promise;
    });
    scheduler.enqueue('a', 1);
    scheduler.enqueue('a', 2);
    scheduler.enqueue('b', 1);
    expect(started).toEqual(['a1', 'b1']); // a2 waits for a1
    gates.get('b1')!.resolve();
    await scheduler.pressingBelow(2);
    expect(started).toEqual(['a1', 'b1']);
    gates.get('a1')!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1', 'b1', 'a2']);
    gates.get('a2')!.resolve();
    await scheduler.idle();
    expect(scheduler.buffered).toBe(0);
  });

  it('counts each key\'s items queued or running', async () => {
    const gate = deferred();
    const scheduler = createKeyedScheduler<number>(1, async () => gate.promise);
    scheduler.enqueue('a', 1);
    scheduler.enqueue('a', 2);
    scheduler.enqueue('b', 1);
    // a1 runs; a2 and b1 wait (one slot).
    expect([scheduler.backlogOf('a'), scheduler.backlogOf('b'), scheduler.backlogOf('c')]).toEqual([2, 1, 0]);
    gate.resolve();
    await scheduler.idle();
    expect([scheduler.backlogOf('a'), scheduler.backlogOf('b')]).toEqual([0, 0]);
  });

  it('never runs more than maxInFlight at once', async () => {
    let running = 0;
    let peak = 0;
    const scheduler = createKeyedScheduler<number>(3, async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
    });
    for (let i = 0; i < 20; i++) scheduler.enqueue(`k${i % 10}`, i);
    await scheduler.idle();
    expect(peak).toBe(3);
  });

  it('a slow key does not hold up the others', async () => {
    const done: string[] = [];
    const slow = deferred();
    const scheduler = createKeyedScheduler<number>(4, async (key, n) => {
      if (key === 'slow') await slow.promise;
      done.push(`${key}${n}`);
    });
    scheduler.enqueue('slow', 1);
    for (let i = 1; i <= 5; i++) scheduler.enqueue('fast', i);
    await scheduler.pressingBelow(1);
    expect(done).toEqual(['fast1', 'fast2', 'fast3', 'fast4', 'fast5']);
    slow.resolve();
    await scheduler.idle();
    expect(done.at(-1)).toBe('slow1');
  });

  it('frees the key when the work throws', async () => {
    const seen: number[] = [];
    const scheduler = createKeyedScheduler<number>(1, async (_key, n) => {
      seen.push(n);
      if (n === 1) throw new Error('boom');
    });
    scheduler.enqueue('a', 1);
    scheduler.enqueue('a', 2);
    await scheduler.idle();
    expect(seen).toEqual([1, 2]);
  });

  it('an item waiting aside gives its slot to other keys, keeps its own key, and takes a slot back before new keys start', async () => {
    const events: string[] = [];
    const wait = deferred();
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const scheduler = createKeyedScheduler<number>(1, async (key, n, aside) => {
      events.push(`start ${key}${n}`);
      if (key === 'strict' && n === 1) {
        await aside(wait.promise);
        events.push(`back ${key}${n}`);
        return;
      }
      const gate = deferred();
      gates.set(`${key}${n}`, gate);
      await gate.promise;
      events.push(`end ${key}${n}`);
    });
    scheduler.enqueue('strict', 1);
    scheduler.enqueue('strict', 2);
    scheduler.enqueue('other', 1);
    scheduler.enqueue('late', 1);
    // The only slot went to 'other' while strict1 waits; strict2 still waits for strict1.
    expect(events).toEqual(['start strict1', 'start other1']);
    expect(scheduler.inFlight).toBe(1);
    wait.resolve();
    await new Promise((r) => setImmediate(r));
    // Back from aside, strict1 waits for the slot 'other' holds, and gets it before 'late' starts.
    expect(events).toEqual(['start strict1', 'start other1']);
    gates.get('other1')!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(events.slice(2, 4)).toEqual(['end other1', 'back strict1']);
    await new Promise((r) => setImmediate(r));
    expect(events.slice(4)).toEqual(['start late1']);
    gates.get('late1')!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(events.at(-1)).toBe('start strict2');
    expect(scheduler.inFlight).toBe(1);
    gates.get('strict2')!.resolve();
    await scheduler.idle();
    expect(scheduler.inFlight).toBe(0);
  });

  it('an item back from aside takes a free slot at once', async () => {
    const wait = deferred();
    let backAt = -1;
    const scheduler = createKeyedScheduler<number>(2, async (_key, _n, aside) => {
      await aside(wait.promise);
      backAt = scheduler.inFlight;
    });
    scheduler.enqueue('a', 1);
    expect(scheduler.inFlight).toBe(0);
    wait.resolve();
    await scheduler.idle();
    expect(backAt).toBe(1);
  });

  it('takes back a key\'s last queued items, never the one running, and keeps at least one', async () => {
    const gate = deferred();
    const started: number[] = [];
    const scheduler = createKeyedScheduler<number>(1, async (_key, n) => {
      started.push(n);
      await gate.promise;
    });
    for (let n = 1; n <= 5; n += 1) scheduler.enqueue('a', n);
    scheduler.enqueue('b', 1);
    expect(scheduler.takeBack('a', 3)).toEqual([4, 5]);
    expect(scheduler.backlogOf('a')).toBe(3);
    expect(scheduler.buffered).toBe(4);
    expect(scheduler.takeBack('a', 0)).toEqual([2, 3]);
    expect(scheduler.takeBack('a', 0)).toEqual([]);
    // b is queued and not running: its only item stays.
    expect(scheduler.takeBack('b', 0)).toEqual([]);
    expect(scheduler.takeBack('none', 0)).toEqual([]);
    gate.resolve();
    await scheduler.idle();
    expect(started).toEqual([1, 1]);
    // A key emptied by takeBack takes new items as before.
    scheduler.enqueue('a', 6);
    await scheduler.idle();
    expect(started).toEqual([1, 1, 6]);
  });

  it('leaves items waiting aside out of `pressing`, up to its allowance, and counts them again once back', async () => {
    const waits = [deferred(), deferred(), deferred()];
    const gate = deferred();
    const scheduler = createKeyedScheduler<number>(4, async (key, n, aside) => {
      if (key === 'queued') return gate.promise;
      await aside(waits[n]!.promise);
    }, { maxUncountedAside: 2 });
    for (let n = 0; n < 3; n += 1) scheduler.enqueue(`strict${n}`, n);
    scheduler.enqueue('queued', 0);
    scheduler.enqueue('queued', 1);
    // Five buffered: three aside (two of them uncounted), one running, one queued.
    expect(scheduler.buffered).toBe(5);
    expect(scheduler.pressing).toBe(3);
    let below = false;
    void scheduler.pressingBelow(1).then(() => (below = true));
    waits[0]!.resolve();
    await new Promise((r) => setImmediate(r));
    // Back from aside and finished: two aside, both uncounted.
    expect([scheduler.buffered, scheduler.pressing]).toEqual([4, 2]);
    expect(below).toBe(false);
    gate.resolve();
    await new Promise((r) => setImmediate(r));
    expect([scheduler.buffered, scheduler.pressing]).toEqual([2, 0]);
    expect(below).toBe(true);
    // Never below what is actually running or queued: idle still waits for the items aside.
    let idle = false;
    void scheduler.idle().then(() => (idle = true));
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false);
    waits[1]!.resolve();
    waits[2]!.resolve();
    await scheduler.idle();
    expect([scheduler.buffered, scheduler.pressing]).toEqual([0, 0]);
  });
});
