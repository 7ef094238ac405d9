import { describe, expect, it } from 'vitest';
import { cpuBoundRatio } from '../../bench/lib/cpu-bound.js';

describe('cpuBoundRatio', () => {
  it('is the rate the cores allow for CPU per delivery (deliverer, receiver, broker) against the raw loop\'s measured rate', () => {
    // 74 + 20 + 13 = 107 µs a delivery on 2 cores: 18,692/s, against 33,000 raw POSTs/s.
    expect(cpuBoundRatio({ cores: 2, mainThreads: 1, rawPerSecond: 33_000, delivererUs: 74, delivererMainThreadUs: 41, receiverUs: 20, brokerUs: 13 })).toBe(0.566);
  });

  it('is held to what one main thread allows when the cores would allow more', () => {
    // 8 cores allow 74,766/s, the main thread 1e6 / 41 = 24,390/s.
    expect(cpuBoundRatio({ cores: 8, mainThreads: 1, rawPerSecond: 33_000, delivererUs: 74, delivererMainThreadUs: 41, receiverUs: 20, brokerUs: 13 })).toBe(0.739);
    // Two deliverer processes, two main threads: 2e6 / 41 = 48,780/s, still under the cores' 74,766/s.
    expect(cpuBoundRatio({ cores: 8, mainThreads: 2, rawPerSecond: 33_000, delivererUs: 74, delivererMainThreadUs: 41, receiverUs: 20, brokerUs: 13 })).toBe(1.478);
  });

  it('is null when any figure is missing rather than a bound on part of the machine', () => {
    expect(cpuBoundRatio({ cores: 2, mainThreads: 1, rawPerSecond: 33_000, delivererUs: 74, delivererMainThreadUs: 41, receiverUs: 20, brokerUs: null })).toBeNull();
    expect(cpuBoundRatio({ cores: 2, mainThreads: 1, rawPerSecond: 33_000, delivererUs: 74, delivererMainThreadUs: null, receiverUs: 20, brokerUs: 13 })).toBeNull();
  });

  it('is null for a round with no CPU or no raw rate measured', () => {
    expect(cpuBoundRatio({ cores: 2, mainThreads: 1, rawPerSecond: 33_000, delivererUs: 0, delivererMainThreadUs: 0, receiverUs: 0, brokerUs: 0 })).toBeNull();
    expect(cpuBoundRatio({ cores: 2, mainThreads: 1, rawPerSecond: 0, delivererUs: 74, delivererMainThreadUs: 41, receiverUs: 20, brokerUs: 13 })).toBeNull();
  });
});
