import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { untilDone } from '../../connector/delivery/persist.js';

/** The failures untilDone reports, as [error message, pause that follows]. */
function collecting(): { failures: Array<[string, number]>; onFailure: (error: unknown, retryInMs: number) => void } {
  const failures: Array<[string, number]> = [];
  return { failures, onFailure: (error, retryInMs) => void failures.push([(error as Error).message, retryInMs]) };
}

describe('untilDone', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('tries again after each failure, pausing twice as long each time, until the work succeeds', async () => {
    const { failures, onFailure } = collecting();
    let calls = 0;
    const work = async () => {
      calls += 1;
      if (calls <= 3) throw new Error(`Kafka refused #${calls}`);
      return 'done';
    };
    const result = untilDone(work, { signal: new AbortController().signal, onFailure });
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1 + 1000 + 2000);
    await expect(result).resolves.toBe('done');
    expect(calls).toBe(4);
    expect(failures).toEqual([
      ['Kafka refused #1', 500],
      ['Kafka refused #2', 1000],
      ['Kafka refused #3', 2000],
    ]);
  });

  it('never pauses longer than 30 s', async () => {
    const { failures, onFailure } = collecting();
    let calls = 0;
    const result = untilDone(async () => {
      calls += 1;
      if (calls <= 8) throw new Error('down');
      return calls;
    }, { signal: new AbortController().signal, onFailure });
    await vi.advanceTimersByTimeAsync(500 + 1000 + 2000 + 4000 + 8000 + 16000 + 30000 + 30000);
    await expect(result).resolves.toBe(9);
    expect(failures.map(([, pauseMs]) => pauseMs)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('while holding a batch: pauses at most maxPauseMs, heartbeats after each pause, and ends when the heartbeat throws', async () => {
    const { failures, onFailure } = collecting();
    let heartbeats = 0;
    const afterPause = async (): Promise<void> => {
      heartbeats += 1;
      if (heartbeats === 5) throw new Error('the group is rebalancing');
    };
    const result = untilDone(async () => {
      throw new Error('Postgres unreachable');
    }, { signal: new AbortController().signal, onFailure, maxPauseMs: 5000, afterPause });
    const settled = expect(result).rejects.toThrow('the group is rebalancing');
    await vi.advanceTimersByTimeAsync(500 + 1000 + 2000 + 4000 + 5000);
    await settled;
    expect(failures.map(([, pauseMs]) => pauseMs)).toEqual([500, 1000, 2000, 4000, 5000]);
    expect(heartbeats).toBe(5);
  });

  it('stops at once when the process shuts down during a pause, with the last error', async () => {
    const { onFailure } = collecting();
    const shutdown = new AbortController();
    let calls = 0;
    const result = untilDone(async () => {
      calls += 1;
      throw new Error('Postgres unreachable');
    }, { signal: shutdown.signal, onFailure });
    const settled = expect(result).rejects.toThrow('Postgres unreachable');
    await vi.advanceTimersByTimeAsync(100);
    shutdown.abort(new Error('shutting down'));
    await settled;
    expect(calls).toBe(1);
  });
});
