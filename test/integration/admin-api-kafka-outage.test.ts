import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRootLogger } from '../../connector/observability/logger.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { startAdminApi, type RunningAdminApi } from '../support/admin-api.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { startOwnKafka, type OwnKafka } from '../support/provide-services.js';

const log = createRootLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'fatal' });

/** `call`, or a failure naming what never answered once `ms` passed: the fault this file guards against is a hang. */
async function answeredWithin<T>(ms: number, what: string, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([call, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The admin API with its brokers gone: a request that queues tasks (a test event, a redelivery, a recovery) answers
 * 503 with Retry-After, as the docs say, well inside the minute after which its Idempotency-Key's claim counts as
 * abandoned. The brokers are a Kafka of this test's own, stopped for good, so the rest of the run keeps the shared one.
 */
describe('the admin API while Kafka is out of reach', () => {
  const services = inject('services');
  let broker: OwnKafka | undefined;
  let api: RunningAdminApi | undefined;
  let receiver: Receiver | undefined;

  afterAll(async () => {
    await api?.close();
    await receiver?.close();
    await broker?.close();
  });

  it('answers a request that queues tasks with 503 and Retry-After, and keeps that answer for its Idempotency-Key', { timeout: 180_000 }, async () => {
    broker = await startOwnKafka((line) => log.info(line));
    const config = testConfig(services, { KAFKA_BROKERS: broker.brokers.join(','), ADMIN_WEBHOOK_VERIFICATION: 'off' });
    api = await startAdminApi(config, uniqueName('org'), { log });
    receiver = await startReceiver();
    const created = await api.call('POST', '/v1/webhooks', { body: { name: 'n', url: receiver.url, eventTypes: ['*'] } });
    expect(created.status).toBe(201);
    const id: string = created.body.webhook.id;
    expect((await api.call('POST', `/v1/webhooks/${id}/test`)).status).toBe(202);

    await broker.close();
    broker = undefined;
    const key = randomUUID();
    const started = Date.now();
    const refused = await answeredWithin(60_000, 'a test event with the brokers gone', api.call('POST', `/v1/webhooks/${id}/test`, { headers: { 'idempotency-key': key } }));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.body.type).toMatch(/:unavailable$/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Well inside the minute after which a claimed key counts as abandoned and a resend would queue the tasks again.
    expect(Date.now() - started).toBeLessThan(45_000);
    // The key keeps the answer (a 5xx may have been made partway): sent again, it is replayed, not tried afresh.
    const again = await api.call('POST', `/v1/webhooks/${id}/test`, { headers: { 'idempotency-key': key } });
    expect(again.status).toBe(503);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });
});
