import { loadEventCatalog } from '../../connector/events/catalog.js';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postgresRateLimitStore } from '../../admin-api/rate-limit-store.js';
import { createToken, revokeToken } from '../../admin-api/store/tokens.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSubscriptionStore } from '../../connector/subscriptions/subscription-store.js';
import { challengeOf, startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { STALLED_AFTER_MS } from '../../admin-api/verification-sweep.js';
import { startAdminApi, type ApiJson, type RunningAdminApi } from '../support/admin-api.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * The webhook routes of the admin API on real Postgres and Kafka, with real
 * receivers answering (or failing) the verification challenge. Every log
 * line of the API is kept, to prove secrets never reach the logs.
 */
describe('admin API: webhooks', () => {
  const services = inject('services');
  const config = testConfig(services, { ADMIN_RATE_LIMIT_PER_MINUTE: '100000', LOG_LEVEL: 'debug' });
  const logLines: string[] = [];
  const log = createRootLogger({ level: 'debug', destination: new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } }) });
  const organization = uniqueName('org');
  let api: RunningAdminApi;
  let receiver: Receiver;
  const responses: string[] = [];

  const call: RunningAdminApi['call'] = async (method, path, options) => {
    const result = await api.call(method, path, options);
    responses.push(JSON.stringify(result.body));
    return result;
  };
  const create = (body: Record<string, unknown>, token?: string) =>
    call('POST', '/v1/webhooks', { body: { name: uniqueName('hook'), url: receiver.url, eventTypes: ['USER_CREATED'], ...body }, token });
  const get = (id: string, token?: string) => call('GET', `/v1/webhooks/${id}`, { token });
  const verificationOf = async (id: string, status: string, token?: string) => waitFor(`verification ${status}`, async () => {
    const { body } = await get(id, token);
    return body.verification.status === status ? body : undefined;
  }, 15_000);

  beforeAll(async () => {
    // It answers verification challenges by itself.
    receiver = await startReceiver();
    api = await startAdminApi(config, organization, { log });
  });

  afterAll(async () => {
    await api?.close();
    await receiver?.close();
  });

  describe('authentication', () => {
    it('refuses a missing, malformed, unknown or revoked token with 401 problem+json', async () => {
      for (const token of [null, 'not-a-token', 'iwh_unknown']) {
        const { status, headers, body } = await call('GET', '/v1/webhooks', { token });
        expect(status).toBe(401);
        expect(headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(headers.get('www-authenticate')).toBe('Bearer');
        expect(body.type).toBe('urn:identity-webhooks:problem:unauthorized');
      }
      const token = await api.tokenFor(organization, 'short-lived');
      expect((await call('GET', '/v1/event-types', { token })).status).toBe(200);
      const { rows } = await api.pool.query<{ id: string }>(`SELECT id FROM api_tokens WHERE organization = $1 AND subject = 'short-lived'`, [organization]);
      expect(await revokeToken(api.pool, rows[0]!.id)).toBe(true);
      expect((await call('GET', '/v1/event-types', { token })).status).toBe(401);
    });

    it('takes a token until it expires, then refuses it with 401', async () => {
      const { token, info } = await createToken(api.pool, { organization, subject: 'expiring', lifetimeMs: 3_600_000 });
      const expiresIn = Date.parse(info.expiresAt!) - Date.now();
      expect(expiresIn).toBeGreaterThan(3_500_000);
      expect(expiresIn).toBeLessThanOrEqual(3_600_000);
      expect((await call('GET', '/v1/event-types', { token })).status).toBe(200);
      // An hour passes: its expiry moves into the past rather than the test waiting for it.
      await api.pool.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [info.id]);
      const { status, body } = await call('GET', '/v1/event-types', { token });
      expect(status).toBe(401);
      expect(body.type).toBe('urn:identity-webhooks:problem:unauthorized');
    });
  });

  describe('create and verify', () => {
    it('creates a webhook, shows the secret once, records the owner, and verifies it by challenge', async () => {
      const { status, headers, body } = await create({ description: 'CRM sync', eventTypes: ['USER_CREATED', 'group.*'], apiKey: { header: 'X-Partner-Key', value: 'partner-key-123456' } });
      expect(status).toBe(201);
      const { webhook, secret } = body;
      expect(secret).toMatch(/^whsec_/);
      expect(headers.get('location')).toBe(`/v1/webhooks/${webhook.id}`);
      expect(webhook).toMatchObject({
        organization, description: 'CRM sync', url: receiver.url, eventTypes: ['USER_CREATED', 'group.*'], enabled: true, status: 'active',
        owner: 'admin@example.com', bodyFormat: 'parallelworks', ordering: 'relaxed', apiKey: { header: 'x-partner-key', masked: '****3456' },
      });
      expect(webhook.signingSecret.masked).toBe(`whsec_****${secret.slice(-4)}`);

      const verified = await verificationOf(webhook.id, 'verified');
      expect(verified.receivingEvents).toBe(true);
      const challenge = receiver.challenges.find((r) => r.body.includes(webhook.id));
      expect(challenge?.headers['x-partner-key']).toBe('partner-key-123456');
      expect(challenge?.headers['webhook-signature']).toMatch(/^v1,/);

      const stored = await api.pool.query<{ signing_secret_enc: string; api_key_enc: string }>(`SELECT signing_secret_enc, api_key_enc FROM webhooks WHERE id = $1`, [webhook.id]);
      expect(stored.rows[0]!.signing_secret_enc).not.toContain(secret.slice(6));
      expect(stored.rows[0]!.api_key_enc).not.toContain('partner-key');
    });

    it('marks the webhook failed with the reason when the endpoint does not echo the challenge, verifies on demand once it does, and a failed re-check keeps it verified', async () => {
      const stubborn = await startReceiver({ answerChallenges: false });
      try {
        stubborn.respondWith(() => ({ status: 200, body: 'ok' }));
        const { body } = await create({ url: stubborn.url });
        const failed = await verificationOf(body.webhook.id, 'failed');
        expect(failed.verification.error).toMatch(/did not echo the challenge/);
        expect(failed.receivingEvents).toBe(false);

        stubborn.respondWith(() => ({ status: 503 }));
        const again = await call('POST', `/v1/webhooks/${body.webhook.id}/verify`);
        expect(again.body.verification).toMatchObject({ status: 'failed', error: expect.stringMatching(/HTTP 503/) });

        stubborn.respondWith((request) => ({ status: 200, body: JSON.stringify({ challenge: challengeOf(request.body) }) }));
        const verified = await call('POST', `/v1/webhooks/${body.webhook.id}/verify`);
        expect(verified.status).toBe(200);
        expect(verified.body.verification.status).toBe('verified');

        // Verified once, a failed check later keeps it receiving events: the failure is reported, not enforced.
        stubborn.respondWith(() => ({ status: 503 }));
        const recheck = await call('POST', `/v1/webhooks/${body.webhook.id}/verify`);
        expect(recheck.body.verification).toMatchObject({ status: 'verified', verifiedAt: verified.body.verification.verifiedAt, error: expect.stringMatching(/HTTP 503/) });
        expect(recheck.body.receivingEvents).toBe(true);
        stubborn.respondWith((request) => ({ status: 200, body: JSON.stringify({ challenge: challengeOf(request.body) }) }));
        const passed = await call('POST', `/v1/webhooks/${body.webhook.id}/verify`);
        expect(passed.body.verification).toMatchObject({ status: 'verified', error: null });
        expect(Date.parse(passed.body.verification.verifiedAt)).toBeGreaterThan(Date.parse(verified.body.verification.verifiedAt));
      } finally {
        await stubborn.close();
      }
    });

    it('verifies organizations in turn: one with a long line of slow challenges holds up neither the slots nor the turn of another, and its own checks are bounded', async () => {
      const slow = await startReceiver({ answerChallenges: false });
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      slow.respondWith(async (request) => {
        await released;
        return { status: 200, body: JSON.stringify({ challenge: challengeOf(request.body) }) };
      });
      try {
        const busy = await api.tokenFor(uniqueName('org'));
        // More webhooks than the process has challenge slots (16): in one line for all, another organization's
        // challenge would wait behind every one of them.
        const slowIds: string[] = [];
        for (let i = 0; i < 20; i += 1) slowIds.push((await create({ url: slow.url }, busy)).body.webhook.id);
        await waitFor('the busy organization\'s share of challenges out', () => slow.requests.length >= 4);
        const { body } = await create({});
        await verificationOf(body.webhook.id, 'verified');
        // Its share and no more, though slots were free.
        expect(slow.requests).toHaveLength(4);

        // Its own checks wait for their answers, at most four at once: a fifth is refused rather than held open.
        const checks = slowIds.slice(0, 5).map((id) => call('POST', `/v1/webhooks/${id}/verify`, { token: busy }));
        const refused = await Promise.race(checks.map(async (check) => {
          const answer = await check;
          return answer.status === 429 ? answer : new Promise<never>(() => undefined);
        }));
        expect(refused.body.detail).toMatch(/at most 4 at once/);
        expect(refused.headers.get('retry-after')).toBe('5');
        release();
        expect((await Promise.all(checks)).map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 429]);
        await verificationOf(slowIds.at(-1)!, 'verified', busy);
      } finally {
        release();
        await slow.close();
      }
    });

    it('a changed URL must be verified again; other changes keep the verification', async () => {
      const { body } = await create({});
      const id = body.webhook.id;
      await verificationOf(id, 'verified');
      const renamed = await call('PATCH', `/v1/webhooks/${id}`, { body: { name: 'renamed' } });
      expect(renamed.body.verification.status).toBe('verified');

      const other = await startReceiver();
      try {
        const moved = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: other.url } });
        expect(moved.status).toBe(200);
        expect(moved.body.verification.status).toBe('pending');
        expect(moved.body.receivingEvents).toBe(false);
        await verificationOf(id, 'verified');
        expect(other.challenges.length).toBe(1);
        // The same URL sent again is no change: verified as it was, and no challenge goes out.
        const same = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: other.url, description: 'same place' } });
        expect(same.body.verification.status).toBe('verified');
        expect(same.body.receivingEvents).toBe(true);
        // A challenge would be on its way by now: the next request to this receiver shows whether one went out first.
        await fetch(other.url, { method: 'POST', body: 'marker' });
        await waitFor('the marker request', () => other.requests.some((r) => r.body === 'marker'));
        expect(other.challenges.length).toBe(1);
      } finally {
        await other.close();
      }
    });

    it('challenges, at start-up, a webhook left pending by an admin API that stopped before its challenge; not one pending for a short while', async () => {
      const stalled = (await create({})).body.webhook.id as string;
      const recent = (await create({})).body.webhook.id as string;
      await verificationOf(stalled, 'verified');
      await verificationOf(recent, 'verified');
      // As a crash between the commit and the background challenge would leave them: pending, no challenge sent.
      const unverify = `UPDATE webhooks SET verification_status = 'pending', verified_at = NULL, verification_attempted_at = NULL, updated_at = now() - make_interval(secs => $2) WHERE id = $1`;
      await api.pool.query(unverify, [stalled, STALLED_AFTER_MS / 1000 + 60]);
      await api.pool.query(unverify, [recent, 1]);
      const challengesOf = (id: string) => receiver.challenges.filter((r) => r.body.includes(id)).length;
      expect(challengesOf(stalled)).toBe(1);
      const restarted = await startAdminApi(config, organization, { log });
      try {
        await verificationOf(stalled, 'verified');
        expect(challengesOf(stalled)).toBe(2);
        // Claimed in the same sweep had it been stalled: it was not, and is left to the admin API that created it.
        expect((await get(recent)).body.verification).toMatchObject({ status: 'pending', attemptedAt: null });
        expect(challengesOf(recent)).toBe(1);
      } finally {
        await restarted.close();
      }
    });

    it('with ADMIN_WEBHOOK_VERIFICATION=off (development), a webhook is verified at once, and a new URL keeps it verified without a challenge', async () => {
      const unchecked = await startAdminApi(testConfig(services, { ADMIN_WEBHOOK_VERIFICATION: 'off' }), uniqueName('org'), { log });
      const target = await startReceiver();
      try {
        const created = await unchecked.call('POST', '/v1/webhooks', { body: { name: 'dev', url: receiver.url, eventTypes: ['USER_CREATED'] } });
        expect(created.status).toBe(201);
        expect(created.body.webhook).toMatchObject({ verification: { status: 'verified' }, receivingEvents: true });
        const moved = await unchecked.call('PATCH', `/v1/webhooks/${created.body.webhook.id}`, { body: { url: target.url } });
        expect(moved.body).toMatchObject({ url: target.url, verification: { status: 'verified' }, receivingEvents: true });
        await fetch(target.url, { method: 'POST', body: 'marker' });
        await waitFor('the marker request', () => target.requests.some((r) => r.body === 'marker'));
        expect(target.challenges).toHaveLength(0);
      } finally {
        await target.close();
        await unchecked.close();
      }
    });

    it('a webhook with an API key changes its URL only with the key sent again or dropped: the key never goes to a URL it was not given for', async () => {
      const { body } = await create({ apiKey: { header: 'X-Partner-Key', value: 'partner-key-123456' } });
      const id = body.webhook.id;
      await verificationOf(id, 'verified');
      const other = await startReceiver();
      try {
        const refused = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: other.url, name: 'moved' } });
        expect(refused.status).toBe(400);
        expect(refused.body.errors).toEqual([expect.objectContaining({ in: 'body', field: 'apiKey', message: expect.stringMatching(/needs the key sent again/) })]);
        expect((await get(id)).body).toMatchObject({ url: receiver.url, name: body.webhook.name });
        expect(other.challenges).toHaveLength(0);

        const resent = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: other.url, apiKey: { value: 'key-for-the-new-receiver' } } });
        expect(resent.status).toBe(200);
        expect(resent.body.apiKey).toEqual({ header: 'x-partner-key', masked: '****iver' });
        await verificationOf(id, 'verified');
        expect(other.challenges[0]!.headers['x-partner-key']).toBe('key-for-the-new-receiver');

        // A stale If-Match is said first: the change is refused for the version, whatever else it lacks.
        const stale = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: receiver.url }, headers: { 'if-match': '"1"' } });
        expect(stale.status).toBe(412);
        const current = (await get(id)).body.version;
        const fresh = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: receiver.url }, headers: { 'if-match': `"${current}"` } });
        expect(fresh.status).toBe(400);
        expect(fresh.body.errors).toEqual([expect.objectContaining({ field: 'apiKey' })]);
        const dropped = await call('PATCH', `/v1/webhooks/${id}`, { body: { url: receiver.url, apiKey: null } });
        expect(dropped.status).toBe(200);
        expect(dropped.body.apiKey).toBeNull();
        // Without a key, a URL changes alone.
        expect((await call('PATCH', `/v1/webhooks/${id}`, { body: { url: other.url } })).status).toBe(200);
      } finally {
        await other.close();
      }
    });

    it('an answer to a challenge sent to the URL before a change does not verify the URL after it', async () => {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = await startReceiver({ answerChallenges: false });
      const second = await startReceiver({ answerChallenges: false });
      try {
        // The first URL echoes its challenges, but only once released; the second refuses them.
        first.respondWith(async (request) => {
          const challenge = challengeOf(request.body);
          if (challenge === null) return { status: 204 };
          await held;
          return { status: 200, body: JSON.stringify({ challenge }) };
        });
        second.respondWith(() => ({ status: 503 }));
        const { body } = await create({ url: first.url });
        const id = body.webhook.id;
        // A check of the first URL, under way while the webhook moves to the second, which fails its own.
        const checking = call('POST', `/v1/webhooks/${id}/verify`);
        await waitFor('the check at the first URL', () => first.requests.filter((r) => challengeOf(r.body) !== null).length >= 2);
        expect((await call('PATCH', `/v1/webhooks/${id}`, { body: { url: second.url } })).status).toBe(200);
        await verificationOf(id, 'failed');
        release();
        const checked = await checking;
        // The check's answer shows the webhook as it is now: at the second URL, not verified by the first's echo.
        expect(checked.status).toBe(200);
        expect(checked.body).toMatchObject({ url: second.url, verification: { status: 'failed' }, receivingEvents: false });
        expect((await get(id)).body.verification.status).toBe('failed');
      } finally {
        release();
        await first.close();
        await second.close();
      }
    });

    it('a URL change racing another is compared with the URL it replaces, not one read before: it is verified again', async () => {
      const { body } = await create({});
      const id = body.webhook.id;
      await verificationOf(id, 'verified');
      const other = await startReceiver();
      const elsewhere = await startReceiver();
      // Another change moves the webhook to `elsewhere`, verified there, and holds the row until this one waits for it.
      const racing = await api.pool.connect();
      try {
        await racing.query('BEGIN');
        await racing.query(`UPDATE webhooks SET url = $2, verification_status = 'verified', verified_at = now() WHERE id = $1`, [id, elsewhere.url]);
        // Back to the first receiver's URL, the one the webhook had when this change began.
        const moving = call('PATCH', `/v1/webhooks/${id}`, { body: { url: receiver.url } });
        await waitFor('the change waiting for the row', async () => {
          const { rows } = await api.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE webhooks%'`);
          return rows[0]!.n > 0;
        }, 10_000);
        await racing.query('COMMIT');
        const moved = await moving;
        expect(moved.status).toBe(200);
        expect(moved.body.url).toBe(receiver.url);
        expect(moved.body.verification.status).toBe('pending');
        await verificationOf(id, 'verified');
      } finally {
        await racing.query('ROLLBACK').catch(() => undefined);
        racing.release();
        await other.close();
        await elsewhere.close();
      }
    });

    it('a new or verified webhook reaches the routers\' subscription index within a second of the change (NOTIFY)', async () => {
      const store = createSubscriptionStore({ pool: api.pool, log, reloadIntervalMs: 3_600_000, canonicalPattern: loadEventCatalog().canonicalPattern });
      await store.start();
      try {
        const { body } = await create({ eventTypes: ['USER_DISABLED'] });
        await verificationOf(body.webhook.id, 'verified');
        const matched = () => store.current().match(organization, 'USER_DISABLED', 'user').some((r) => r.id === body.webhook.id);
        await waitFor('the verified webhook in the index', matched, 15_000);
        await call('POST', `/v1/webhooks/${body.webhook.id}/disable`, { body: { reason: 'maintenance' } });
        await waitFor('the disabled webhook to leave the index', () => !matched(), 15_000);
      } finally {
        await store.stop();
      }
    });
  });

  describe('validation', () => {
    it('names the field and why for every kind of invalid input', async () => {
      const cases: Array<[Record<string, unknown>, string, RegExp]> = [
        [{ name: undefined }, 'name', /is required/],
        [{ name: '' }, 'name', /fewer than 1|must NOT have fewer/],
        [{ eventTypes: [] }, 'eventTypes', /fewer than 1/],
        [{ eventTypes: ['USER_CREATED', 'NOT_A_TYPE'] }, 'eventTypes.1', /not an event type of the catalog/],
        [{ eventTypes: ['nope.*'] }, 'eventTypes.0', /names no family/],
        [{ url: 'not a url' }, 'url', /not an absolute URL/],
        [{ url: 'ftp://example.com/x' }, 'url', /http or https/],
        [{ url: 'http://10.1.2.3/hook' }, 'url', /private, loopback, link-local or reserved/],
        [{ url: 'http://169.254.169.254/latest' }, 'url', /private, loopback, link-local or reserved/],
        [{ url: 'https://user:pw@example.com/x' }, 'url', /credentials/],
        [{ bodyFormat: 'xml' }, 'bodyFormat', /one of: parallelworks, cidaas, cloudevents/],
        [{ apiKey: { header: 'webhook-signature', value: 'x' } }, 'apiKey.header', /set by the connector/],
        [{ colour: 'red' }, 'colour', /not a known field/],
      ];
      for (const [override, field, message] of cases) {
        const body: Record<string, unknown> = { name: 'n', url: receiver.url, eventTypes: ['USER_CREATED'], ...override };
        for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
        const result = await call('POST', '/v1/webhooks', { body });
        expect(result.status, JSON.stringify(override)).toBe(400);
        expect(result.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(result.body.type).toBe('urn:identity-webhooks:problem:validation-failed');
        expect(result.body.errors, JSON.stringify(override)).toContainEqual({ in: 'body', field, message: expect.stringMatching(message) });
      }
      // A change is held to the same rules, the ones JSON Schema cannot check included, and changes nothing.
      const { body: created } = await create({});
      const before = await verificationOf(created.webhook.id, 'verified');
      for (const [override, field, message] of cases) {
        if (Object.values(override).includes(undefined)) continue;
        const result = await call('PATCH', `/v1/webhooks/${created.webhook.id}`, { body: override });
        expect(result.status, `PATCH ${JSON.stringify(override)}`).toBe(400);
        expect(result.body.errors, `PATCH ${JSON.stringify(override)}`).toContainEqual({ in: 'body', field, message: expect.stringMatching(message) });
      }
      expect((await get(created.webhook.id)).body.version).toBe(before.version);
    });

    it('answers malformed JSON, a non-JSON body, bad ids and bad query values with problem+json naming the place', async () => {
      const malformed = await fetch(`${api.url}/v1/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: '{"name":' });
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as { errors: Array<{ field: string }> }).errors[0]!.field).toBe('(body)');
      const text = await fetch(`${api.url}/v1/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'text/plain' }, body: 'hi' });
      expect(text.status).toBe(415);
      // An empty body labelled JSON is no body: a route that needs one names it; an action that takes none runs.
      const asJson = { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' };
      const empty = await fetch(`${api.url}/v1/webhooks`, { method: 'POST', headers: asJson, body: '' });
      expect(empty.status).toBe(400);
      expect(((await empty.json()) as { errors: Array<{ in: string }> }).errors).toContainEqual(expect.objectContaining({ in: 'body' }));
      const { body: made } = await create({});
      const rotated = await fetch(`${api.url}/v1/webhooks/${made.webhook.id}/rotate-secret`, { method: 'POST', headers: asJson, body: '' });
      expect(rotated.status, await rotated.clone().text()).toBe(200);
      const deleted = await fetch(`${api.url}/v1/webhooks/${made.webhook.id}`, { method: 'DELETE', headers: asJson, body: '' });
      expect(deleted.status).toBe(204);
      const badId = await get('not-a-uuid');
      expect(badId.status).toBe(400);
      expect(badId.body.errors).toContainEqual(expect.objectContaining({ in: 'path', field: 'id' }));
      // A UUID in URN form passes format uuid, but Postgres does not read it: refused here, not a 500 from the query.
      const urn = `urn:uuid:${randomUUID()}`;
      const urnId = await get(urn);
      expect(urnId.status).toBe(400);
      expect(urnId.body.errors).toContainEqual({ in: 'path', field: 'id', message: 'must be a UUID (8-4-4-4-12 hexadecimal digits)' });
      const urnBulk = await call('POST', '/v1/webhooks/bulk-delete', { body: { ids: [urn] } });
      expect(urnBulk.status).toBe(400);
      expect(urnBulk.body.errors).toContainEqual(expect.objectContaining({ in: 'body', field: 'ids.0' }));
      const badSort = await call('GET', '/v1/webhooks?sort=colour');
      expect(badSort.body.errors).toContainEqual(expect.objectContaining({ in: 'query', field: 'sort' }));
      const badLimit = await call('GET', '/v1/webhooks?limit=100000');
      expect(badLimit.body.errors).toContainEqual(expect.objectContaining({ in: 'query', field: 'limit' }));
      const unknownRoute = await call('GET', '/v1/nothing-here');
      expect(unknownRoute.status).toBe(404);
      expect(unknownRoute.body.type).toBe('urn:identity-webhooks:problem:not-found');
    });
  });

  describe('list', () => {
    const listOrg = uniqueName('list-org');
    let token: string;
    const names = ['delta', 'alpha', 'echo', 'charlie', 'bravo', 'foxtrot', 'golf'];

    beforeAll(async () => {
      token = await api.tokenFor(listOrg, 'lister@example.com');
      for (const [i, name] of names.entries()) {
        const result = await create({ name, url: `${receiver.url}/${String.fromCharCode(122 - i)}`, enabled: i % 2 === 0, eventTypes: i === 3 ? ['user.*'] : ['GROUP_CREATED'], description: i === 5 ? 'Payroll bridge' : '' }, token);
        expect(result.status).toBe(201);
      }
    });

    const listAll = async (query: string): Promise<ApiJson[]> => {
      const items: ApiJson[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: ApiJson } = await call('GET', `/v1/webhooks?limit=2&${query}${cursor ? `&cursor=${cursor}` : ''}`, { token });
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        items.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor);
      return items;
    };

    it('sorts by name, url, owner, created date and status in either direction, paging with a cursor without gaps or repeats', async () => {
      expect((await listAll('sort=name&order=asc')).map((w) => w.name)).toEqual([...names].sort());
      expect((await listAll('sort=name&order=desc')).map((w) => w.name)).toEqual([...names].sort().reverse());
      const byUrl = (await listAll('sort=url&order=asc')).map((w) => w.url);
      expect(byUrl).toEqual([...byUrl].sort());
      expect(byUrl).toHaveLength(names.length);
      const created = (await listAll('sort=createdAt&order=asc')).map((w) => w.name);
      expect(created).toEqual(names);
      expect((await listAll('')).map((w) => w.name)).toEqual([...names].reverse());
      const byStatus = (await listAll('sort=status&order=asc')).map((w) => w.status);
      expect(byStatus).toEqual([...byStatus].sort());
      expect(new Set(byStatus)).toEqual(new Set(['active', 'inactive']));
      expect((await listAll('sort=owner')).every((w) => w.owner === 'lister@example.com')).toBe(true);
    });

    it('filters by status, event type (wildcards included) and text', async () => {
      expect((await listAll('status=inactive')).map((w) => w.name).sort()).toEqual(['alpha', 'charlie', 'foxtrot']);
      // USER_CREATED reaches only the webhook that subscribed to user.*.
      expect((await listAll('eventType=USER_CREATED')).map((w) => w.name)).toEqual(['charlie']);
      expect((await listAll('eventType=user.*')).map((w) => w.name)).toEqual(['charlie']);
      expect((await listAll('eventType=GROUP_CREATED')).length).toBe(6);
      expect((await listAll('q=PAYROLL')).map((w) => w.name)).toEqual(['foxtrot']);
      expect((await listAll('q=%25')).length).toBe(0);
      const badType = await call('GET', '/v1/webhooks?eventType=NOPE', { token });
      expect(badType.body.errors).toContainEqual(expect.objectContaining({ in: 'query', field: 'eventType' }));
    });

    it('sorts by owner, finds text in name, URL and description, lists * under any type, and filters by verification', async () => {
      const org = uniqueName('list-org');
      const tokens = { carol: await api.tokenFor(org, 'carol@example.com'), alice: await api.tokenFor(org, 'alice@example.com'), bob: await api.tokenFor(org, 'bob@example.com') };
      const made = async (token: string, body: Record<string, unknown>) => {
        const result = await create(body, token);
        expect(result.status).toBe(201);
        return result.body.webhook.id as string;
      };
      await made(tokens.carol, { name: 'mango', url: `${receiver.url}/kiwi`, eventTypes: ['GROUP_CREATED'] });
      await made(tokens.alice, { name: 'papaya', url: `${receiver.url}/plain`, eventTypes: ['*'], description: 'kiwi orders' });
      // Nothing answers there: its challenge fails.
      const failing = await made(tokens.bob, { name: 'kiwi sync', url: 'http://127.0.0.1:9/none', eventTypes: ['USER_CREATED'] });
      await verificationOf(failing, 'failed', tokens.bob);
      const list = async (query: string): Promise<ApiJson[]> => (await call('GET', `/v1/webhooks?limit=100&${query}`, { token: tokens.alice })).body.items;
      expect((await list('sort=owner&order=asc')).map((w) => w.owner)).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);
      expect((await list('sort=owner&order=desc')).map((w) => w.owner)).toEqual(['carol@example.com', 'bob@example.com', 'alice@example.com']);
      // In the URL of one, the description of another, the name of the third.
      expect((await list('q=kiwi&sort=name&order=asc')).map((w) => w.name)).toEqual(['kiwi sync', 'mango', 'papaya']);
      expect((await list('q=mango')).map((w) => w.name)).toEqual(['mango']);
      expect((await list('eventType=USER_LOGIN_FAILURE')).map((w) => w.name)).toEqual(['papaya']);
      expect((await list('eventType=USER_CREATED&sort=name&order=asc')).map((w) => w.name)).toEqual(['kiwi sync', 'papaya']);
      expect((await list('verification=failed')).map((w) => w.name)).toEqual(['kiwi sync']);
      expect((await list('verification=verified&sort=name&order=asc')).map((w) => w.name)).toEqual(['mango', 'papaya']);
    });

    it('refuses a cursor made for another sort, or a forged one, naming cursor', async () => {
      const first = await call('GET', '/v1/webhooks?limit=2&sort=name', { token });
      const other = await call('GET', `/v1/webhooks?limit=2&sort=url&cursor=${first.body.nextCursor}`, { token });
      expect(other.status).toBe(400);
      expect(other.body.errors[0]).toMatchObject({ in: 'query', field: 'cursor' });
      const forged = await call('GET', '/v1/webhooks?cursor=bm90LWpzb24', { token });
      expect(forged.body.errors[0]).toMatchObject({ in: 'query', field: 'cursor' });
    });
  });

  describe('update, status and secrets', () => {
    it('concurrent updates of different fields all take effect; If-Match refuses a stale write', async () => {
      const { body } = await create({ name: 'before' });
      const id = body.webhook.id;
      const verified = await verificationOf(id, 'verified');
      const updates = [
        { name: 'after' }, { description: 'new description' }, { eventTypes: ['USER_DISABLED', 'auth.*'] }, { bodyFormat: 'cloudevents' }, { ordering: 'strict' },
        { apiKey: { value: 'fresh-key-000111' } },
      ];
      const results = await Promise.all(updates.map((patch) => call('PATCH', `/v1/webhooks/${id}`, { body: patch })));
      expect(results.map((r) => r.status)).toEqual(updates.map(() => 200));
      const { body: final, headers } = await get(id);
      expect(final).toMatchObject({ name: 'after', description: 'new description', eventTypes: ['USER_DISABLED', 'auth.*'], bodyFormat: 'cloudevents', ordering: 'strict', apiKey: { header: 'x-api-key', masked: '****0111' } });
      expect(final.version).toBe(verified.version + updates.length);
      expect(headers.get('etag')).toBe(`"${final.version}"`);

      const stale = await call('PATCH', `/v1/webhooks/${id}`, { body: { name: 'stale' }, headers: { 'if-match': `"${verified.version}"` } });
      expect(stale.status).toBe(412);
      expect(stale.body.type).toBe('urn:identity-webhooks:problem:precondition-failed');
      const fresh = await call('PATCH', `/v1/webhooks/${id}`, { body: { name: 'fresh', apiKey: null }, headers: { 'if-match': `"${final.version}"` } });
      expect(fresh.status).toBe(200);
      expect(fresh.body).toMatchObject({ name: 'fresh', apiKey: null });
      expect((await call('PATCH', `/v1/webhooks/${id}`, { body: {} })).status).toBe(400);
    });

    it('If-Match guards rotate-secret, disable, enable and delete too: of two rotations from one read, one takes effect', async () => {
      const { body } = await create({ name: 'guarded' });
      const id = body.webhook.id;
      const read = await verificationOf(id, 'verified');
      const etag = `"${read.version}"`;
      const rotations = await Promise.all([1, 2].map(() => call('POST', `/v1/webhooks/${id}/rotate-secret`, { headers: { 'if-match': etag } })));
      expect(rotations.map((r) => r.status).sort()).toEqual([200, 412]);
      const rotated = rotations.find((r) => r.status === 200)!;
      expect(rotated.headers.get('etag')).toBe(`"${read.version + 1}"`);
      expect(rotations.find((r) => r.status === 412)!.body.detail).toMatch(`version ${read.version + 1}, not ${read.version}`);

      expect((await call('POST', `/v1/webhooks/${id}/disable`, { body: { reason: 'stale read' }, headers: { 'if-match': etag } })).status).toBe(412);
      expect((await get(id)).body).toMatchObject({ enabled: true, version: read.version + 1 });
      const disabled = await call('POST', `/v1/webhooks/${id}/disable`, { body: { reason: 'maintenance' }, headers: { 'if-match': rotated.headers.get('etag')! } });
      expect(disabled.status).toBe(200);
      expect(disabled.body).toMatchObject({ enabled: false, statusReason: 'maintenance' });
      expect((await call('POST', `/v1/webhooks/${id}/enable`, { headers: { 'if-match': '*' } })).status).toBe(200);

      expect((await call('DELETE', `/v1/webhooks/${id}`, { headers: { 'if-match': etag } })).status).toBe(412);
      expect((await get(id)).status).toBe(200);
      const current = (await get(id)).headers.get('etag')!;
      expect((await call('DELETE', `/v1/webhooks/${id}`, { headers: { 'if-match': current } })).status).toBe(204);
      expect((await call('DELETE', `/v1/webhooks/${id}`, { headers: { 'if-match': current } })).status).toBe(404);
    });

    it('a new API key value alone keeps the header the receiver looks in; a header sent with it moves it', async () => {
      const { body } = await create({ name: 'keyed', apiKey: { header: 'X-Partner-Key', value: 'partner-key-123456' } });
      const id = body.webhook.id;
      const rotated = await call('PATCH', `/v1/webhooks/${id}`, { body: { apiKey: { value: 'rotated-key-778899' } } });
      expect(rotated.status).toBe(200);
      expect(rotated.body.apiKey).toEqual({ header: 'x-partner-key', masked: '****8899' });
      const moved = await call('PATCH', `/v1/webhooks/${id}`, { body: { apiKey: { header: 'X-Other-Key', value: 'moved-key-445566' } } });
      expect(moved.body.apiKey).toEqual({ header: 'x-other-key', masked: '****5566' });
    });

    it('disables with a reason that is kept and shown, and enables again', async () => {
      const { body } = await create({});
      const id = body.webhook.id;
      const disabled = await call('POST', `/v1/webhooks/${id}/disable`, { body: { reason: 'endpoint migrating to v2' } });
      expect(disabled.body).toMatchObject({ enabled: false, status: 'inactive', statusReason: 'endpoint migrating to v2', receivingEvents: false });
      expect(Date.parse(disabled.body.statusChangedAt)).toBeGreaterThan(Date.now() - 60_000);
      expect((await get(id)).body.statusReason).toBe('endpoint migrating to v2');
      // Disabled again (a script, a second admin): answered as it is, the reason that disabled it kept, nothing changed.
      const again = await call('POST', `/v1/webhooks/${id}/disable`, { body: { reason: 'cleanup script' } });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ enabled: false, statusReason: 'endpoint migrating to v2', statusChangedAt: disabled.body.statusChangedAt, version: disabled.body.version });
      expect(again.headers.get('etag')).toBe(disabled.headers.get('etag'));
      const enabled = await call('POST', `/v1/webhooks/${id}/enable`, { body: { reason: 'v2 is live' } });
      expect(enabled.body).toMatchObject({ enabled: true, status: 'active', statusReason: 'v2 is live', version: disabled.body.version + 1 });
      const enabledAgain = await call('POST', `/v1/webhooks/${id}/enable`);
      expect(enabledAgain.body).toMatchObject({ statusReason: 'v2 is live', statusChangedAt: enabled.body.statusChangedAt, version: enabled.body.version });
      // If-Match still guards a change that turns out to be none: a stale read is told so.
      expect((await call('POST', `/v1/webhooks/${id}/enable`, { headers: { 'if-match': disabled.headers.get('etag')! } })).status).toBe(412);
      const noReason = await call('POST', `/v1/webhooks/${id}/disable`);
      expect(noReason.body.statusReason).toBe('disabled by admin@example.com');
      const created = await create({ enabled: false });
      expect(created.body.webhook).toMatchObject({ enabled: false, status: 'inactive', receivingEvents: false });
    });

    it('PATCH enabled disables and enables as the actions do, a status it already has kept with its reason', async () => {
      const { body } = await create({});
      const id = body.webhook.id;
      await api.pool.query(`UPDATE webhooks SET failing_since = now() - interval '3 days' WHERE id = $1`, [id]);
      const off = await call('PATCH', `/v1/webhooks/${id}`, { body: { enabled: false, name: 'paused crm' } });
      expect(off.status).toBe(200);
      expect(off.body).toMatchObject({ name: 'paused crm', enabled: false, status: 'inactive', statusReason: 'disabled by admin@example.com', receivingEvents: false });
      // The form sent back whole, Enable unchanged: the status keeps the reason and time of the change that set it.
      const renamed = await call('PATCH', `/v1/webhooks/${id}`, { body: { enabled: false, name: 'paused CRM' } });
      expect(renamed.body).toMatchObject({ name: 'paused CRM', statusReason: 'disabled by admin@example.com', statusChangedAt: off.body.statusChangedAt });
      const on = await call('PATCH', `/v1/webhooks/${id}`, { body: { enabled: true } });
      expect(on.body).toMatchObject({ enabled: true, status: 'active', statusReason: null });
      expect(Date.parse(on.body.statusChangedAt)).toBeGreaterThan(Date.parse(off.body.statusChangedAt));
      // Enabled again: a fresh auto-disable window, as POST …/enable gives.
      const { rows } = await api.pool.query<{ failing_since: Date | null }>('SELECT failing_since FROM webhooks WHERE id = $1', [id]);
      expect(rows[0]!.failing_since).toBeNull();
      const invalid = await call('PATCH', `/v1/webhooks/${id}`, { body: { enabled: 'yes' } });
      expect(invalid.status).toBe(400);
      expect(JSON.stringify(invalid.body)).toContain('enabled');
    });

    it('enabling a webhook already active keeps its failing streak; enabling a disabled one starts it afresh', async () => {
      const { body } = await create({});
      const id = body.webhook.id;
      const failingSince = () => api.pool.query<{ failing_since: Date | null }>('SELECT failing_since FROM webhooks WHERE id = $1', [id]).then((r) => r.rows[0]!.failing_since);
      await api.pool.query(`UPDATE webhooks SET failing_since = now() - interval '3 days' WHERE id = $1`, [id]);
      const streak = await failingSince();
      expect((await call('POST', `/v1/webhooks/${id}/enable`)).status).toBe(200);
      expect(await failingSince()).toEqual(streak);
      await call('POST', `/v1/webhooks/${id}/disable`, { body: { reason: 'paused' } });
      expect(await failingSince()).toEqual(streak);
      await call('POST', `/v1/webhooks/${id}/enable`);
      expect(await failingSince()).toBeNull();
    });

    it('rotates the signing secret: the new one is shown once, the previous one stays valid for the overlap', async () => {
      const { body } = await create({});
      const rotated = await call('POST', `/v1/webhooks/${body.webhook.id}/rotate-secret`);
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(body.secret);
      expect(rotated.body.webhook.signingSecret.masked).toBe(`whsec_****${rotated.body.secret.slice(-4)}`);
      const until = Date.parse(rotated.body.webhook.signingSecret.previousValidUntil);
      expect(Math.abs(until - (Date.now() + config.admin.secretRotationOverlapMs))).toBeLessThan(60_000);
      expect(JSON.stringify((await get(body.webhook.id)).body)).not.toContain(rotated.body.secret);
    });

    it('refuses a second rotation while the first one\'s overlap is open, unless forced; revoking the previous secret ends the overlap', async () => {
      const id = (await create({})).body.webhook.id as string;
      // Its challenge answered first: the recorded result moves the version, which the checks below compare.
      await verificationOf(id, 'verified');
      const first = await call('POST', `/v1/webhooks/${id}/rotate-secret`);
      expect(first.status).toBe(200);
      const again = await call('POST', `/v1/webhooks/${id}/rotate-secret`);
      expect(again.status).toBe(409);
      expect(again.body.detail).toMatch(/overlap is open until .*"force": true.*revoke-previous-secret/);
      // Refused, nothing changed: the webhook is at the first rotation's version still.
      expect((await get(id)).body.version).toBe(first.body.webhook.version);
      const forced = await call('POST', `/v1/webhooks/${id}/rotate-secret`, { body: { force: true } });
      expect(forced.status).toBe(200);
      expect(forced.body.webhook.signingSecret.previousValidUntil).not.toBeNull();
      const revoked = await call('POST', `/v1/webhooks/${id}/revoke-previous-secret`);
      expect(revoked.status).toBe(200);
      expect(revoked.body.signingSecret).toEqual({ masked: forced.body.webhook.signingSecret.masked, previousValidUntil: null });
      expect(revoked.headers.get('etag')).toBe(`"${forced.body.webhook.version + 1}"`);
      // Nothing left to revoke: answered as it is, unchanged.
      const twice = await call('POST', `/v1/webhooks/${id}/revoke-previous-secret`);
      expect(twice.body.version).toBe(revoked.body.version);
      const rotatedAgain = await call('POST', `/v1/webhooks/${id}/rotate-secret`);
      expect(rotatedAgain.status).toBe(200);
      // Nor a previous secret whose overlap is over: it signs no more, so nothing changes that anyone could see.
      await api.pool.query(`UPDATE webhooks SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      expect((await call('POST', `/v1/webhooks/${id}/revoke-previous-secret`)).body.version).toBe(rotatedAgain.body.webhook.version);
      expect((await call('POST', `/v1/webhooks/${id}/rotate-secret`, { body: { force: 'yes' } })).body.errors).toContainEqual(expect.objectContaining({ in: 'body', field: 'force' }));
    });

    it('deletes one, and several at once reporting the ids that were not found', async () => {
      const ids = await Promise.all([1, 2, 3].map(async () => (await create({})).body.webhook.id as string));
      expect((await call('DELETE', `/v1/webhooks/${ids[0]}`)).status).toBe(204);
      expect((await get(ids[0]!)).status).toBe(404);
      expect((await call('DELETE', `/v1/webhooks/${ids[0]}`)).status).toBe(404);
      const missing = '00000000-0000-4000-8000-000000000000';
      const bulk = await call('POST', '/v1/webhooks/bulk-delete', { body: { ids: [ids[1], ids[2], missing] } });
      expect(bulk.status).toBe(200);
      expect(bulk.body.deleted.sort()).toEqual([ids[1], ids[2]].sort());
      expect(bulk.body.notFound).toEqual([missing]);
      expect((await get(ids[2]!)).status).toBe(404);
    });
  });

  describe('organizations are isolated', () => {
    it('another organization\'s token neither sees, changes nor learns of a webhook: 404, never 403', async () => {
      const { body } = await create({ name: 'private to org A' });
      const id = body.webhook.id;
      const other = await api.tokenFor(uniqueName('org-b'));
      const attempts: Array<[string, string, unknown?]> = [
        ['GET', `/v1/webhooks/${id}`], ['PATCH', `/v1/webhooks/${id}`, { name: 'hijacked' }], ['DELETE', `/v1/webhooks/${id}`],
        ['POST', `/v1/webhooks/${id}/disable`, { reason: 'x' }], ['POST', `/v1/webhooks/${id}/enable`], ['POST', `/v1/webhooks/${id}/rotate-secret`], ['POST', `/v1/webhooks/${id}/revoke-previous-secret`],
        ['POST', `/v1/webhooks/${id}/verify`], ['POST', `/v1/webhooks/${id}/test`], ['GET', `/v1/webhooks/${id}/attempts`],
        ['POST', `/v1/webhooks/${id}/recover`, { since: new Date(0).toISOString() }],
      ];
      for (const [method, path, requestBody] of attempts) {
        const result = await call(method, path, { token: other, body: requestBody });
        expect(result.status, `${method} ${path}`).toBe(404);
        expect(JSON.stringify(result.body)).not.toContain('private to org A');
      }
      const bulk = await call('POST', '/v1/webhooks/bulk-delete', { token: other, body: { ids: [id] } });
      expect(bulk.body).toEqual({ deleted: [], notFound: [id] });
      const list = await call('GET', '/v1/webhooks?limit=200', { token: other });
      expect(list.body.items).toEqual([]);
      const mine = await get(id);
      expect(mine.body).toMatchObject({ name: 'private to org A', enabled: true });
    });
  });

  describe('rate limit', () => {
    it('answers 429 problem+json with Retry-After once a token used its requests of the minute, across admin API processes; other tokens go on', async () => {
      const limitedConfig = testConfig(services, { ADMIN_RATE_LIMIT_PER_MINUTE: '3' });
      const limited = await startAdminApi(limitedConfig, uniqueName('org'), { log });
      const another = await startAdminApi(limitedConfig, limited.organization, { log });
      try {
        // Two requests to one process, then two to another: the token's count is shared.
        const statuses: number[] = [];
        for (const api of [limited, limited, another, another]) statuses.push((await api.call('GET', '/v1/event-types', { token: limited.token })).status);
        expect(statuses).toEqual([200, 200, 200, 429]);
        const refused = await limited.call('GET', '/v1/webhooks');
        expect(refused.body.type).toBe('urn:identity-webhooks:problem:rate-limited');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
        const other = await limited.tokenFor(limited.organization, 'someone-else');
        expect((await limited.call('GET', '/v1/event-types', { token: other })).status).toBe(200);
        // Requests refused as invalid count as well: they cost the lookup and the parse all the same.
        const third = await limited.tokenFor(limited.organization, 'sloppy');
        const invalid = [];
        for (let i = 0; i < 4; i += 1) invalid.push((await limited.call('POST', '/v1/webhooks', { token: third, body: { colour: 'red' } })).status);
        expect(invalid).toEqual([400, 400, 400, 429]);
      } finally {
        await another.close();
        await limited.close();
      }
    });

    it('counts a token\'s requests in a window that starts again once it has passed, shared through Postgres', async () => {
      const storeOf = () => new (postgresRateLimitStore(api.pool, log, 300))({} as never);
      const [store, otherProcess] = [storeOf(), storeOf()];
      const count = (on: typeof store, key: string) => new Promise<{ current: number; ttl: number }>((resolve, reject) => on.incr(key, (error, result) => (error ? reject(error) : resolve(result!))));
      const incr = (key: string) => count(store, key);
      const key = uniqueName('token');
      const first = await incr(key);
      expect(first.current).toBe(1);
      expect(first.ttl).toBeGreaterThan(0);
      expect(first.ttl).toBeLessThanOrEqual(300);
      expect((await incr(key)).current).toBe(2);
      // Another process's store counts in the same window.
      expect((await count(otherProcess, key)).current).toBe(3);
      await waitFor('a new window', async () => (await incr(key)).current === 1, 5000);
    });

    it('refuses an address past its failed authentications with 429 before looking its tokens up, until the minute ends', async () => {
      const guarded = await startAdminApi(testConfig(services, { ADMIN_AUTH_FAILURES_PER_MINUTE: '3' }), uniqueName('org'), { log });
      try {
        // An admin at work behind the same address (a proxy, a NAT) as someone guessing tokens.
        expect((await guarded.call('GET', '/v1/webhooks')).status).toBe(200);
        const statuses: number[] = [];
        for (const token of [null, 'iwh_guess-1', 'iwh_guess-2', 'iwh_guess-3']) statuses.push((await guarded.call('GET', '/v1/webhooks', { token })).status);
        expect(statuses).toEqual([401, 401, 401, 429]);
        // A token that worked lately goes on; one not seen yet waits, as telling it apart would take the lookup the limit saves.
        expect((await guarded.call('GET', '/v1/webhooks')).status).toBe(200);
        const refused = await guarded.call('GET', '/v1/webhooks', { token: await guarded.tokenFor(guarded.organization, 'newcomer') });
        expect(refused.status).toBe(429);
        expect(refused.body.type).toBe('urn:identity-webhooks:problem:rate-limited');
        const retryAfter = Number(refused.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(60);
        // Health and metrics are not behind it.
        expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200);
      } finally {
        await guarded.close();
      }
    });
  });

  describe('operations', () => {
    it('lists the event catalog with families and descriptions', async () => {
      const { body } = await call('GET', '/v1/event-types');
      expect(body.families.map((f: { wildcard: string }) => f.wildcard)).toEqual(['user.*', 'group.*', 'auth.*', 'admin.*']);
      expect(body.eventTypes).toContainEqual({ type: 'USER_REMOVED_FROM_GROUP', family: 'group', group: 'groups', description: expect.any(String), aliases: ['GROUP_USER_REMOVED'], note: expect.stringContaining('cidaas') });
      // Admins learn which types this connector sends itself.
      expect(body.eventTypes).toContainEqual({ type: 'WEBHOOK_UPDATED', family: 'admin', description: expect.any(String), note: expect.stringContaining('Sent by this connector') });
      expect(body.eventTypes).toContainEqual(expect.objectContaining({ type: 'USER_DELETION_REQUESTED', note: expect.stringMatching(/does not send it yet/) }));
      expect(body.eventTypes).toContainEqual({ type: 'USER_CREATED', family: 'user', group: 'users', description: expect.any(String) });
      expect(body.eventTypes).toContainEqual({ type: 'USER_LOGIN', family: 'auth', description: expect.any(String) });
      // Seed 004's checkboxes: each group with the types a console subscribes to for it.
      expect(body.groups.map((g: { label: string }) => g.label)).toEqual(['Users', 'Invites', 'Groups', 'Roles', 'API Keys', 'State changes']);
      expect(body.groups).toContainEqual({ name: 'api-keys', label: 'API Keys', description: expect.any(String), eventTypes: ['API_KEY_CREATED', 'API_KEY_UPDATED', 'API_KEY_DELETED'] });
      expect(body.eventTypes.length).toBeGreaterThan(50);
    });

    it('takes another product\'s name for an event type in a subscription, a filter and a test event, and keeps the catalog\'s', async () => {
      const { status, body } = await create({ eventTypes: ['GROUP_USER_REMOVED', 'USER_REMOVED_FROM_GROUP', 'USER_CREATED'] });
      expect(status).toBe(201);
      expect(body.webhook.eventTypes).toEqual(['USER_REMOVED_FROM_GROUP', 'USER_CREATED']);
      const changed = await call('PATCH', `/v1/webhooks/${body.webhook.id}`, { body: { eventTypes: ['GROUP_USER_REMOVED'] } });
      expect(changed.body.eventTypes).toEqual(['USER_REMOVED_FROM_GROUP']);
      const listed = await call('GET', '/v1/webhooks?eventType=GROUP_USER_REMOVED&limit=100');
      expect(listed.body.items.map((w: { id: string }) => w.id)).toContain(body.webhook.id);
    });

    it('serves health, readiness, metrics by route template, the OpenAPI document and its reference page', async () => {
      expect((await call('GET', '/healthz', { token: null })).body).toEqual({ status: 'ok' });
      expect((await call('GET', '/readyz', { token: null })).body).toEqual({ status: 'ready', down: {} });
      const metrics = await call('GET', '/metrics', { token: null });
      expect(metrics.body).toMatch(/webhooks_admin_requests_total\{route="\/v1\/webhooks\/:id",method="GET",status_class="2xx"\} \d+/);
      expect(metrics.body).not.toMatch(/route="\/v1\/webhooks\/[0-9a-f]{8}-/);
      const openapi = await call('GET', '/openapi.json', { token: null });
      expect(openapi.body.openapi).toBe('3.1.0');
      expect(Object.keys(openapi.body.paths)).toContain('/v1/webhooks/{id}/rotate-secret');
      const docs = await fetch(`${api.url}/docs/`);
      expect(docs.status).toBe(200);
      expect(await docs.text()).toContain('<html');
    });
  });

  // Last in the file, so it sees every response and log line of the tests before it; a run of some tests (-t) skips it.
  it('never shows a secret or API key in a response other than its creation, nor anything secret in the logs', () => {
    const secrets = responses.flatMap((text) => [...text.matchAll(/"secret":"(whsec_[^"]+)"/g)].map((m) => m[1]!));
    expect(secrets.length).toBeGreaterThan(5);
    const shown = responses.filter((text) => !text.includes('"secret":"whsec_'));
    for (const secret of secrets) {
      const key = secret.slice('whsec_'.length);
      expect(shown.some((text) => text.includes(key)), 'a secret in a response other than its creation or rotation').toBe(false);
      expect(logLines.some((line) => line.includes(key)), 'a secret in the logs').toBe(false);
    }
    for (const apiKey of ['partner-key-123456', 'fresh-key-000111', 'rotated-key-778899', 'moved-key-445566', 'key-for-the-new-receiver']) {
      expect(responses.some((text) => text.includes(apiKey)), 'an API key in a response').toBe(false);
      expect(logLines.some((line) => line.includes(apiKey)), 'an API key in the logs').toBe(false);
    }
    expect(logLines.some((line) => line.includes(api.token))).toBe(false);
    expect(logLines.length).toBeGreaterThan(10);
  });
});
