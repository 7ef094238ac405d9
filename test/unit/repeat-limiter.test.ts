import { describe, expect, it } from 'vitest';
import { createRepeatLimiter } from '../../connector/observability/repeat-limiter.js';

describe('repeat limiter', () => {
  it('writes the first line of a kind, holds back repeats inside the window, and reports them with the next one after it', () => {
    let clock = 0;
    const limiter = createRepeatLimiter(1000, () => clock);
    expect(limiter.admit('refused')).toEqual({ write: true, heldBack: 0 });
    clock = 10;
    expect(limiter.admit('refused')).toEqual({ write: false, heldBack: 0 });
    clock = 999;
    expect(limiter.admit('refused')).toEqual({ write: false, heldBack: 0 });
    clock = 1000;
    expect(limiter.admit('refused')).toEqual({ write: true, heldBack: 2 });
    clock = 5000;
    expect(limiter.admit('refused')).toEqual({ write: true, heldBack: 0 });
  });

  it('limits each kind on its own', () => {
    const limiter = createRepeatLimiter(1000, () => 0);
    expect(limiter.admit('a').write).toBe(true);
    expect(limiter.admit('b').write).toBe(true);
    expect(limiter.admit('a').write).toBe(false);
  });

  it('forgets ended windows once it remembers many kinds, so its memory stays bounded', () => {
    let clock = 0;
    const limiter = createRepeatLimiter(10, () => clock);
    for (let i = 0; i < 1000; i += 1) limiter.admit(`kind-${i}`);
    clock = 100;
    expect(limiter.admit('new').write).toBe(true);
    // kind-0's window had ended and was forgotten: it is written again, with nothing held back.
    expect(limiter.admit('kind-0')).toEqual({ write: true, heldBack: 0 });
  });
});
