import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { claimIdempotencyKey, recordIdempotentAnswer, releaseIdempotencyKey, type Fingerprint, type KeyOwner } from '../../admin-api/store/idempotency.js';
import { createKafka } from '../../connector/kafka/client.js';
import { ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { startAdminApi, type RunningAdminApi } from '../support/admin-api.js';
import { testConfig, uniqueName } from '../support/harness.js';

/**
 * Idempotency-Key on the admin API's POST routes, on real Postgres: a client
 * that sends a request again (no answer came: a timeout, a 503 saying the
 * change may have been made) gets the first answer, not a second change.
 */
describe('admin API: Idempotency-Key', () => {
  const services = inject('services');
  const config = testConfig(services, { ADMIN_RATE_LIMIT_PER_MINUTE: '100000' });
  const organization = uniqueName('org');
  let api: RunningAdminApi;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    api = await startAdminApi(config, organization);
  });

  afterAll(async () => {
    await api?.close();
    await receiver?.close();
  });

  const createBody = (name: string) => ({ name, url: receiver.url, eventTypes: ['USER_CREATED'] });
  const webhooksNamed = async (name: string): Promise<number> =>
    Number((await api.pool.query<{ n: string }>('SELECT count(*) AS n FROM webhooks WHERE organization = $1 AND name = $2', [organization, name])).rows[0]!.n);

  it('a create sent again with its key answers the first webhook and its secret again, and makes no second one', async () => {
    const key = randomUUID();
    const name = uniqueName('hook');
    const first = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key } });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toMatch(/^application\/json/);
    expect(again.body).toEqual(first.body);
    expect(await webhooksNamed(name)).toBe(1);
    // Kept encrypted: the secret shown once is not in the table in clear.
    const { rows } = await api.pool.query<{ response_enc: string }>('SELECT response_enc FROM admin_idempotency_keys WHERE organization = $1 AND idempotency_key = $2', [organization, key]);
    expect(rows[0]!.response_enc).not.toContain(first.body.secret);
    // Without a key, the same request is a new webhook.
    expect((await api.call('POST', '/v1/webhooks', { body: createBody(name) })).status).toBe(201);
    expect(await webhooksNamed(name)).toBe(2);
  });

  it('refuses a key sent with another request with 409, and keeps keys apart per organization', async () => {
    const key = randomUUID();
    const name = uniqueName('hook');
    expect((await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key } })).status).toBe(201);
    const other = await api.call('POST', '/v1/webhooks', { body: createBody(uniqueName('hook')), headers: { 'idempotency-key': key } });
    expect(other.status).toBe(409);
    expect(other.body.detail).toMatch(/Idempotency-Key was sent with another request/);
    // Another organization's token with the same key: its own request, its own webhook.
    const elsewhere = await api.tokenFor(uniqueName('org'));
    const theirs = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key }, token: elsewhere });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
  });

  it('keeps keys apart per token: another client of the organization with the same key and request gets its own webhook, not the first one\'s secret', async () => {
    const key = randomUUID();
    const name = uniqueName('hook');
    const mine = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key } });
    expect(mine.status).toBe(201);
    const colleague = await api.tokenFor(organization, 'colleague@example.com');
    const theirs = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key }, token: colleague });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.secret).not.toBe(mine.body.secret);
    expect(await webhooksNamed(name)).toBe(2);
    // Each client's own retry is still answered from its own first request.
    const myRetry = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key } });
    expect(myRetry.headers.get('idempotent-replayed')).toBe('true');
    expect(myRetry.body.secret).toBe(mine.body.secret);
  });

  it('answers a key kept before an encryption-key rotation once the old key is only a previous one', async () => {
    const key = randomUUID();
    const name = uniqueName('hook');
    const first = await api.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    // The same database, an admin API on a new key with the old one as previous: step one of a key rotation.
    const rotatedConfig = testConfig(services, {
      ADMIN_RATE_LIMIT_PER_MINUTE: '100000', SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'), SECRETS_PREVIOUS_ENCRYPTION_KEYS: config.secrets.encryptionKey,
    });
    const rotated = await startAdminApi(rotatedConfig, organization);
    try {
      const again = await rotated.call('POST', '/v1/webhooks', { body: createBody(name), headers: { 'idempotency-key': key }, token: api.token });
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      const other = await rotated.call('POST', '/v1/webhooks', { body: createBody(uniqueName('hook')), headers: { 'idempotency-key': key }, token: api.token });
      expect(other.status).toBe(409);
    } finally {
      await rotated.close();
    }
    expect(await webhooksNamed(name)).toBe(1);
  });

  it('gives a rotation\'s new secret again rather than rotating twice, which would end the overlap of the first secret', async () => {
    const created = await api.call('POST', '/v1/webhooks', { body: createBody(uniqueName('hook')) });
    const id = created.body.webhook.id as string;
    const key = randomUUID();
    const rotated = await api.call('POST', `/v1/webhooks/${id}/rotate-secret`, { headers: { 'idempotency-key': key } });
    const again = await api.call('POST', `/v1/webhooks/${id}/rotate-secret`, { headers: { 'idempotency-key': key } });
    expect(again.status).toBe(200);
    expect(again.body.secret).toBe(rotated.body.secret);
    expect(again.headers.get('etag')).toBe(rotated.headers.get('etag'));
    expect((await api.call('GET', `/v1/webhooks/${id}`)).body.version).toBe(rotated.body.webhook.version);
  });

  it('keeps no failed answer: a request that failed runs again with its key', async () => {
    const key = randomUUID();
    const missing = `/v1/webhooks/${randomUUID()}/rotate-secret`;
    expect((await api.call('POST', missing, { headers: { 'idempotency-key': key } })).status).toBe(404);
    const again = await api.call('POST', missing, { headers: { 'idempotency-key': key } });
    expect(again.status).toBe(404);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    const { rows } = await api.pool.query('SELECT 1 FROM admin_idempotency_keys WHERE organization = $1 AND idempotency_key = $2', [organization, key]);
    expect(rows).toEqual([]);
  });

  it('a request whose abandoned claim was taken over neither writes the new claim\'s answer nor frees it', async () => {
    const key = randomUUID();
    const owner: KeyOwner = { organization, tokenId: 'a-token' };
    const sameRequest: Fingerprint = { sealed: 'same request', matches: (stored) => stored === 'same request' };
    const first = await claimIdempotencyKey(api.pool, owner, key, sameRequest, 60_000);
    expect(first.kind).toBe('claimed');
    expect(await claimIdempotencyKey(api.pool, owner, key, sameRequest, 60_000)).toEqual({ kind: 'in-flight' });
    // Unanswered past the abandonment window (0 here): the second request takes the key over.
    const second = await claimIdempotencyKey(api.pool, owner, key, sameRequest, 0);
    expect(second.kind).toBe('claimed');
    const late = first.kind === 'claimed' ? first.token : '';
    await recordIdempotentAnswer(api.pool, owner, key, late, { status: 201, responseEnc: 'the first one\'s', headers: {} });
    await releaseIdempotencyKey(api.pool, owner, key, late);
    expect(await claimIdempotencyKey(api.pool, owner, key, sameRequest, 60_000)).toEqual({ kind: 'in-flight' });
    await recordIdempotentAnswer(api.pool, owner, key, second.kind === 'claimed' ? second.token : '', { status: 201, responseEnc: 'the second one\'s', headers: {} });
    expect(await claimIdempotencyKey(api.pool, owner, key, sameRequest, 60_000)).toEqual({ kind: 'answered', answer: { status: 201, responseEnc: 'the second one\'s', headers: {} } });
  });

  it('keeps a 5xx and answers it again: what failed partway is not run a second time with the key', async () => {
    // An admin API whose deliveries topic takes nothing as large as a task: a test event fails as it is published.
    const refusing = testConfig(services, { ADMIN_WEBHOOK_VERIFICATION: 'off' });
    const kafka = createKafka(refusing.kafka, createRootLogger({ level: 'error' }), 'idempotency-test');
    await ensureTopics(kafka, [{ topic: refusing.topics.deliveries, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '64' }] }], 1);
    const failing = await startAdminApi(refusing, uniqueName('org'), { log: createRootLogger({ level: 'fatal' }) });
    try {
      const created = await failing.call('POST', '/v1/webhooks', { body: { name: 'n', url: receiver.url, eventTypes: ['*'] } });
      const key = randomUUID();
      const first = await failing.call('POST', `/v1/webhooks/${created.body.webhook.id}/test`, { headers: { 'idempotency-key': key } });
      expect(first.status).toBe(500);
      const again = await failing.call('POST', `/v1/webhooks/${created.body.webhook.id}/test`, { headers: { 'idempotency-key': key } });
      expect(again.status).toBe(500);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(again.body).toEqual(first.body);
    } finally {
      await failing.close();
    }
  });

  it('answers 400 naming the header for a key that is not printable ASCII or too long', async () => {
    for (const key of ['has space', 'x'.repeat(256)]) {
      const refused = await api.call('POST', '/v1/webhooks', { body: createBody(uniqueName('hook')), headers: { 'idempotency-key': key } });
      expect(refused.status, key).toBe(400);
      expect(refused.body.errors).toContainEqual(expect.objectContaining({ in: 'header', field: 'idempotency-key' }));
    }
  });
});
