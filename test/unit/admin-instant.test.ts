import { describe, expect, it } from 'vitest';
import { instantMicros } from '../../admin-api/instant.js';

describe('instantMicros', () => {
  it('keeps the microseconds that Date.parse drops, so times within one millisecond compare as Postgres compares them', () => {
    const walkedTo = instantMicros('2026-03-01T10:00:00.123000Z');
    const until = instantMicros('2026-03-01T10:00:00.123456Z');
    expect(Date.parse('2026-03-01T10:00:00.123456Z')).toBe(Date.parse('2026-03-01T10:00:00.123Z'));
    expect(until - walkedTo).toBe(456n);
    expect(walkedTo).toBe(BigInt(Date.parse('2026-03-01T10:00:00.123Z')) * 1000n);
  });

  it('rounds past the sixth digit as Postgres does, and reads offsets, a lower-case t and no fraction alike', () => {
    expect(instantMicros('2026-03-01T10:00:00.1234565Z')).toBe(instantMicros('2026-03-01T10:00:00.123457Z'));
    expect(instantMicros('2026-03-01T10:00:00.9999996Z')).toBe(instantMicros('2026-03-01T10:00:01Z'));
    expect(instantMicros('2026-03-01t12:00:00.5+02:00')).toBe(instantMicros('2026-03-01T10:00:00.500000Z'));
    expect(instantMicros('2026-03-01T10:00:00Z')).toBe(BigInt(Date.parse('2026-03-01T10:00:00Z')) * 1000n);
  });

  it('counts a fraction forward from the second before 1970 too', () => {
    expect(instantMicros('1969-12-31T23:59:59.000001Z')).toBe(-999_999n);
  });

  it('tells apart microseconds far from 1970, past what a double holds exactly', () => {
    expect(instantMicros('0001-01-01T00:00:00.000002Z') - instantMicros('0001-01-01T00:00:00.000001Z')).toBe(1n);
  });
});
