import { describe, expect, it } from 'vitest';
import { createKeyedScheduler } from '../../connector/delivery/keyed-scheduler.js';
import { createSlowRequests, type SlowRequests } from '../../connector/delivery/slow-requests.js';
import { slowRequests as slowRequestCounter } from '../../connector/observability/metrics.js';
import { waitFor } from '../support/wait.js';

/** A request whose answer the test gives. */
function request(): { answer: Promise<string>; resolve: (value: string) => void; reject: (error: Error) => void } {
  let resolve!: (value: string) => void;
  let reject!: (error: Error) => void;
  const answer = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { answer, resolve, reject };
}

/**
 * A deliverer's slots in miniature: one slot, and each item waits for its
 * request through `slow`. Records which items started and what they got.
 */
function oneSlot(slow: SlowRequests) {
  const requests = new Map<string, ReturnType<typeof request>>();
  const started: string[] = [];
  const answers: string[] = [];
  const scheduler = createKeyedScheduler<string>(1, async (key, _item, aside) => {
    started.push(key);
    const pending = request();
    requests.set(key, pending);
    try {
      answers.push(`${key}:${await slow.wait(pending.answer, aside)}`);
    } catch (error) {
      answers.push(`${key}:${(error as Error).message}`);
    }
  });
  return { scheduler, requests, started, answers };
}

/** How many slow requests so far gave their slot up (`released`) or kept it. */
const slowCount = async (slot: 'released' | 'kept'): Promise<number> => (await slowRequestCounter.get()).values.find((v) => v.labels['slot'] === slot)?.value ?? 0;

describe('createSlowRequests', () => {
  it('gives a request\'s slot to another webhook once it is slow, and finishes it once answered', async () => {
    const slow = createSlowRequests({ afterMs: 20, max: 10 });
    const { scheduler, requests, started, answers } = oneSlot(slow);
    const releasedBefore = await slowCount('released');
    scheduler.enqueue('slow-webhook', 'task');
    scheduler.enqueue('fast-webhook', 'task');
    // One slot: the other webhook starts only once the slow request has waited past the threshold.
    expect(started).toEqual(['slow-webhook']);
    await waitFor('the other webhook started', () => started.includes('fast-webhook'), 2000, 5);
    expect(slow.aside).toBe(1);
    requests.get('fast-webhook')!.resolve('204');
    await waitFor('the other webhook answered', () => answers.includes('fast-webhook:204'), 2000, 5);
    expect(answers).toEqual(['fast-webhook:204']);
    requests.get('slow-webhook')!.resolve('200');
    await scheduler.idle();
    expect(answers).toEqual(['fast-webhook:204', 'slow-webhook:200']);
    expect(slow.aside).toBe(0);
    expect((await slowCount('released')) - releasedBefore).toBe(1);
  });

  it('keeps a fast request in its slot, and passes a slow request\'s failure on', async () => {
    const slow = createSlowRequests({ afterMs: 20, max: 10 });
    const { scheduler, requests, started, answers } = oneSlot(slow);
    const releasedBefore = await slowCount('released');
    scheduler.enqueue('a', 'task');
    scheduler.enqueue('b', 'task');
    // Answered before the threshold: a's timer is cleared and never moves it.
    requests.get('a')!.resolve('204');
    await waitFor('b started', () => started.includes('b'), 2000, 5);
    expect(answers).toEqual(['a:204']);
    await waitFor('b moved aside', () => slow.aside === 1, 2000, 5);
    requests.get('b')!.reject(new Error('connection reset'));
    await scheduler.idle();
    expect(answers).toEqual(['a:204', 'b:connection reset']);
    expect(slow.aside).toBe(0);
    expect((await slowCount('released')) - releasedBefore).toBe(1);
  });

  it('keeps the slot once the most requests allowed wait aside', async () => {
    const slow = createSlowRequests({ afterMs: 20, max: 0 });
    const { scheduler, requests, started } = oneSlot(slow);
    const keptBefore = await slowCount('kept');
    scheduler.enqueue('a', 'task');
    scheduler.enqueue('b', 'task');
    await waitFor('the threshold passed', async () => (await slowCount('kept')) > keptBefore, 2000, 5);
    expect(started).toEqual(['a']);
    expect(slow.aside).toBe(0);
    requests.get('a')!.resolve('204');
    await waitFor('b started', () => started.includes('b'), 2000, 5);
    requests.get('b')!.resolve('204');
    await scheduler.idle();
  });

  it('with a threshold of 0 waits in the slot, without a timer', () => {
    const slow = createSlowRequests({ afterMs: 0, max: 10 });
    const pending = request();
    const inSlot = <T>(waiting: Promise<T>): Promise<T> => waiting;
    expect(slow.wait(pending.answer, inSlot)).toBe(pending.answer);
  });
});
