import { describe, expect, it } from 'vitest';
import { abortedRecords, dropAbortedRecords, type FetchedRecord } from '../../connector/kafka/read-committed.js';

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const data = (offset: number, producerId: string, inTransaction = true): FetchedRecord => ({ offset: String(offset), key: Buffer.from('k'), isControlRecord: false, batchContext: { producerId, inTransaction } });
const marker = (offset: number, producerId: string, key: Buffer): FetchedRecord => ({ offset: String(offset), key, isControlRecord: true, batchContext: { producerId, inTransaction: true } });

describe('abortedRecords', () => {
  it('drops transactions listed in abort order, not first-offset order', () => {
    // A begins at 0, B at 2; the broker lists B first because B was aborted first.
    const records = [data(0, 'A'), data(1, 'A'), data(2, 'B'), data(3, 'A'), marker(4, 'B', ABORT), marker(5, 'A', ABORT), data(6, 'C')];
    expect(abortedRecords(records, [{ producerId: 'B', firstOffset: '2' }, { producerId: 'A', firstOffset: '0' }])).toEqual([true, true, true, true, false, false, false]);
  });

  it('starts every transaction that began before the first fetched record at once', () => {
    // The fetch starts at 10; A and B both began earlier, and 10 is B's.
    const records = [data(10, 'B'), data(11, 'A'), marker(12, 'A', ABORT), marker(13, 'B', ABORT)];
    expect(abortedRecords(records, [{ producerId: 'A', firstOffset: '1' }, { producerId: 'B', firstOffset: '2' }])).toEqual([true, true, false, false]);
  });

  it("keeps a producer's committed transactions before and after its aborted one", () => {
    const records = [data(0, 'A'), marker(1, 'A', COMMIT), data(2, 'A'), marker(3, 'A', ABORT), data(4, 'A'), marker(5, 'A', COMMIT)];
    expect(abortedRecords(records, [{ producerId: 'A', firstOffset: '2' }])).toEqual([false, false, true, false, false, false]);
  });

  it('keeps records written outside transactions by a producer with an aborted one', () => {
    const records = [data(0, 'A'), data(1, 'A', false), marker(2, 'A', ABORT)];
    expect(abortedRecords(records, [{ producerId: 'A', firstOffset: '0' }])).toEqual([true, false, false]);
  });

  it('compares offsets as numbers, not strings', () => {
    const records = [data(9, 'A'), data(10, 'B'), marker(11, 'B', ABORT)];
    expect(abortedRecords(records, [{ producerId: 'B', firstOffset: '10' }])).toEqual([false, true, false]);
  });
});

describe('dropAbortedRecords', () => {
  it('turns aborted records into control records kafkajs skips over, keeping every offset, and empties the list', () => {
    const partition = { abortedTransactions: [{ producerId: 'A', firstOffset: '0' }], messages: [data(0, 'A'), marker(1, 'A', ABORT), data(2, 'C')] };
    dropAbortedRecords(partition);
    expect(partition.messages.map((m) => [m.offset, m.isControlRecord])).toEqual([['0', true], ['1', true], ['2', false]]);
    expect(partition.messages[0]!.key).toBeNull();
    expect(partition.abortedTransactions).toEqual([]);
  });

  it('leaves a partition without aborted transactions as it was', () => {
    const messages = [data(0, 'A')];
    const partition = { abortedTransactions: [], messages };
    dropAbortedRecords(partition);
    expect(partition.messages).toBe(messages);
  });
});
