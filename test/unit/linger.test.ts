import { describe, expect, it } from 'vitest';
import { lingerAfterBatch } from '../../connector/ingest/linger.js';

describe('lingerAfterBatch', () => {
  it('waits after a batch that caught up with its partition', () => {
    expect(lingerAfterBatch('0', 10)).toBe(10);
  });

  it('fetches again at once while behind: the next batch is full already', () => {
    expect(lingerAfterBatch('1', 10)).toBe(0);
    expect(lingerAfterBatch('250000', 10)).toBe(0);
  });

  it('never waits when the linger is off', () => {
    expect(lingerAfterBatch('0', 0)).toBe(0);
  });
});
