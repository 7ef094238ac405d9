import { describe, expect, it } from 'vitest';
import { createLevelCounter } from '../../connector/delivery/level-counter.js';

describe('createLevelCounter', () => {
  it('resolves each waiter once the count falls to its level, and not before', async () => {
    const counter = createLevelCounter();
    counter.add(3);
    const reached: number[] = [];
    const waits = [2, 0].map((level) => counter.below(level).then(() => reached.push(level)));
    counter.add(-1);
    await Promise.resolve();
    expect(reached).toEqual([2]);
    counter.add(-2);
    await Promise.all(waits);
    expect(reached).toEqual([2, 0]);
    expect(counter.value).toBe(0);
  });

  it('answers at once when the count is already at or below the level', async () => {
    const counter = createLevelCounter();
    await counter.below(0);
    counter.add(1);
    await counter.below(1);
  });
});
