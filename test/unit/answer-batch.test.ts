import { describe, expect, it } from 'vitest';
import { createAnswerBatch } from '../../connector/delivery/answer-batch.js';
import type { SendResult } from '../../connector/delivery/http-sender.js';
import { SLOW, type ResultBatch } from '../../connector/delivery/threaded-sender.js';

const ok = (n: number): SendResult => ({ result: { kind: 'response', status: 200 + n }, responseExcerpt: '', durationMs: n });

/** A batch whose turn ends when the test says. */
function batchUnderTest(): { add: (id: number, answer: SendResult | typeof SLOW) => void; flushNow: () => void; endTurn: () => void; posted: ResultBatch[]; scheduled: () => number } {
  const posted: ResultBatch[] = [];
  let pending: Array<() => void> = [];
  const batch = createAnswerBatch((answers) => posted.push(answers), (flush) => pending.push(flush));
  return {
    add: (id, answer) => batch.add(id, answer),
    flushNow: () => batch.flushNow(),
    endTurn: () => {
      const due = pending;
      pending = [];
      for (const flush of due) flush();
    },
    posted,
    scheduled: () => pending.length,
  };
}

describe('a sending thread\'s batch of answers', () => {
  it('posts every answer of a turn in one message, once the turn is over', () => {
    const batch = batchUnderTest();
    batch.add(1, ok(1));
    batch.add(2, SLOW);
    batch.add(3, ok(3));
    expect(batch.scheduled()).toBe(1);
    expect(batch.posted).toEqual([]);
    batch.endTurn();
    expect(batch.posted).toEqual([[[1, ok(1)], [2, SLOW], [3, ok(3)]]]);
    batch.add(4, ok(4));
    batch.endTurn();
    expect(batch.posted[1]).toEqual([[4, ok(4)]]);
  });

  it('drops a slow report whose request is answered in the same batch: the task need not wait aside', () => {
    const batch = batchUnderTest();
    batch.add(7, SLOW);
    batch.add(8, SLOW);
    batch.add(7, ok(7));
    batch.endTurn();
    expect(batch.posted).toEqual([[[8, SLOW], [7, ok(7)]]]);
  });

  it('keeps a slow report posted in an earlier batch: its task already waits aside and hears the answer next', () => {
    const batch = batchUnderTest();
    batch.add(9, SLOW);
    batch.endTurn();
    batch.add(9, ok(9));
    batch.endTurn();
    expect(batch.posted).toEqual([[[9, SLOW]], [[9, ok(9)]]]);
  });

  it('posts no empty message when a dropped report had emptied its batch, and schedules the next one as ever', () => {
    const batch = batchUnderTest();
    batch.add(5, SLOW);
    batch.add(5, ok(5));
    batch.endTurn();
    batch.add(6, ok(6));
    expect(batch.scheduled()).toBe(1);
    batch.endTurn();
    expect(batch.posted).toEqual([[[5, ok(5)]], [[6, ok(6)]]]);
  });

  it('posts what it gathered at once when told (a closing thread), and nothing more once the turn is over', () => {
    const batch = batchUnderTest();
    batch.flushNow();
    expect(batch.posted).toEqual([]);
    batch.add(1, ok(1));
    batch.flushNow();
    expect(batch.posted).toEqual([[[1, ok(1)]]]);
    batch.endTurn();
    expect(batch.posted).toHaveLength(1);
  });
});
