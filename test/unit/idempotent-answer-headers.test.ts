import { describe, expect, it } from 'vitest';
import { headersToKeep } from '../../admin-api/http/idempotency.js';

describe('the headers kept with an idempotent answer', () => {
  it('keeps what the answer is (type, tag, location) and not a 503\'s Retry-After, which a replay would repeat for the key\'s whole life', () => {
    const sent: Record<string, string | number> = { 'content-type': 'application/problem+json', 'retry-after': '5', etag: '"3"', location: '/v1/webhooks/x', 'x-request-id': 'r1' };
    expect(headersToKeep((name) => sent[name])).toEqual({ 'content-type': 'application/problem+json', etag: '"3"', location: '/v1/webhooks/x' });
  });
});
