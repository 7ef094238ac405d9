import { describe, expect, it } from 'vitest';
import { cpuBoundRatio } from '../../bench/lib/cpu-bound.js';

describe('cpuBoundRatio', () => {
  it('is the raw loop\'s CPU per POST over the deliverer\'s, receiver\'s and broker\'s per delivery', () => {
    // 67 + 34 = 101 µs per raw POST; 109 + 30 + 8 = 147 µs per delivery.
    expect(cpuBoundRatio({ rawClientUs: 67, rawReceiverUs: 34, delivererUs: 109, receiverUs: 30, brokerUs: 8 })).toBe(0.687);
  });

  it('is null when any figure is missing rather than a ratio of part of the machine', () => {
    expect(cpuBoundRatio({ rawClientUs: 67, rawReceiverUs: 34, delivererUs: 109, receiverUs: 30, brokerUs: null })).toBeNull();
    expect(cpuBoundRatio({ rawClientUs: 67, rawReceiverUs: null, delivererUs: 109, receiverUs: 30, brokerUs: 8 })).toBeNull();
  });

  it('is null for a round with no CPU measured on our side', () => {
    expect(cpuBoundRatio({ rawClientUs: 67, rawReceiverUs: 34, delivererUs: 0, receiverUs: 0, brokerUs: 0 })).toBeNull();
  });
});
