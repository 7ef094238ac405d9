import { describe, expect, it } from 'vitest';
import { createSendLanes, Withdrawn } from '../../connector/delivery/send-lanes.js';

/** A send whose requests stay open until the test answers them, in any order. */
function controlledSend() {
  const open = new Map<string, (answer: string) => void>();
  const sent: string[] = [];
  const send = (request: string): Promise<string> => {
    sent.push(request);
    return new Promise((resolve) => open.set(request, resolve));
  };
  const answer = (request: string): void => {
    open.get(request)!(`answer to ${request}`);
    open.delete(request);
  };
  return { send, sent, open, answer };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('send lanes', () => {
  it('keeps at most a lane\'s cap open, sends the rest in order as answers come, and answers each request with its own answer', async () => {
    const { send, sent, answer } = controlledSend();
    const lanes = createSendLanes(send, { slowAfterMs: 0, maxAside: 10 });
    lanes.configure(1, 2);
    const answers = ['a', 'b', 'c', 'd'].map((request) => lanes.submit(1, request));
    expect(sent).toEqual(['a', 'b']);
    expect(lanes.queued).toBe(2);
    answer('b');
    await settle();
    expect(sent).toEqual(['a', 'b', 'c']);
    answer('a');
    answer('c');
    await settle();
    expect(sent).toEqual(['a', 'b', 'c', 'd']);
    answer('d');
    expect(await Promise.all(answers)).toEqual(['answer to a', 'answer to b', 'answer to c', 'answer to d']);
    expect(lanes.queued).toBe(0);
  });

  it('bounds each lane alone: a full lane holds up none of another\'s requests, nor a lane never configured', () => {
    const { send, sent } = controlledSend();
    const lanes = createSendLanes(send, { slowAfterMs: 0, maxAside: 10 });
    lanes.configure(1, 1);
    lanes.configure(2, 1);
    void lanes.submit(1, 'first of 1');
    void lanes.submit(1, 'second of 1');
    void lanes.submit(2, 'first of 2');
    for (let i = 0; i < 5; i += 1) void lanes.submit(0, `unbounded ${i}`);
    expect(sent).toEqual(['first of 1', 'first of 2', 'unbounded 0', 'unbounded 1', 'unbounded 2', 'unbounded 3', 'unbounded 4']);
  });

  it('sends what waits at once when a lane\'s cap is raised', () => {
    const { send, sent } = controlledSend();
    const lanes = createSendLanes(send, { slowAfterMs: 0, maxAside: 10 });
    lanes.configure(1, 1);
    for (const request of ['a', 'b', 'c']) void lanes.submit(1, request);
    lanes.configure(1, 3);
    expect(sent).toEqual(['a', 'b', 'c']);
  });

  it('reports each request open past slowAfterMs once, releases it from its lane\'s cap, at most maxAside at once, and counts it nowhere once answered', async () => {
    let clock = 0;
    const { send, sent, answer } = controlledSend();
    const reported: string[] = [];
    const lanes = createSendLanes(send, { slowAfterMs: 30, maxAside: 1, now: () => clock, onSlow: (request) => reported.push(request) });
    lanes.configure(1, 1);
    void lanes.submit(1, 'slow one');
    void lanes.submit(1, 'waits');
    void lanes.submit(1, 'waits longer');
    expect(sent).toEqual(['slow one']);
    clock = 30;
    // The timer is real: it was set for 30 ms past the slow request's start.
    await expect.poll(() => sent).toEqual(['slow one', 'waits']);
    expect(reported).toEqual(['slow one']);
    clock = 60;
    // 'waits' is slow now too, and reported so, but one request aside is the most: it keeps its place.
    await expect.poll(() => reported).toEqual(['slow one', 'waits']);
    expect(sent).toEqual(['slow one', 'waits']);
    // The slow one answered: the aside count falls, and 'waits' (slow by now) is released in turn, not reported again.
    answer('slow one');
    await expect.poll(() => sent).toEqual(['slow one', 'waits', 'waits longer']);
    expect(reported).toEqual(['slow one', 'waits']);
    answer('waits');
    answer('waits longer');
    expect(lanes.queued).toBe(0);
    lanes.close();
  });

  it('judges a request by its time open, not its time waiting for room: the endpoint has not seen it meanwhile', async () => {
    let clock = 0;
    const { send, sent, answer } = controlledSend();
    const reported: string[] = [];
    const lanes = createSendLanes(send, { slowAfterMs: 30, maxAside: 10, now: () => clock, onSlow: (request) => reported.push(request) });
    lanes.configure(1, 1);
    void lanes.submit(1, 'first');
    void lanes.submit(1, 'second');
    clock = 25;
    answer('first');
    await expect.poll(() => sent).toEqual(['first', 'second']);
    // Submitted 50 ms ago, open for 25: not slow.
    clock = 50;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reported).toEqual([]);
    clock = 55;
    await expect.poll(() => reported).toEqual(['second']);
    answer('second');
    lanes.close();
  });

  it('reports slow requests with no other waiting, and of every lane, each by its own start', async () => {
    let clock = 0;
    const { send, answer } = controlledSend();
    const reported: string[] = [];
    const lanes = createSendLanes(send, { slowAfterMs: 30, maxAside: 10, now: () => clock, onSlow: (request) => reported.push(request) });
    lanes.configure(1, 5);
    lanes.configure(2, 5);
    void lanes.submit(1, 'lane 1 at 0');
    clock = 10;
    void lanes.submit(2, 'lane 2 at 10');
    clock = 30;
    await expect.poll(() => reported).toEqual(['lane 1 at 0']);
    clock = 40;
    await expect.poll(() => reported).toEqual(['lane 1 at 0', 'lane 2 at 10']);
    answer('lane 1 at 0');
    answer('lane 2 at 10');
    lanes.close();
  });

  it('keeps its queue as small as what waits under load that never lets it empty', async () => {
    const { send, sent, answer } = controlledSend();
    const lanes = createSendLanes(send, { slowAfterMs: 0, maxAside: 10 });
    lanes.configure(1, 1);
    for (const request of ['r0', 'r1', 'r2']) void lanes.submit(1, request);
    // One more waits each time one is answered: two always wait, and 10,000 go through the queue.
    for (let i = 3; i < 10_002; i += 1) {
      void lanes.submit(1, `r${i}`);
      answer(`r${i - 3}`);
      await settle();
    }
    expect(sent).toHaveLength(10_000);
    expect(lanes.queued).toBe(2);
    expect(lanes.retained).toBeLessThanOrEqual(2048);
  });

  it('withdraws the waiting requests picked, unsent, and leaves those already out and the others in order', async () => {
    const { send, sent, answer } = controlledSend();
    const lanes = createSendLanes(send, { slowAfterMs: 0, maxAside: 10 });
    lanes.configure(1, 1);
    lanes.configure(2, 1);
    const out = lanes.submit(1, 'gone:out');
    const waiting = ['gone:a', 'stays:b', 'gone:c'].map((request) => lanes.submit(1, request));
    const otherLane = [lanes.submit(2, 'gone:other out'), lanes.submit(2, 'gone:other waiting')];
    expect(lanes.withdraw((request) => request.startsWith('gone:'))).toBe(3);
    expect(lanes.queued).toBe(1);
    await expect(waiting[0]).rejects.toBeInstanceOf(Withdrawn);
    await expect(waiting[2]).rejects.toBeInstanceOf(Withdrawn);
    await expect(otherLane[1]).rejects.toBeInstanceOf(Withdrawn);
    // Already out: answered as ever; the lane goes on with what stayed.
    answer('gone:out');
    expect(await out).toBe('answer to gone:out');
    await expect.poll(() => sent).toEqual(['gone:out', 'gone:other out', 'stays:b']);
    answer('stays:b');
    answer('gone:other out');
    expect(await waiting[1]).toBe('answer to stays:b');
    expect(await otherLane[0]).toBe('answer to gone:other out');
  });

  it('answers a send that throws as its rejection, and goes on with the lane', async () => {
    const sent: string[] = [];
    const lanes = createSendLanes((request: string) => {
      sent.push(request);
      if (request === 'bad') throw new Error('cannot send');
      return Promise.resolve(request);
    }, { slowAfterMs: 0, maxAside: 10 });
    lanes.configure(1, 1);
    const bad = lanes.submit(1, 'bad');
    const good = lanes.submit(1, 'good');
    await expect(bad).rejects.toThrow('cannot send');
    expect(await good).toBe('good');
  });
});
