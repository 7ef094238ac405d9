import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { failedEventsSince } from '../../admin-api/store/attempts.js';
import { loadConfig } from '../../config/load.js';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { throwFatal } from '../../connector/lifecycle.js';
import { createPool } from '../../connector/db/pool.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { startReceiver, type Answer, type ReceivedRequest, type Receiver } from '../../scripts/lib/receiver.js';
import { verifyStandardWebhook } from '../../scripts/lib/verify-signature.js';
import { startAdminApi, type ApiJson, type RunningAdminApi } from '../support/admin-api.js';
import { testEnv, uniqueName } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * Test events, the delivery log, redelivery and recovery through the admin
 * API, with a real deliverer and attempt sink: the API only produces tasks,
 * the deliverer sends them to real receivers, the sink writes the log the
 * API reads.
 */
describe('admin API: deliveries', () => {
  const services = inject('services');
  const env = testEnv(services, { DELIVERER_RETRY_DELAYS_MS: '200,400', DELIVERER_RETRY_JITTER: '0', ADMIN_RATE_LIMIT_PER_MINUTE: '100000', ADMIN_MAX_RECOVER_EVENTS: '2' });
  const config = loadConfig(env);
  const log = createRootLogger({ level: config.log.level });
  const parts: RunningPart[] = [];
  const receivers: Receiver[] = [];
  let api: RunningAdminApi;

  /** The event requests a receiver got (it answers and keeps verification challenges apart). */
  const events = (receiver: Receiver): ReceivedRequest[] => receiver.requests;

  /** A webhook made through the API, pointing at a fresh receiver, verified. */
  const verifiedWebhook = async (answer: (request: ReceivedRequest) => Answer = () => ({ status: 204 }), body: Record<string, unknown> = {}) => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    receiver.respondWith(answer);
    const created = await api.call('POST', '/v1/webhooks', { body: { name: uniqueName('hook'), url: receiver.url, eventTypes: ['user.*'], ...body } });
    expect(created.status).toBe(201);
    const id: string = created.body.webhook.id;
    await waitFor('the webhook verified', async () => (await api.call('GET', `/v1/webhooks/${id}`)).body.verification.status === 'verified', 15_000);
    return { id, receiver, secret: created.body.secret as string };
  };

  const attempts = async (id: string, query = ''): Promise<ApiJson[]> => (await api.call('GET', `/v1/webhooks/${id}/attempts?limit=200${query}`)).body.items;
  const attemptsWhere = (id: string, query: string, count: number) =>
    waitFor(`${count} attempts matching ${query}`, async () => {
      const items = await attempts(id, query);
      return items.length >= count ? items : undefined;
    }, 30_000);

  beforeAll(async () => {
    api = await startAdminApi(config, uniqueName('org'), { log });
    parts.push(...(await startRole('sink', config, log, throwFatal)).parts);
    parts.push(...(await startRole('deliverer', config, log, throwFatal)).parts);
  });

  afterAll(async () => {
    await stopParts(parts, log);
    await api?.close();
    for (const receiver of receivers) await receiver.close();
  });

  it('sends a signed test event of a subscribed type through the deliverers, and logs the attempt with request and response', async () => {
    const { id, receiver, secret } = await verifiedWebhook(() => ({ status: 200, body: 'thanks' }));
    const queued = await api.call('POST', `/v1/webhooks/${id}/test`);
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ queued: 1, eventType: expect.stringMatching(/^USER_/) });
    const [request] = await waitFor('the test event', () => (events(receiver).length === 1 ? events(receiver) : undefined));
    expect(request!.headers['webhook-id']).toBe(queued.body.taskIds[0]);
    expect(verifyStandardWebhook(secret, request!.headers, request!.body)).toBe(true);
    const body = JSON.parse(request!.body);
    expect(body).toMatchObject({ type: queued.body.eventType, webhook: { id, organization: api.organization }, payload: { organization: api.organization } });

    const [logged] = await attemptsWhere(id, '&status=delivered', 1);
    // The log's filter by type takes another product's name for it as the webhook list does.
    const removed = await api.call('POST', `/v1/webhooks/${id}/test`, { body: { eventType: 'GROUP_USER_REMOVED' } });
    expect(removed.body.eventType).toBe('USER_REMOVED_FROM_GROUP');
    const [byAlias] = await attemptsWhere(id, '&eventType=GROUP_USER_REMOVED', 1);
    expect(byAlias).toMatchObject({ taskId: removed.body.taskIds[0], eventType: 'USER_REMOVED_FROM_GROUP' });
    expect(logged).toMatchObject({ taskId: queued.body.taskIds[0], eventType: queued.body.eventType, attempt: 1, status: 'delivered', responseStatus: 200 });
    const detail = await api.call('GET', `/v1/webhooks/${id}/attempts/${logged.id}`);
    expect(detail.body.request.body).toBe(request!.body);
    expect(detail.body.request.headers['webhook-id']).toBe(queued.body.taskIds[0]);
    expect(detail.body.request.headers['webhook-signature']).toBeUndefined();
    expect(detail.body.response).toEqual({ status: 200, body: 'thanks' });
    // An attempt id is a UUID, the same in either case, as a webhook id is.
    const upper = await api.call('GET', `/v1/webhooks/${id}/attempts/${String(logged.id).toUpperCase()}`);
    expect(upper.status).toBe(200);
    expect(upper.body.id).toBe(logged.id);

    const named = await api.call('POST', `/v1/webhooks/${id}/test`, { body: { eventType: 'GROUP_CREATED' } });
    expect(named.body.eventType).toBe('GROUP_CREATED');
    const unknown = await api.call('POST', `/v1/webhooks/${id}/test`, { body: { eventType: 'NOPE' } });
    expect(unknown.body.errors).toContainEqual(expect.objectContaining({ in: 'body', field: 'eventType' }));

    // Deleted, the webhook takes its log out of the API: the list and each attempt alike.
    expect((await api.call('DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
    expect((await api.call('GET', `/v1/webhooks/${id}/attempts`)).status).toBe(404);
    const gone = await api.call('GET', `/v1/webhooks/${id}/attempts/${logged.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.detail).toMatch(/webhook/);
  });

  it('delivers cidaas-format bodies under cidaas\'s name for the type (seed 002 GROUP_USER_REMOVED), signed over what was sent, and logs that body', async () => {
    const { id, receiver, secret } = await verifiedWebhook(undefined, { bodyFormat: 'cidaas', eventTypes: ['GROUP_USER_REMOVED'] });
    const queued = await api.call('POST', `/v1/webhooks/${id}/test`, { body: { eventType: 'GROUP_USER_REMOVED' } });
    expect(queued.status).toBe(202);
    const [request] = await waitFor('the test event', () => (events(receiver).length === 1 ? events(receiver) : undefined));
    expect(verifyStandardWebhook(secret, request!.headers, request!.body)).toBe(true);
    expect(JSON.parse(request!.body)).toMatchObject({ event_type: 'GROUP_USER_REMOVED', current_context: { organization: api.organization, webhook_id: id } });
    const [logged] = await attemptsWhere(id, '&status=delivered', 1);
    expect(logged).toMatchObject({ taskId: queued.body.taskIds[0], eventType: 'USER_REMOVED_FROM_GROUP' });
    expect((await api.call('GET', `/v1/webhooks/${id}/attempts/${logged.id}`)).body.request.body).toBe(request!.body);
  });

  it('tells the organization\'s subscribed webhooks of changes to its webhooks (WEBHOOK_*, seed 002), in order, without the URL or secrets', async () => {
    const { id: watcher, receiver } = await verifiedWebhook(undefined, { eventTypes: ['WEBHOOK_CREATED', 'WEBHOOK_UPDATED', 'WEBHOOK_DELETED'] });
    // cidaas bodies carry the event's actor (current_context.actor): who made the change.
    const cidaasWatcher = await verifiedWebhook(undefined, { eventTypes: ['WEBHOOK_DELETED'], bodyFormat: 'cidaas' });
    // A webhook of another organization watching the same: it hears nothing of this one's.
    const elsewhere = await startAdminApi(config, uniqueName('org'), { log });
    const outsider = await startReceiver();
    receivers.push(outsider);
    const outsiderHook = await elsewhere.call('POST', '/v1/webhooks', { body: { name: 'outsider', url: outsider.url, eventTypes: ['admin.*'] } });
    await waitFor('the outsider verified', async () => (await elsewhere.call('GET', `/v1/webhooks/${outsiderHook.body.webhook.id}`)).body.verification.status === 'verified', 15_000);
    const watchedReceiver = await startReceiver();
    receivers.push(watchedReceiver);
    const created = await api.call('POST', '/v1/webhooks', { body: { name: 'watched', url: `${watchedReceiver.url}/hook?token=s3cret-in-the-url`, eventTypes: ['user.*'] } });
    const watched: string = created.body.webhook.id;
    await waitFor('the watched webhook verified', async () => (await api.call('GET', `/v1/webhooks/${watched}`)).body.verification.status === 'verified', 15_000);
    expect((await api.call('PATCH', `/v1/webhooks/${watched}`, { body: { name: 'watched-renamed', eventTypes: ['user.*', 'group.*'] } })).status).toBe(200);
    expect((await api.call('POST', `/v1/webhooks/${watched}/disable`, { body: { reason: 'maintenance' } })).status).toBe(200);
    // A change from a connection that does not record (the connector's, a script's) is no event: it would come before
    // the deletion's, which is recorded after it.
    const plain = createPool({ url: config.database.url, max: 1, applicationName: 'not-the-admin-api' }, log);
    await plain.query(`UPDATE webhooks SET description = 'changed behind the API' WHERE id = $1`, [watched]);
    await plain.end();
    expect((await api.call('DELETE', `/v1/webhooks/${watched}`)).status).toBe(204);

    const about = () => events(receiver).map((r) => ({ request: r, body: JSON.parse(r.body) })).filter(({ body }) => body.payload.resourceId === watched);
    const got = await waitFor('four events about the watched webhook', () => (about().length >= 4 ? about() : undefined), 30_000);
    // Its verification (bookkeeping, not an admin's change) is no event: exactly four.
    expect(got.map(({ body }) => body.type)).toEqual(['WEBHOOK_CREATED', 'WEBHOOK_UPDATED', 'WEBHOOK_UPDATED', 'WEBHOOK_DELETED']);
    const [createdEvent, renamed, disabled, deleted] = got.map(({ body }) => body);
    expect(createdEvent).toMatchObject({ webhook: { id: watcher, organization: api.organization }, payload: { resourceType: 'webhook', resourceName: 'watched', organization: api.organization, enabled: true, eventTypes: ['user.*'] } });
    expect(renamed.payload).toMatchObject({ resourceName: 'watched-renamed', changed: ['name', 'eventTypes'], eventTypes: ['user.*', 'group.*'] });
    expect(disabled.payload).toMatchObject({ changed: ['status'], enabled: false, status: 'inactive', statusReason: 'maintenance' });
    expect(deleted.payload).toMatchObject({ resourceId: watched, resourceName: 'watched-renamed' });
    for (const { request } of got) {
      expect(request.body).not.toContain('s3cret-in-the-url');
      expect(request.body).not.toContain('whsec_');
    }
    // Each event has its own webhook-id, logged like any delivery.
    expect(new Set(got.map(({ request }) => request.headers['webhook-id'])).size).toBe(4);
    const toldOfDeletion = await waitFor('the cidaas watcher told of the deletion', () =>
      events(cidaasWatcher.receiver).map((r) => JSON.parse(r.body)).find((body) => body.data.resourceId === watched));
    expect(toldOfDeletion).toMatchObject({ event_type: 'WEBHOOK_DELETED', current_context: { actor: 'admin@example.com', organization: api.organization, webhook_id: cidaasWatcher.id } });
    expect(Object.keys(createdEvent.payload).sort()).toEqual(['enabled', 'eventTypes', 'organization', 'resourceId', 'resourceName', 'resourceType', 'status']);
    expect(Object.keys(renamed.payload).sort()).toEqual(['changed', 'enabled', 'eventTypes', 'organization', 'resourceId', 'resourceName', 'resourceType', 'status']);
    await attemptsWhere(watcher, '&eventType=WEBHOOK_DELETED', 1);
    // The other organization's watcher hears of its own organization's change, made after all of these and queued
    // behind anything it could have been sent of them: it got nothing of this one's.
    const later = await elsewhere.call('POST', '/v1/webhooks', { body: { name: 'later', url: `${outsider.url}/later`, eventTypes: ['user.*'] } });
    await waitFor('the outsider told of its own organization\'s change', () => outsider.requests.some((r) => JSON.parse(r.body).payload?.resourceId === later.body.webhook.id));
    expect(outsider.requests.filter((r) => JSON.parse(r.body).payload?.resourceId === watched)).toEqual([]);
    await elsewhere.close();
  });

  it('tells subscribed webhooks when the connector disables one (410 Gone), with the reason, the connector as actor', async () => {
    const watcher = await verifiedWebhook(undefined, { eventTypes: ['WEBHOOK_UPDATED'], bodyFormat: 'cidaas' });
    const gone = await verifiedWebhook(() => ({ status: 410 }));
    expect((await api.call('POST', `/v1/webhooks/${gone.id}/test`)).status).toBe(202);
    const told = await waitFor('the watcher told of the disabling', () =>
      events(watcher.receiver).map((r) => JSON.parse(r.body)).find((body) => body.data.resourceId === gone.id));
    expect(told).toMatchObject({
      event_type: 'WEBHOOK_UPDATED',
      current_context: { actor: 'identity-webhooks', organization: api.organization },
      data: { changed: ['status'], enabled: false, status: 'inactive', statusReason: expect.stringContaining('410 Gone') },
    });
    expect((await api.call('GET', `/v1/webhooks/${gone.id}`)).body).toMatchObject({ enabled: false, statusReason: told.data.statusReason });
  });

  it('redelivers a dead-lettered attempt with the same webhook-id once the endpoint is fixed', async () => {
    let accept = false;
    const { id, receiver } = await verifiedWebhook(() => (accept ? { status: 204 } : { status: 400, body: 'bad payload' }));
    const queued = await api.call('POST', `/v1/webhooks/${id}/test`);
    const [dead] = await attemptsWhere(id, '&status=dead_letter', 1);
    expect(dead).toMatchObject({ responseStatus: 400, taskId: queued.body.taskIds[0] });
    expect(await attempts(id, '&status=delivered')).toEqual([]);

    accept = true;
    const redelivered = await api.call('POST', `/v1/webhooks/${id}/attempts/${dead.id}/redeliver`);
    expect(redelivered.status).toBe(202);
    expect(redelivered.body.taskIds).toEqual(queued.body.taskIds);
    await attemptsWhere(id, '&status=delivered', 1);
    const sent = events(receiver);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.headers['webhook-id']).toBe(sent[0]!.headers['webhook-id']);
    expect(sent[1]!.body).toBe(sent[0]!.body);
    expect((await api.call('POST', `/v1/webhooks/${id}/attempts/${randomUUID()}/redeliver`)).status).toBe(404);

    // An attempt is found only under its own webhook and organization: another webhook's path does not send it
    // there, and another organization's token neither reads nor redelivers it.
    const { id: otherId, receiver: otherReceiver } = await verifiedWebhook();
    expect((await api.call('GET', `/v1/webhooks/${otherId}/attempts/${dead.id}`)).status).toBe(404);
    expect((await api.call('POST', `/v1/webhooks/${otherId}/attempts/${dead.id}/redeliver`)).status).toBe(404);
    const stranger = await api.tokenFor(uniqueName('org'));
    expect((await api.call('GET', `/v1/webhooks/${id}/attempts/${dead.id}`, { token: stranger })).status).toBe(404);
    expect((await api.call('POST', `/v1/webhooks/${id}/attempts/${dead.id}/redeliver`, { token: stranger })).status).toBe(404);
    // Checked once a task queued after the refusals has arrived at each webhook: one queued by them would have come first.
    const afterOther = (await api.call('POST', `/v1/webhooks/${otherId}/test`)).body.taskIds[0];
    const afterOwn = (await api.call('POST', `/v1/webhooks/${id}/test`)).body.taskIds[0];
    await waitFor('the later test events', () => events(otherReceiver).some((r) => r.headers['webhook-id'] === afterOther) && events(receiver).some((r) => r.headers['webhook-id'] === afterOwn), 30_000);
    expect(events(otherReceiver).map((r) => r.headers['webhook-id'])).toEqual([afterOther]);
    expect(events(receiver)).toHaveLength(3);
  });

  it('recovers every failed delivery since a time, once: delivered ones and ones before the time are left alone', async () => {
    let accept = false;
    const { id, receiver } = await verifiedWebhook((request) => (accept ? { status: 204 } : { status: 422, body: request.body.length > 0 ? 'no' : '' }));
    const before = await api.call('POST', `/v1/webhooks/${id}/test`);
    await attemptsWhere(id, '&status=dead_letter', 1);
    const since = new Date().toISOString();
    const failed = [];
    for (let i = 0; i < 3; i++) failed.push((await api.call('POST', `/v1/webhooks/${id}/test`)).body.taskIds[0]);
    await attemptsWhere(id, '&status=dead_letter', 4);

    accept = true;
    // Two a request (ADMIN_MAX_RECOVER_EVENTS), oldest first; the answer says where the next one carries on.
    const recovered = await api.call('POST', `/v1/webhooks/${id}/recover`, { body: { since } });
    expect(recovered.status).toBe(202);
    expect(recovered.body).toMatchObject({ queued: 2, taskIds: failed.slice(0, 2), more: true });
    const { nextSince, afterTaskId, until } = recovered.body;
    expect(afterTaskId).toBe(failed[1]);
    const rest = await api.call('POST', `/v1/webhooks/${id}/recover`, { body: { since: nextSince, afterTaskId, until } });
    expect(rest.body).toMatchObject({ more: false });
    expect(rest.body).not.toHaveProperty('nextSince');
    // The third alone: the next request starts right after the last one queued.
    expect(rest.body.taskIds).toEqual([failed[2]]);
    await attemptsWhere(id, '&status=delivered', 3);
    const again = await api.call('POST', `/v1/webhooks/${id}/recover`, { body: { since } });
    expect(again.body.queued).toBe(0);
    // Each failed event once: the walk queued none of them twice.
    const delivered = events(receiver).slice(4).map((r) => r.headers['webhook-id']);
    expect([...delivered].sort()).toEqual([...failed].sort());
    expect(delivered).not.toContain(before.body.taskIds[0]);

    // Within one millisecond, as a walk's nextSince (microseconds) and an until sent with microseconds can be: a range still.
    const withinAMillisecond = await api.call('POST', `/v1/webhooks/${id}/recover`, { body: { since: '2026-01-01T00:00:00.123000Z', until: '2026-01-01T00:00:00.123456Z' } });
    expect(withinAMillisecond.status).toBe(202);
    expect(withinAMillisecond.body).toMatchObject({ queued: 0, more: false });
    const backwards = await api.call('POST', `/v1/webhooks/${id}/recover`, { body: { since, until: new Date(0).toISOString() } });
    expect(backwards.body.errors).toContainEqual(expect.objectContaining({ field: 'until' }));
    // A since in the future is since's mistake, with until left out or later still (not an until the client never sent).
    const tomorrow = new Date(Date.now() + 86_400_000);
    for (const body of [{ since: tomorrow.toISOString() }, { since: tomorrow.toISOString(), until: new Date(tomorrow.getTime() + 60_000).toISOString() }]) {
      const future = await api.call('POST', `/v1/webhooks/${id}/recover`, { body });
      expect(future.status).toBe(400);
      expect(future.body.errors).toEqual([expect.objectContaining({ in: 'body', field: 'since' })]);
    }
  });

  it('recovers the tasks whose last attempt was dead-lettered, disabled the webhook or was skipped; not those delivered since or still retrying', async () => {
    const webhookId = randomUUID();
    const since = new Date(Date.now() - 60_000);
    /** One task's attempts, oldest first, a second apart from `since` on. */
    const attemptsOf = async (taskId: string, outcomes: string[]): Promise<void> => {
      for (const [i, outcome] of outcomes.entries()) {
        await api.pool.query(
          `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, attempt, outcome, attempted_at, event)
           VALUES ($1, $2, $3, $4, $5, 'USER_CREATED', $6, $7, $8, $9)`,
          [randomUUID(), taskId, webhookId, api.organization, `evt-${taskId}`, i + 1, outcome, new Date(since.getTime() + 1000 * (i + 1)), JSON.stringify({ eventId: `evt-${taskId}` })],
        );
      }
    };
    await attemptsOf('dead', ['retry', 'dead_letter']);
    await attemptsOf('disabled', ['disabled']);
    await attemptsOf('skipped', ['skipped']);
    await attemptsOf('retrying', ['retry']);
    await attemptsOf('delivered-since', ['dead_letter', 'delivered']);
    await attemptsOf('delivered', ['delivered']);
    const range = { since: since.toISOString(), until: new Date().toISOString() };
    const found = await failedEventsSince(api.pool, api.organization, webhookId, range, 100);
    expect(found.map((f) => f.taskId).sort()).toEqual(['dead', 'disabled', 'skipped']);
    // Failed at one instant, a page of one carries on after the task it queued, by its id, not at the instant again.
    const [firstOfTwo] = await failedEventsSince(api.pool, api.organization, webhookId, range, 1);
    const tiedTaskIds = found.filter((f) => f.failedAt === firstOfTwo!.failedAt).map((f) => f.taskId).sort();
    expect(tiedTaskIds).toEqual(['disabled', 'skipped']);
    const afterIt = await failedEventsSince(api.pool, api.organization, webhookId, { ...range, since: firstOfTwo!.failedAt, afterTaskId: firstOfTwo!.taskId }, 100);
    expect(afterIt.map((f) => f.taskId)).toEqual(['skipped', 'dead']);
    // Another organization's view of the same webhook id finds nothing.
    expect(await failedEventsSince(api.pool, uniqueName('org'), webhookId, range, 100)).toEqual([]);
  });

  it('refuses test events, redelivery and recovery for a disabled or unverified webhook with 409, naming why', async () => {
    const { id, receiver } = await verifiedWebhook(() => ({ status: 400 }));
    await api.call('POST', `/v1/webhooks/${id}/test`);
    const [dead] = await attemptsWhere(id, '&status=dead_letter', 1);
    await api.call('POST', `/v1/webhooks/${id}/disable`, { body: { reason: 'paused by ops' } });
    const disabled = await api.call('POST', `/v1/webhooks/${id}/test`);
    expect(disabled.status).toBe(409);
    expect(disabled.body.detail).toContain('paused by ops');
    const redelivery = await api.call('POST', `/v1/webhooks/${id}/attempts/${dead!.id}/redeliver`);
    expect(redelivery.status).toBe(409);
    expect(redelivery.body.detail).toContain('paused by ops');
    expect((await api.call('POST', `/v1/webhooks/${id}/recover`, { body: { since: new Date(0).toISOString() } })).status).toBe(409);
    expect(events(receiver)).toHaveLength(1);

    const unreachable = await api.call('POST', '/v1/webhooks', { body: { name: 'n', url: 'http://127.0.0.1:9/none', eventTypes: ['*'] } });
    await waitFor('the failed challenge', async () => (await api.call('GET', `/v1/webhooks/${unreachable.body.webhook.id}`)).body.verification.status === 'failed', 15_000);
    const unverified = await api.call('POST', `/v1/webhooks/${unreachable.body.webhook.id}/test`);
    expect(unverified.status).toBe(409);
    expect(unverified.body.detail).toMatch(/not verified \(failed: .*ECONNREFUSED/);
    const unverifiedRecovery = await api.call('POST', `/v1/webhooks/${unreachable.body.webhook.id}/recover`, { body: { since: new Date(0).toISOString() } });
    expect(unverifiedRecovery.status).toBe(409);
    expect(unverifiedRecovery.body.detail).toMatch(/not verified/);
  });

  it('after a secret rotation both secrets sign at once (by notification, not the cache\'s expiry), so receivers on either verify; the previous one stops once revoked', async () => {
    // It hears of its own changes too: the rotation and the revocation are each news (WEBHOOK_UPDATED).
    const { id, receiver, secret: oldSecret } = await verifiedWebhook(undefined, { eventTypes: ['user.*', 'WEBHOOK_UPDATED'] });
    const delivered = async (): Promise<ReceivedRequest> => {
      const { body } = await api.call('POST', `/v1/webhooks/${id}/test`);
      return waitFor('the test event', () => events(receiver).find((r) => r.headers['webhook-id'] === body.taskIds[0]));
    };
    // The deliverer now holds this webhook (and its one secret) in its cache.
    expect(String((await delivered()).headers['webhook-signature']).split(' ')).toHaveLength(1);
    const rotatedAt = Date.now();
    const rotated = await api.call('POST', `/v1/webhooks/${id}/rotate-secret`);
    // The cache keeps entries for DELIVERER_TARGET_CACHE_TTL_MS (60 s here): only the change notification can make
    // this quicker, and a loaded machine still gets well under that.
    expect(config.deliverer.targetCacheTtlMs).toBeGreaterThanOrEqual(60_000);
    const request = await waitFor('a delivery signed with the new secret', async () => {
      const next = await delivered();
      return verifyStandardWebhook(rotated.body.secret, next.headers, next.body) ? next : undefined;
    }, 20_000);
    log.info({ ms: Date.now() - rotatedAt }, 'rotation visible to the deliverer');
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifyStandardWebhook(oldSecret, request.headers, request.body)).toBe(true);
    // The overlap ended early: deliveries carry the new secret's signature alone.
    expect((await api.call('POST', `/v1/webhooks/${id}/revoke-previous-secret`)).status).toBe(200);
    const alone = await waitFor('a delivery signed with the new secret alone', async () => {
      const next = await delivered();
      return String(next.headers['webhook-signature']).split(' ').length === 1 ? next : undefined;
    }, 20_000);
    expect(verifyStandardWebhook(rotated.body.secret, alone.headers, alone.body)).toBe(true);
    expect(verifyStandardWebhook(oldSecret, alone.headers, alone.body)).toBe(false);
    const told = () => events(receiver).map((r) => JSON.parse(r.body)).filter((body) => body.type === 'WEBHOOK_UPDATED' && body.payload.resourceId === id);
    const updates = await waitFor('the rotation and the revocation told', () => (told().length >= 2 ? told() : undefined), 20_000);
    expect(updates.map((body) => body.payload.changed)).toEqual([['signingSecret'], ['signingSecret']]);
  });

  it('pages the delivery log newest first and filters it by event type and time', async () => {
    const { id } = await verifiedWebhook();
    for (const eventType of ['USER_CREATED', 'USER_DISABLED', 'USER_CREATED', 'USER_DELETED', 'USER_CREATED']) {
      await api.call('POST', `/v1/webhooks/${id}/test`, { body: { eventType } });
    }
    await attemptsWhere(id, '', 5);
    const seen: ApiJson[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: ApiJson } = await api.call('GET', `/v1/webhooks/${id}/attempts?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen.map((a) => a.id)).size).toBe(5);
    const times = seen.map((a) => Date.parse(a.attemptedAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(await attempts(id, '&eventType=USER_CREATED')).toHaveLength(3);
    expect(await attempts(id, `&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect(await attempts(id, `&until=${encodeURIComponent(new Date(0).toISOString())}`)).toEqual([]);
  });
});
