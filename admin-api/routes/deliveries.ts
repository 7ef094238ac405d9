import type { FastifyInstance } from 'fastify';
import type { DeliveryTask } from '../../connector/delivery/task.js';
import type { CanonicalEvent } from '../../connector/ingest/canonical-event.js';
import type { AdminApiDeps } from '../context.js';
import { ApiProblem, invalidField, notFound } from '../problem.js';
import { AUTHED_PROBLEMS, attemptParams, idParam, listAttemptsQuery, problemResponses, recoverBody } from '../schemas.js';
import { failedEventsSince, findAttempt, listAttemptRows, toAttemptDetail, toAttemptSummary, type ListAttemptsQuery } from '../store/attempts.js';
import { assertReceiving, requireWebhook } from './webhook-lookup.js';
import { instantMicros } from '../instant.js';

const TAG = 'Deliveries';

/**
 * A delivery produced again: the same task id (so the same `webhook-id`
 * header, as Standard Webhooks asks for a resent message), a fresh attempt count.
 */
const resend = (webhookId: string, organization: string, taskId: string, event: CanonicalEvent): DeliveryTask =>
  ({ v: 1, taskId, webhookId, organization, attempt: 1, routedAt: Date.now(), event, resent: true });

export function deliveryRoutes(deps: AdminApiDeps) {
  const { pool, config } = deps;

  return async function register(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { id: string }; Querystring: ListAttemptsQuery }>('/webhooks/:id/attempts', {
      schema: {
        tags: [TAG],
        operationId: 'listDeliveryAttempts',
        summary: 'List delivery attempts of a webhook, newest first',
        params: idParam,
        querystring: listAttemptsQuery(config.admin.maxPageSize),
        response: { 200: { description: 'A page of attempts', $ref: 'DeliveryAttemptPage#' }, ...problemResponses(...AUTHED_PROBLEMS, 404) },
      },
    }, async (request) => {
      const { organization } = request.principal;
      await requireWebhook(pool, organization, request.params.id);
      // Another product's name for a type finds the attempts logged under the catalog's.
      const { eventType } = request.query;
      const query = eventType === undefined ? request.query : { ...request.query, eventType: deps.catalog.canonicalPattern(eventType) };
      const page = await listAttemptRows(pool, organization, request.params.id, query);
      return { items: page.items.map(toAttemptSummary), nextCursor: page.nextCursor };
    });

    app.get<{ Params: { id: string; attemptId: string } }>('/webhooks/:id/attempts/:attemptId', {
      schema: {
        tags: [TAG],
        operationId: 'getDeliveryAttempt',
        summary: 'Get one attempt with its request and response',
        params: attemptParams,
        response: { 200: { description: 'The attempt', $ref: 'DeliveryAttempt#' }, ...problemResponses(...AUTHED_PROBLEMS, 404) },
      },
    }, async (request) => {
      // A deleted webhook's log is gone from the API with it, as its list is (404: no such webhook).
      const webhook = await requireWebhook(pool, request.principal.organization, request.params.id);
      const row = await findAttempt(pool, request.principal.organization, webhook.id, request.params.attemptId);
      if (!row) throw notFound('delivery attempt');
      return toAttemptDetail(row);
    });

    app.post<{ Params: { id: string; attemptId: string } }>('/webhooks/:id/attempts/:attemptId/redeliver', {
      schema: {
        tags: [TAG],
        operationId: 'redeliverAttempt',
        summary: 'Deliver the event of this attempt again',
        description: 'Produces the delivery task again (same webhook-id); the deliverers send it. The webhook must be enabled and verified.',
        params: attemptParams,
        response: { 202: { description: 'Queued for delivery', $ref: 'Queued#' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 409) },
      },
    }, async (request, reply) => {
      const { organization } = request.principal;
      const webhook = await requireWebhook(pool, organization, request.params.id);
      const attempt = await findAttempt(pool, organization, webhook.id, request.params.attemptId);
      if (!attempt) throw notFound('delivery attempt');
      if (!attempt.event) throw new ApiProblem('conflict', 'this attempt was logged before events were kept with attempts; it cannot be redelivered');
      assertReceiving(webhook);
      const task = resend(webhook.id, organization, attempt.task_id, attempt.event);
      await deps.publisher.publish([task]);
      return reply.code(202).send({ queued: 1, taskIds: [task.taskId], eventId: attempt.event_id, eventType: attempt.event_type });
    });

    app.post<{ Params: { id: string }; Body: { since: string; until?: string; afterTaskId?: string } }>('/webhooks/:id/recover', {
      schema: {
        tags: [TAG],
        operationId: 'recoverFailedDeliveries',
        summary: 'Deliver again every event that failed since a time',
        description: 'Every event of this webhook whose latest attempt in the range ended in failure (dead-lettered, disabled the webhook, or skipped while it could not receive) is produced again, oldest first. With more left than one request queues, the answer has more: true and nextSince, until and afterTaskId: send those back to carry on exactly where it ended; resends that fail again after until are not queued again by the same walk.',
        params: idParam,
        body: recoverBody,
        response: { 202: { description: 'Queued for delivery', $ref: 'Queued#' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 409, 415) },
      },
    }, async (request, reply) => {
      const { organization } = request.principal;
      const webhook = await requireWebhook(pool, organization, request.params.id);
      // At most now: a range open into the future would take in the walk's own resends failing again.
      // Compared to the microsecond, as the query compares them: a walk's nextSince has microseconds.
      const nowMs = Date.now();
      const now = new Date(nowMs).toISOString();
      const since = instantMicros(request.body.since);
      const askedUntil = request.body.until === undefined ? undefined : instantMicros(request.body.until);
      // Each field blamed for what it says itself: an until left out, or past now, is not the client's mistake.
      if (since >= BigInt(nowMs) * 1000n) throw invalidField('body', 'since', 'must be earlier than now');
      if (askedUntil !== undefined && askedUntil <= since) throw invalidField('body', 'until', 'must be later than since');
      const until = askedUntil !== undefined && askedUntil < BigInt(nowMs) * 1000n ? request.body.until! : now;
      assertReceiving(webhook);
      // One more than the cap: whether events are left for a next request.
      const cap = config.admin.maxRecoverEvents;
      const found = await failedEventsSince(pool, organization, webhook.id, { since: request.body.since, until, afterTaskId: request.body.afterTaskId }, cap + 1);
      const failed = found.slice(0, cap);
      const tasks = failed.map(({ taskId, event }) => resend(webhook.id, organization, taskId, event));
      await deps.publisher.publish(tasks);
      const more = found.length > cap;
      request.log.info({ webhookId: webhook.id, queued: tasks.length, more }, 'failed deliveries recovered');
      // The next request starts after the last queued event, within the same range.
      const next = more ? { nextSince: failed.at(-1)!.failedAt, afterTaskId: failed.at(-1)!.taskId, until } : {};
      return reply.code(202).send({ queued: tasks.length, taskIds: tasks.map((t) => t.taskId), more, ...next });
    });
  };
}
