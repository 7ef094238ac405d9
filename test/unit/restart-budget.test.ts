import { describe, expect, it } from 'vitest';
import { createRestartBudget } from '../../connector/kafka/restart-budget.js';

describe('restart budget: recover in place a few times, then stop', () => {
  it('allows max recoveries within the window and refuses the next', () => {
    let clock = 0;
    const budget = createRestartBudget({ max: 3, windowMs: 60_000, now: () => clock });
    expect([budget.spend(), budget.spend(), budget.spend()]).toEqual([true, true, true]);
    clock = 59_999;
    expect(budget.spend()).toBe(false);
  });

  it('forgets recoveries older than the window', () => {
    let clock = 0;
    const budget = createRestartBudget({ max: 2, windowMs: 60_000, now: () => clock });
    budget.spend();
    clock = 30_000;
    budget.spend();
    clock = 60_000; // the first has left the window
    expect(budget.spend()).toBe(true);
    expect(budget.spend()).toBe(false); // 30 000 and 60 000 are still in it
    clock = 90_000;
    expect(budget.spend()).toBe(true);
  });

  it('a refused spend is not counted: after the window the component may recover again', () => {
    let clock = 0;
    const budget = createRestartBudget({ max: 1, windowMs: 1000, now: () => clock });
    expect(budget.spend()).toBe(true);
    expect(budget.spend()).toBe(false);
    expect(budget.spend()).toBe(false);
    clock = 1000;
    expect(budget.spend()).toBe(true);
  });
});
