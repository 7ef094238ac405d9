import { describe, expect, it } from 'vitest';
import { isRowRefusal } from '../../connector/delivery/attempt-sink.js';

describe('attempt sink: which Postgres errors refuse the rows themselves', () => {
  it('data exceptions and integrity violations do: writing those rows again can never succeed', () => {
    expect(isRowRefusal({ code: '22P02' })).toBe(true); // invalid text representation (a webhook id that is no UUID)
    expect(isRowRefusal({ code: '22001' })).toBe(true); // string too long
    expect(isRowRefusal({ code: '23502' })).toBe(true); // not-null violation
    expect(isRowRefusal({ code: '54000' })).toBe(true); // program limit: a key past the index's row size
    expect(isRowRefusal({ code: '54001' })).toBe(true); // stack depth: JSON nested too deep
  });

  it('lost connections, shutdowns and anything unclassified do not: the batch is tried again', () => {
    expect(isRowRefusal({ code: '08006' })).toBe(false); // connection failure
    expect(isRowRefusal({ code: '57P01' })).toBe(false); // admin shutdown
    expect(isRowRefusal({ code: '53300' })).toBe(false); // too many connections
    expect(isRowRefusal({ code: '57014' })).toBe(false); // statement timeout
    expect(isRowRefusal(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isRowRefusal(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isRowRefusal(null)).toBe(false);
  });
});
