import { describe, expect, it } from 'vitest';
import { bearerToken, generateToken, hashToken, parseTokenLifetime, tokenPrefix } from '../../admin-api/auth/tokens.js';
import { tokenState } from '../../admin-api/store/tokens.js';
import { decodeCursor, encodeCursor, likePattern, pageOf } from '../../admin-api/pagination.js';
import { ApiProblem, fieldProblem, toProblem } from '../../admin-api/problem.js';
import { parseIfMatch } from '../../admin-api/routes/webhook-lookup.js';
import { buildChallenge, challengeProblem } from '../../admin-api/verification.js';
import { apiKeyHeaderProblem, defaultTestEventType, eventTypesProblem, maskSecret, urlProblem } from '../../admin-api/webhook-rules.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createSsrfGuard } from '../../connector/delivery/ssrf-guard.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { verifyStandardWebhook } from '../../scripts/lib/verify-signature.js';

const catalog = loadEventCatalog();
const guard = createSsrfGuard([]);

describe('webhook URL rules', () => {
  it('requires https unless plain HTTP is allowed, and refuses credentials, fragments and private literal addresses', () => {
    expect(urlProblem('https://hooks.example.com/x', { allowPlainHttp: false, guard })).toBeNull();
    expect(urlProblem('http://hooks.example.com/x', { allowPlainHttp: false, guard })).toBe('must use https');
    expect(urlProblem('http://hooks.example.com/x', { allowPlainHttp: true, guard })).toBeNull();
    expect(urlProblem('ftp://hooks.example.com/x', { allowPlainHttp: true, guard })).toBe('must be an http or https URL');
    expect(urlProblem('/relative', { allowPlainHttp: false, guard })).toBe('is not an absolute URL');
    expect(urlProblem('https://a:b@example.com/', { allowPlainHttp: false, guard })).toMatch(/credentials/);
    expect(urlProblem('https://example.com/#frag', { allowPlainHttp: false, guard })).toMatch(/fragment/);
    // The parser would drop them, but the string as given is what is stored, shown and compared.
    for (const raw of ['https://exa\nmple.com/hook', 'https://example.com/a\tb', 'https://example.com/a b', ' https://example.com/', 'https://example.com/\u007f']) {
      expect(urlProblem(raw, { allowPlainHttp: false, guard }), JSON.stringify(raw)).toMatch(/spaces or control characters/);
    }
    for (const address of ['https://127.0.0.1/', 'https://10.0.0.8/', 'https://169.254.169.254/', 'https://[::1]/', 'https://[fe80::1]/']) {
      expect(urlProblem(address, { allowPlainHttp: false, guard }), address).toMatch(/is not reachable/);
    }
    expect(urlProblem('https://127.0.0.1/', { allowPlainHttp: false, guard: createSsrfGuard(['127.0.0.1']) })).toBeNull();
  });
});

describe('event type rules', () => {
  it('accepts catalog types, family wildcards and *, and names the first bad entry', () => {
    expect(eventTypesProblem(['USER_CREATED', 'group.*', '*'], catalog)).toBeNull();
    expect(eventTypesProblem(['USER_CREATED', 'USER_TELEPORTED'], catalog)).toEqual({ index: 1, message: expect.stringMatching(/not an event type/) });
    expect(eventTypesProblem(['robots.*'], catalog)?.message).toMatch(/user\.\*, group\.\*, auth\.\*, admin\.\*/);
  });

  it('picks a test event type the webhook would receive', () => {
    expect(defaultTestEventType(['group.*', 'USER_DISABLED'], catalog)).toBe('USER_DISABLED');
    expect(catalog.familyOf(defaultTestEventType(['auth.*'], catalog))).toBe('auth');
    expect(catalog.isKnownType(defaultTestEventType(['*'], catalog))).toBe(true);
  });
});

describe('secrets and headers', () => {
  it('masks secrets to their kind and last four characters, and nothing of short ones', () => {
    expect(maskSecret('whsec_abcdefghijklmnop')).toBe('whsec_****mnop');
    expect(maskSecret('partner-key-123456')).toBe('****3456');
    expect(maskSecret('short')).toBe('****');
    // Four characters of a short key would be much of it.
    expect(maskSecret('fifteen-chars-k')).toBe('****');
    expect(maskSecret('sixteen-chars-ky')).toBe('****s-ky');
  });

  it('keeps the API key out of headers the connector sets itself', () => {
    expect(apiKeyHeaderProblem('X-Api-Key')).toBeNull();
    expect(apiKeyHeaderProblem('Content-Type')).toMatch(/set by the connector/);
    expect(apiKeyHeaderProblem('webhook-signature')).toMatch(/set by the connector/);
    // The HTTP client refuses to send these, or the endpoint would read the body wrongly: every attempt would fail alike.
    for (const header of ['Expect', 'keep-alive', 'Upgrade', 'Connection', 'Transfer-Encoding', 'Content-Encoding', 'TE', 'Trailer']) {
      expect(apiKeyHeaderProblem(header), header).toMatch(/governs the connection/);
    }
  });
});

describe('tokens', () => {
  it('reads only our bearer tokens and hashes them', () => {
    const token = generateToken();
    expect(token).toMatch(/^iwh_[A-Za-z0-9_-]{43}$/);
    expect(bearerToken(`Bearer ${token}`)).toBe(token);
    expect(bearerToken(`bearer  ${token} `)).toBe(token);
    expect(bearerToken(`Basic ${token}`)).toBeNull();
    expect(bearerToken('Bearer something-else')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
    expect(hashToken(token).equals(hashToken(token))).toBe(true);
    expect(hashToken(token).equals(hashToken(generateToken()))).toBe(false);
    expect(token.startsWith(tokenPrefix(token))).toBe(true);
    expect(tokenPrefix(token).length).toBeLessThan(16);
  });

  it('reads a lifetime in days or hours, or never, and refuses anything else with the reason', () => {
    expect(parseTokenLifetime('90d')).toEqual({ ms: 90 * 86_400_000 });
    expect(parseTokenLifetime('12h')).toEqual({ ms: 12 * 3_600_000 });
    expect(parseTokenLifetime('3650d')).toEqual({ ms: 3650 * 86_400_000 });
    expect(parseTokenLifetime('never')).toEqual({ ms: null });
    for (const text of ['0d', '90', '1.5d', '-1d', '90D', '2w', ' 90d', '', 'forever']) {
      expect(parseTokenLifetime(text), text).toEqual({ problem: `--expires-in "${text}" is not a lifetime; use days (90d), hours (12h) or never` });
    }
    expect(parseTokenLifetime('3651d')).toEqual({ problem: '--expires-in "3651d" is over 3650 days; use never for a token without expiry' });
    expect(parseTokenLifetime('87601h')).toHaveProperty('problem');
  });

  it('says whether a listed token works: revoked before expired, expired once its time has come', () => {
    const info = { id: 'i', organization: 'o', subject: 's', name: '', prefix: 'iwh_', createdAt: '2026-01-01T00:00:00.000Z', lastUsedAt: null };
    const now = Date.parse('2026-06-01T00:00:00.000Z');
    expect(tokenState({ ...info, revokedAt: null, expiresAt: null }, now)).toBe('active, no expiry');
    expect(tokenState({ ...info, revokedAt: null, expiresAt: '2026-06-01T00:00:00.001Z' }, now)).toBe('active until 2026-06-01T00:00:00.001Z');
    expect(tokenState({ ...info, revokedAt: null, expiresAt: '2026-06-01T00:00:00.000Z' }, now)).toBe('EXPIRED 2026-06-01T00:00:00.000Z');
    expect(tokenState({ ...info, revokedAt: '2026-02-01T00:00:00.000Z', expiresAt: '2026-03-01T00:00:00.000Z' }, now)).toBe('REVOKED 2026-02-01T00:00:00.000Z');
  });
});

describe('cursor pagination', () => {
  it('round-trips a position and refuses cursors of another sort or not ours', () => {
    const cursor = encodeCursor('name:asc', { value: 'alpha', id: 'a1' });
    expect(decodeCursor(cursor, 'name:asc')).toEqual({ value: 'alpha', id: 'a1' });
    expect(() => decodeCursor(cursor, 'name:desc')).toThrow(/was made for sort "name:asc"/);
    expect(() => decodeCursor('%%%', 'name:asc')).toThrow(ApiProblem);
    expect(() => decodeCursor(Buffer.from('[1]').toString('base64url'), 'name:asc')).toThrow(/not a cursor/);
  });

  it('returns limit rows and a cursor only when the extra row shows there is more', () => {
    const rows = [1, 2, 3].map((n) => ({ n }));
    expect(pageOf(rows, 3, (r) => ({ value: String(r.n), id: String(r.n) }), 's')).toEqual({ items: rows, nextCursor: null });
    const page = pageOf(rows, 2, (r) => ({ value: String(r.n), id: String(r.n) }), 's');
    expect(page.items).toEqual(rows.slice(0, 2));
    expect(decodeCursor(page.nextCursor!, 's')).toEqual({ value: '2', id: '2' });
  });

  it('escapes LIKE wildcards in search text', () => {
    expect(likePattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
  });

  it('reads If-Match as a version', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('"7"')).toBe(7);
    expect(parseIfMatch('W/"12"')).toBe(12);
    // Any version: the webhook only has to exist.
    expect(parseIfMatch('*')).toBeUndefined();
    expect(() => parseIfMatch('"abc"')).toThrow(/if-match/);
  });
});

describe('problem details', () => {
  it('names the field of each kind of schema violation', () => {
    expect(fieldProblem({ instancePath: '', keyword: 'required', params: { missingProperty: 'url' } }, 'body')).toEqual({ in: 'body', field: 'url', message: 'is required' });
    expect(fieldProblem({ instancePath: '/apiKey', keyword: 'additionalProperties', params: { additionalProperty: 'x' } }, 'body')).toEqual({ in: 'body', field: 'apiKey.x', message: 'is not a known field' });
    expect(fieldProblem({ instancePath: '/sort', keyword: 'enum', params: { allowedValues: ['a', 'b'] } }, 'querystring')).toEqual({ in: 'query', field: 'sort', message: 'must be one of: a, b' });
    expect(fieldProblem({ instancePath: '/eventTypes/2', keyword: 'maxLength', params: {}, message: 'must NOT have more than 100 characters' }, 'body').field).toBe('eventTypes.2');
    expect(fieldProblem({ instancePath: '/id', keyword: 'format', params: {}, message: 'must match format "uuid"' }, 'params')).toMatchObject({ in: 'path', field: 'id' });
  });

  it('maps parser errors to their problem types and hides internal errors', () => {
    expect(toProblem(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 })).status).toBe(415);
    expect(toProblem(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 })).status).toBe(413);
    expect(toProblem(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 })).errors?.[0]?.field).toBe('(body)');
    const internal = toProblem(new Error('connection to 10.0.0.3 refused, password=hunter2'));
    expect(internal.status).toBe(500);
    expect(JSON.stringify(internal.body())).not.toContain('hunter2');
  });
});

describe('verification challenge', () => {
  const row = { id: 'w1', organization: 'acme', name: 'crm' };

  it('is signed like an event, carries the API key, and names the challenge', () => {
    const secret = generateSigningSecret();
    const request = buildChallenge(row, [secret], { header: 'X-Key', value: 'k' }, 'ua/1', Math.floor(Date.now() / 1000));
    expect(JSON.parse(request.body)).toEqual({ type: 'webhook.verification', challenge: request.challenge, webhook: row });
    expect(verifyStandardWebhook(secret, request.headers, request.body)).toBe(true);
    expect(request.headers['x-key']).toBe('k');
  });

  it('during a rotation\'s overlap, carries a signature per secret: a receiver on either verifies it', () => {
    const [current, previous, other] = [generateSigningSecret(), generateSigningSecret(), generateSigningSecret()];
    const request = buildChallenge(row, [current, previous], null, 'ua/1', Math.floor(Date.now() / 1000));
    expect(request.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verifyStandardWebhook(current, request.headers, request.body)).toBe(true);
    expect(verifyStandardWebhook(previous, request.headers, request.body)).toBe(true);
    expect(verifyStandardWebhook(other, request.headers, request.body)).toBe(false);
  });

  it('passes only a 2xx that echoes the challenge as JSON or plain text', () => {
    const ok = { kind: 'response', status: 200 } as const;
    expect(challengeProblem(ok, '{"challenge":"abc"}', 'abc')).toBeNull();
    expect(challengeProblem(ok, ' abc\n', 'abc')).toBeNull();
    expect(challengeProblem(ok, '{"challenge":"abd"}', 'abc')).toMatch(/did not echo/);
    expect(challengeProblem(ok, '', 'abc')).toMatch(/did not echo/);
    // An endpoint that sends any request back (an echo service) has not agreed to receive events.
    const request = buildChallenge({ id: 'w', organization: 'o', name: 'n' }, [generateSigningSecret()], null, 'ua', 1_790_000_000);
    expect(challengeProblem(ok, request.body, request.challenge)).toMatch(/sent the challenge request back whole/);
    expect(challengeProblem({ kind: 'response', status: 302 }, 'abc', 'abc')).toMatch(/HTTP 302/);
    expect(challengeProblem({ kind: 'error', code: 'SSRF_BLOCKED', message: 'address 10.0.0.1 is private', retryable: false }, '', 'abc')).toMatch(/SSRF_BLOCKED/);
  });
});

describe('the admin view of a webhook row', () => {
  it('masks secrets, and one stored under another key does not fail the view', async () => {
    const { toView } = await import('../../admin-api/store/webhooks.js');
    const { createSecretBox, secretPlace } = await import('../../connector/security/encryption.js');
    const box = createSecretBox(Buffer.alloc(32, 1).toString('base64'));
    const otherKey = createSecretBox(Buffer.alloc(32, 2).toString('base64'));
    const now = new Date();
    const row = {
      id: 'w', organization: 'o', name: 'n', description: '', url: 'https://x', event_types: ['*'], status: 'active' as const, status_reason: null,
      status_changed_at: null, verification_status: 'verified' as const, verified_at: now, verification_attempted_at: now, verification_error: null,
      body_format: 'parallelworks' as const, ordering: 'relaxed' as const, signing_secret_enc: box.encrypt('whsec_abcdefghijklmnop', secretPlace.signingSecret('w')), previous_signing_secret_enc: null,
      previous_secret_expires_at: null, api_key_header: 'x-api-key', api_key_enc: otherKey.encrypt('partner-key-123456', secretPlace.apiKey('w')), owner: 'a', created_at: now, updated_at: now, version: 1,
    };
    const view = toView(row, box);
    expect(view.signingSecret.masked).toBe('whsec_****mnop');
    expect(view.apiKey).toEqual({ header: 'x-api-key', masked: '****' });
    expect(view.receivingEvents).toBe(true);
  });
});
