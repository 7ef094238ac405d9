import type { SendResult } from './http-sender.js';
import { SLOW, type ResultBatch } from './threaded-sender.js';

/**
 * A sending thread's answers on their way to the main thread: gathered
 * through one turn of the thread's event loop and posted as one message
 * once the turn is over (`schedule`, setImmediate in the thread). A slow
 * report whose request is answered within the same batch is dropped: the
 * task need not wait aside for an answer that is already there.
 */
export interface AnswerBatch {
  add(id: number, answer: SendResult | typeof SLOW): void;
  /** Posts what is gathered now, if anything: a closing thread's last answers, before its port closes. */
  flushNow(): void;
}

export function createAnswerBatch(post: (batch: ResultBatch) => void, schedule: (flush: () => void) => void): AnswerBatch {
  let answers: ResultBatch = [];
  /** Requests reported slow in the batch being gathered. */
  const slowInBatch = new Set<number>();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    // Already posted by flushNow.
    if (answers.length === 0) return;
    const batch = answers;
    answers = [];
    slowInBatch.clear();
    post(batch);
  };
  return {
    add(id, answer) {
      if (answer === SLOW) slowInBatch.add(id);
      else if (slowInBatch.delete(id)) {
        const report = answers.findIndex(([reported, marker]) => reported === id && marker === SLOW);
        if (report >= 0) answers.splice(report, 1);
      }
      // Once a batch: not again when a dropped report had emptied it (that posted an empty message besides).
      if (!scheduled) {
        scheduled = true;
        schedule(flush);
      }
      answers.push([id, answer]);
    },
    flushNow: flush,
  };
}
