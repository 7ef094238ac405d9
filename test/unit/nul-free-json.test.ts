import { describe, expect, it } from 'vitest';
import { nulFreeJson } from '../../connector/db/nul-free-json.js';

describe('nulFreeJson', () => {
  it('replaces every NUL in strings with U+FFFD, keys and nested values too', () => {
    const value = { body: 'a\u0000b\u0000', nested: [{ 'k\u0000': '\u0000' }] };
    expect(JSON.parse(nulFreeJson(JSON.stringify(value)))).toEqual({ body: 'a\uFFFDb\uFFFD', nested: [{ 'k\uFFFD': '\uFFFD' }] });
  });

  it('keeps the text "\\u0000" (a backslash, then u0000), however many backslashes come before it', () => {
    for (const text of ['\\u0000', '\\\\u0000', 'x\\u0000y', '\\\u0000']) {
      const expected = text.replaceAll('\u0000', '\uFFFD');
      expect(JSON.parse(nulFreeJson(JSON.stringify({ text })))).toEqual({ text: expected });
    }
  });

  it('returns text without NULs as it is', () => {
    const json = JSON.stringify({ a: 'plain', b: 'é \uFFFD' });
    expect(nulFreeJson(json)).toBe(json);
  });
});
