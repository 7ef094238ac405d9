import { describe, expect, it } from 'vitest';
import { createKeyedScheduler } from '../../connector/delivery/keyed-scheduler.js';
import { createSlowRequests, type SlowRequests } from '../../connector/delivery/slow-requests.js';
import { slowRequests as slowRequestCounter } from '../../connector/observability/metrics.js';
import { waitFor } from '../support/wait.js';

/** A request whose answer the test gives, and which the test reports slow as its sender would. */
interface Pending {
  resolve: (value: string) => void;
  reject: (error: Error) => void;
  slow: () => void;
}

/**
 * A deliverer's slots in miniature: one slot, and each item waits for its
 * request through `slow`. Records which items started and what they got.
 */
function oneSlot(slow: SlowRequests) {
  const requests = new Map<string, Pending>();
  const started: string[] = [];
  const answers: string[] = [];
  const scheduler = createKeyedScheduler<string>(1, async (key, _item, aside) => {
    started.push(key);
    try {
      const answer = await slow.wait((onSlow) => new Promise<string>((resolve, reject) => requests.set(key, { resolve, reject, slow: onSlow })), aside);
      answers.push(`${key}:${answer}`);
    } catch (error) {
      answers.push(`${key}:${(error as Error).message}`);
    }
  });
  return { scheduler, requests, started, answers };
}

/** How many slow requests so far gave their slot up (`released`) or kept it. */
const slowCount = async (slot: 'released' | 'kept'): Promise<number> => (await slowRequestCounter.get()).values.find((v) => v.labels['slot'] === slot)?.value ?? 0;

describe('createSlowRequests', () => {
  it('gives a request\'s slot to another webhook once its sender reports it slow, and finishes it once answered', async () => {
    const slow = createSlowRequests({ max: 10 });
    const { scheduler, requests, started, answers } = oneSlot(slow);
    const releasedBefore = await slowCount('released');
    scheduler.enqueue('slow-webhook', 'task');
    scheduler.enqueue('fast-webhook', 'task');
    await waitFor('the slow webhook\'s request', () => requests.has('slow-webhook'), 2000, 5);
    // One slot: the other webhook waits while the request is not reported slow, however long it takes.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(started).toEqual(['slow-webhook']);
    requests.get('slow-webhook')!.slow();
    await waitFor('the other webhook started', () => started.includes('fast-webhook'), 2000, 5);
    expect(slow.aside).toBe(1);
    await waitFor('the other webhook\'s request', () => requests.has('fast-webhook'), 2000, 5);
    requests.get('fast-webhook')!.resolve('204');
    await waitFor('the other webhook answered', () => answers.includes('fast-webhook:204'), 2000, 5);
    expect(answers).toEqual(['fast-webhook:204']);
    requests.get('slow-webhook')!.resolve('200');
    await scheduler.idle();
    expect(answers).toEqual(['fast-webhook:204', 'slow-webhook:200']);
    expect(slow.aside).toBe(0);
    expect((await slowCount('released')) - releasedBefore).toBe(1);
  });

  it('keeps a request answered before any report in its slot (a late report changes nothing), and passes a slow request\'s failure on', async () => {
    const slow = createSlowRequests({ max: 10 });
    const { scheduler, requests, started, answers } = oneSlot(slow);
    const releasedBefore = await slowCount('released');
    scheduler.enqueue('a', 'task');
    scheduler.enqueue('b', 'task');
    await waitFor('a\'s request', () => requests.has('a'), 2000, 5);
    requests.get('a')!.resolve('204');
    await waitFor('a answered', () => answers.includes('a:204'), 2000, 5);
    requests.get('a')!.slow();
    await waitFor('b started', () => started.includes('b'), 2000, 5);
    expect(answers).toEqual(['a:204']);
    expect(slow.aside).toBe(0);
    await waitFor('b\'s request', () => requests.has('b'), 2000, 5);
    requests.get('b')!.slow();
    expect(slow.aside).toBe(1);
    requests.get('b')!.reject(new Error('connection reset'));
    await scheduler.idle();
    expect(answers).toEqual(['a:204', 'b:connection reset']);
    expect(slow.aside).toBe(0);
    expect((await slowCount('released')) - releasedBefore).toBe(1);
  });

  it('keeps the slot once the most requests allowed wait aside', async () => {
    const slow = createSlowRequests({ max: 0 });
    const { scheduler, requests, started } = oneSlot(slow);
    const keptBefore = await slowCount('kept');
    scheduler.enqueue('a', 'task');
    scheduler.enqueue('b', 'task');
    await waitFor('a\'s request', () => requests.has('a'), 2000, 5);
    requests.get('a')!.slow();
    expect((await slowCount('kept')) - keptBefore).toBe(1);
    expect(started).toEqual(['a']);
    expect(slow.aside).toBe(0);
    requests.get('a')!.resolve('204');
    await waitFor('b started', () => started.includes('b'), 2000, 5);
    await waitFor('b\'s request', () => requests.has('b'), 2000, 5);
    requests.get('b')!.resolve('204');
    await scheduler.idle();
  });
});
