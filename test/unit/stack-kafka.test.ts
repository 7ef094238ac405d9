import { describe, expect, it } from 'vitest';
import { newClusterId } from '../../scripts/stack/kafka.js';

describe('newClusterId', () => {
  it('is 16 bytes in URL-safe base64 without padding, as Kafka formats its ids', () => {
    const id = newClusterId();
    expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('never starts with a dash, which the storage tool would take for an option', () => {
    // 0xf8 makes the first six bits 111110, base64url's '-': that draw must be skipped.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
    const random = (size: number) => draws.shift() ?? Buffer.alloc(size, 0x02);
    expect(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-')).toBe(true);
    const id = newClusterId(random);
    expect(id).toBe(Buffer.alloc(16, 0x01).toString('base64url'));
    expect(draws).toEqual([]);
  });
});
