import { describe, expect, it } from 'vitest';
import type { SendResult } from '../../connector/delivery/http-sender.js';
import { WITHDRAWN } from '../../connector/delivery/threaded-sender.js';
import { answer, handlerWith, taskNumber } from '../support/task-handler-harness.js';

/*
 * The handler alone, around a sender whose answers the test scripts: what it does with a request its sender took
 * back unsent (its partition went to another instance while the request waited in a sending thread).
 */
describe('the task handler, for a request taken back unsent', () => {
  it('neither decides nor logs it, throws the partition\'s reason, and frees the breaker\'s probe it was', async () => {
    const partition = new AbortController();
    // Taken back when the partition goes, as a sending thread answers a request still waiting in its lane.
    const takenBack = new Promise<SendResult>((resolve) => partition.signal.addEventListener('abort', () => resolve(WITHDRAWN)));
    const { handle, posted, logged, produced } = handlerWith([answer(503), takenBack, answer(204)]);
    const stop = new AbortController();
    // A 503 opens the breaker; the next request is its probe.
    await handle(taskNumber(1), stop.signal);
    expect(produced.map((p) => p.topic)).toEqual(['retry.5s']);
    const taken = handle(taskNumber(2), stop.signal, undefined, partition.signal);
    await expect.poll(() => posted).toEqual(['msg_1', 'msg_2']);
    partition.abort(new Error('partition 3 was assigned to another instance'));
    await expect(taken).rejects.toThrow('assigned to another instance');
    expect(logged.map((record) => record.taskId)).toEqual(['msg_1']);
    // The probe was taken back: the next request probes, and is sent, rather than shed as CIRCUIT_OPEN.
    await handle(taskNumber(3), stop.signal);
    expect(posted).toEqual(['msg_1', 'msg_2', 'msg_3']);
    expect(logged.map((record) => [record.taskId, record.outcome])).toEqual([['msg_1', 'retry'], ['msg_3', 'delivered']]);
  });

  it('sends nothing for a task whose partition went before its request was made', async () => {
    const { handle, posted, logged } = handlerWith([answer(204)]);
    const partition = new AbortController();
    partition.abort(new Error('gone'));
    await expect(handle(taskNumber(1), new AbortController().signal, undefined, partition.signal)).rejects.toThrow('gone');
    expect(posted).toEqual([]);
    expect(logged).toEqual([]);
  });
});
