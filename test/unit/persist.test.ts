import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { untilDone } from '../../connector/delivery/persist.js';
import { createRootLogger } from '../../connector/observability/logger.js';

/** A logger whose warnings are collected. */
function collectingLog(): { log: ReturnType<typeof createRootLogger>; warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = [];
  const log = createRootLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) } });
  return { log, warnings };
}

describe('untilDone', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('tries again after each failure, pausing twice as long each time, until the work succeeds', async () => {
    const { log, warnings } = collectingLog();
    let calls = 0;
    const work = async () => {
      calls += 1;
      if (calls <= 3) throw new Error(`Kafka refused #${calls}`);
      return 'done';
    };
    const result = untilDone(work, { signal: new AbortController().signal, log, context: () => ({ webhookId: 'w1' }), failed: 'could not; retrying' });
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1 + 1000 + 2000);
    await expect(result).resolves.toBe('done');
    expect(calls).toBe(4);
    expect(warnings.map((w) => [w['retryInMs'], w['webhookId'], w['msg']])).toEqual([
      [500, 'w1', 'could not; retrying'],
      [1000, 'w1', 'could not; retrying'],
      [2000, 'w1', 'could not; retrying'],
    ]);
  });

  it('never pauses longer than 30 s', async () => {
    const { log, warnings } = collectingLog();
    let calls = 0;
    const result = untilDone(async () => {
      calls += 1;
      if (calls <= 8) throw new Error('down');
      return calls;
    }, { signal: new AbortController().signal, log, context: () => ({}), failed: 'x' });
    await vi.advanceTimersByTimeAsync(500 + 1000 + 2000 + 4000 + 8000 + 16000 + 30000 + 30000);
    await expect(result).resolves.toBe(9);
    expect(warnings.map((w) => w['retryInMs'])).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('stops at once when the process shuts down during a pause, with the last error', async () => {
    const { log } = collectingLog();
    const shutdown = new AbortController();
    let calls = 0;
    const result = untilDone(async () => {
      calls += 1;
      throw new Error('Postgres unreachable');
    }, { signal: shutdown.signal, log, context: () => ({}), failed: 'x' });
    const settled = expect(result).rejects.toThrow('Postgres unreachable');
    await vi.advanceTimersByTimeAsync(100);
    shutdown.abort(new Error('shutting down'));
    await settled;
    expect(calls).toBe(1);
  });
});
