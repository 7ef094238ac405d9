import { describe, expect, it } from 'vitest';
import { aboveFloor, raisedFloor } from '../../connector/ingest/router.js';

const at = (...offsets: number[]) => offsets.map((offset) => ({ offset: String(offset) }));

describe('aboveFloor', () => {
  it('drops the records a previous owner routed (below the committed offset) and keeps the rest', () => {
    expect(aboveFloor(at(5, 6, 7, 8), 7n)).toEqual(at(7, 8));
  });

  it('drops a whole batch below the floor', () => {
    expect(aboveFloor(at(1, 2), 10n)).toEqual([]);
  });

  it('keeps every record when nothing was committed or the batch starts at the floor', () => {
    const batch = at(3, 4);
    expect(aboveFloor(batch, null)).toBe(batch);
    expect(aboveFloor(batch, 3n)).toBe(batch);
  });

  it('compares offsets as numbers, not strings', () => {
    expect(aboveFloor(at(9, 10, 11), 10n)).toEqual(at(10, 11));
  });
});

describe('raisedFloor', () => {
  it('moves the floor past the lane\'s own commit, never back', () => {
    expect(raisedFloor(null, 5n)).toBe(5n);
    expect(raisedFloor(3n, 5n)).toBe(5n);
    // A commit below the floor (a skip past filtered records racing a slice) leaves it where it is.
    expect(raisedFloor(9n, 5n)).toBe(9n);
    // A batch fetched again from a committed offset read before the last commit landed routes nothing twice.
    expect(aboveFloor(at(5, 6, 7, 8), raisedFloor(5n, 8n))).toEqual(at(8));
  });
});
