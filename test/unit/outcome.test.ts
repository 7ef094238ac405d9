import { describe, expect, it } from 'vitest';
import { decideOutcome, parseRetryAfter, statusClass } from '../../connector/delivery/outcome.js';

const now = Date.parse('2026-11-25T12:00:00Z');
const response = (status: number, retryAfter?: string) => ({ kind: 'response' as const, status, retryAfter });

describe('decideOutcome', () => {
  it('treats every 2xx as delivered', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(decideOutcome(response(status), now).decision).toBe('delivered');
  });

  it('retries 408, 429 and 5xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) expect(decideOutcome(response(status), now).decision).toBe('retry');
  });

  it('disables the webhook on 410 Gone', () => {
    expect(decideOutcome(response(410), now)).toEqual({ decision: 'disable', reason: 'endpoint answered 410 Gone' });
  });

  it('gives up on other 4xx and on redirects, which are not followed', () => {
    for (const status of [400, 401, 403, 404, 413, 422, 301, 302]) expect(decideOutcome(response(status), now).decision).toBe('final');
  });

  it('honours Retry-After in seconds and as an HTTP date', () => {
    expect(decideOutcome(response(503, '120'), now)).toEqual({ decision: 'retry', reason: 'HTTP 503', retryAfterMs: 120_000 });
    expect(decideOutcome(response(429, 'Wed, 25 Nov 2026 12:01:00 GMT'), now)).toMatchObject({ retryAfterMs: 60_000 });
  });

  it('retries retryable transport errors and not the others', () => {
    expect(decideOutcome({ kind: 'error', code: 'TIMEOUT', message: 't', retryable: true }, now).decision).toBe('retry');
    expect(decideOutcome({ kind: 'error', code: 'SSRF_BLOCKED', message: 's', retryable: false }, now).decision).toBe('final');
  });
});

describe('parseRetryAfter', () => {
  it('ignores absent or unreadable values and clamps past dates to zero', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('reads seconds and the three forms of HTTP date, all as GMT', () => {
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wednesday, 25-Nov-26 12:02:00 GMT', now)).toBe(120_000);
    expect(parseRetryAfter('Wed Nov 25 12:03:00 2026', now)).toBe(180_000);
    expect(parseRetryAfter('Wed Nov  5 12:00:00 2026', now)).toBe(0);
  });

  it('ignores what only Date.parse would read: no task held for hours on a header that means nothing', () => {
    for (const value of ['3600.5', '-5', '1e3', '2026-11-25T13:00:00Z', 'Thu, 26 Nov 2026 12:00:00 +0100', 'tomorrow 12:00', '26 Nov 2026']) {
      expect(parseRetryAfter(value, now), value).toBeUndefined();
    }
  });
});

describe('statusClass', () => {
  it('labels responses by hundreds and failures without a response as error', () => {
    expect([100, 204, 302, 429, 503, 999].map((status) => statusClass(response(status)))).toEqual(['1xx', '2xx', '3xx', '4xx', '5xx', '9xx']);
    expect(statusClass(response(1200))).toBe('12xx');
    expect(statusClass({ kind: 'error', code: 'TIMEOUT', message: 'timed out', retryable: true })).toBe('error');
  });
});
