import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { samplePayload } from '../../connector/events/sample-payload.js';
import { secretPlace } from '../../connector/security/encryption.js';
import type { AdminApiDeps } from '../context.js';
import { ApiProblem, invalidField, notFound } from '../problem.js';
import { AUTHED_PROBLEMS, idParam, problemResponses, rotateSecretBody, statusChangeBody, testEventBody } from '../schemas.js';
import { findWebhook, revokePreviousSecret, rotateWebhookSecret, rotationState, setWebhookEnabled, toView } from '../store/webhooks.js';
import { assertReceiving, parseIfMatch, refuseChange, requireWebhook, staleVersion } from './webhook-lookup.js';
import type { VerificationRunner } from '../verification-runner.js';
import { defaultStatusReason, defaultTestEventType } from '../webhook-rules.js';

const TAG = 'Webhook actions';

export function webhookActionRoutes(deps: AdminApiDeps, verifications: VerificationRunner) {
  const { pool, box, catalog, config } = deps;
  const webhookResponse = { 200: { description: 'The webhook', $ref: 'Webhook#' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 415) };
  const conditionalResponse = { 200: webhookResponse[200], ...problemResponses(...AUTHED_PROBLEMS, 404, 412, 415) };

  return async function register(app: FastifyInstance): Promise<void> {
    for (const enabled of [true, false]) {
      app.post<{ Params: { id: string }; Body: { reason?: string } | null; Headers: { 'if-match'?: string } }>(`/webhooks/:id/${enabled ? 'enable' : 'disable'}`, {
        schema: {
          tags: [TAG],
          operationId: enabled ? 'enableWebhook' : 'disableWebhook',
          summary: enabled ? 'Enable a webhook' : 'Disable a webhook, with a reason',
          description: 'The reason is kept and shown as statusReason. Enabling a disabled webhook also clears its failure streak, so an auto-disabled endpoint gets a fresh window. A webhook already in the asked state is answered as it is, unchanged: its statusReason and statusChangedAt still tell the change that put it there (disabling a webhook the connector disabled after 410 Gone keeps that reason), and no WEBHOOK_UPDATED event is sent. Send If-Match with the ETag to change it only if nothing changed since you read it.',
          params: idParam,
          body: statusChangeBody,
          response: conditionalResponse,
        },
      }, async (request, reply) => {
        const { principal } = request;
        const expectedVersion = parseIfMatch(request.headers['if-match']);
        const reason = request.body?.reason ?? defaultStatusReason(enabled, principal.subject);
        const result = await setWebhookEnabled(pool, principal.subject, principal.organization, request.params.id, enabled, reason, expectedVersion);
        if (!result) return refuseChange(pool, principal.organization, request.params.id, expectedVersion);
        const { row, changed } = result;
        if (changed) request.log.info({ webhookId: row.id, enabled, reason }, 'webhook status changed');
        return reply.header('etag', `"${row.version}"`).send(toView(row, box));
      });
    }

    app.post<{ Params: { id: string }; Body: { force?: boolean } | null; Headers: { 'if-match'?: string } }>('/webhooks/:id/rotate-secret', {
      schema: {
        tags: [TAG],
        operationId: 'rotateWebhookSecret',
        summary: 'Rotate the signing secret',
        description: `Returns the new secret once. The previous secret keeps signing too (two signatures per request) for admin.secretRotationOverlapMs (${config.admin.secretRotationOverlapMs} ms here), so receivers can switch on their own schedule. Rotating again while that overlap is open is a 409: the secret receivers may still use would stop signing at once. Send force: true to rotate anyway, or end the overlap first with POST /v1/webhooks/{id}/revoke-previous-secret. Send If-Match with the ETag so that of two rotations at once only one takes effect (the other gets 412).`,
        params: idParam,
        body: rotateSecretBody,
        response: { 200: { description: 'The webhook and its new secret', $ref: 'WebhookWithSecret#' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 409, 412, 415) },
      },
    }, async (request, reply) => {
      const { principal } = request;
      const expectedVersion = parseIfMatch(request.headers['if-match']);
      const secret = generateSigningSecret();
      const force = request.body?.force === true;
      const rotate = () => rotateWebhookSecret(pool, principal.subject, principal.organization, request.params.id, box.encrypt(secret, secretPlace.signingSecret(request.params.id)), config.admin.secretRotationOverlapMs, expectedVersion, force);
      let row = await rotate();
      if (!row) {
        // Why, by the same clock the rotation was refused by (Postgres's).
        const state = await rotationState(pool, principal.organization, request.params.id);
        if (!state) throw notFound('webhook');
        if (expectedVersion !== undefined && state.version !== expectedVersion) throw staleVersion(state.version, expectedVersion);
        if (state.overlapUntil) {
          throw new ApiProblem('conflict', `an earlier rotation's overlap is open until ${state.overlapUntil.toISOString()}: the secret it replaced still signs, and rotating now would stop it at once. Send {"force": true} to rotate anyway, or end the overlap first (POST /v1/webhooks/${request.params.id}/revoke-previous-secret)`);
        }
        // The overlap ended, or was revoked, between the two: the rotation may go ahead now.
        row = await rotate();
        if (!row) return refuseChange(pool, principal.organization, request.params.id, expectedVersion);
      }
      request.log.info({ webhookId: row.id, forced: force }, 'signing secret rotated');
      return reply.header('etag', `"${row.version}"`).send({ webhook: toView(row, box), secret });
    });

    app.post<{ Params: { id: string }; Headers: { 'if-match'?: string } }>('/webhooks/:id/revoke-previous-secret', {
      schema: {
        tags: [TAG],
        operationId: 'revokePreviousWebhookSecret',
        summary: 'End a rotation\'s overlap now',
        description: 'The secret the last rotation replaced stops signing (deliverers hear of it within seconds; requests already signed still carry it): after a leak, or once every receiver uses the new secret. The current secret is unchanged. A webhook with no previous secret signing is answered as it is.',
        params: idParam,
        response: conditionalResponse,
      },
    }, async (request, reply) => {
      const { principal } = request;
      const expectedVersion = parseIfMatch(request.headers['if-match']);
      const row = await revokePreviousSecret(pool, principal.subject, principal.organization, request.params.id, expectedVersion);
      if (!row) return refuseChange(pool, principal.organization, request.params.id, expectedVersion);
      request.log.info({ webhookId: row.id }, 'previous signing secret revoked');
      return reply.header('etag', `"${row.version}"`).send(toView(row, box));
    });

    app.post<{ Params: { id: string } }>('/webhooks/:id/verify', {
      schema: {
        tags: [TAG],
        operationId: 'verifyWebhook',
        summary: 'Send the verification challenge now and wait for the answer',
        description: 'POSTs {"type":"webhook.verification","challenge":"..."} signed like any event; the endpoint must answer 2xx echoing the challenge ({"challenge":"..."} or plain text). The result is in verification. A webhook already verified for its URL stays verified if the check fails, with the failure in verification.error.',
        params: idParam,
        response: webhookResponse,
      },
    }, async (request) => {
      const row = await requireWebhook(pool, request.principal.organization, request.params.id);
      const updated = await verifications.run(row);
      // The URL changed while the challenge was out: show the webhook as it is now.
      const current = updated ?? (await findWebhook(pool, request.principal.organization, request.params.id));
      if (!current) throw notFound('webhook');
      return toView(current, box);
    });

    app.post<{ Params: { id: string }; Body: { eventType?: string } | null }>('/webhooks/:id/test', {
      schema: {
        tags: [TAG],
        operationId: 'sendTestEvent',
        summary: 'Send a test event',
        description: 'Produces a sample event of the given type (default: one the webhook subscribes to) as a delivery task; it is delivered, signed and logged like any event. The webhook must be enabled and verified.',
        params: idParam,
        body: testEventBody,
        response: { 202: { description: 'Queued for delivery', $ref: 'Queued#' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 409, 415) },
      },
    }, async (request, reply) => {
      const { organization } = request.principal;
      const row = await requireWebhook(pool, organization, request.params.id);
      const named = request.body?.eventType ?? defaultTestEventType(row.event_types, catalog);
      const entry = catalog.entryOf(named);
      if (!entry) throw invalidField('body', 'eventType', `"${named}" is not an event type of the catalog`);
      const { type: eventType, family } = entry;
      assertReceiving(row);
      const eventId = `test_${randomUUID()}`;
      const task: DeliveryTask = {
        v: 1,
        taskId: taskIdFor(eventId, row.id),
        webhookId: row.id,
        organization,
        attempt: 1,
        routedAt: Date.now(),
        event: { eventId, eventType, family, occurredAt: Date.now(), organization, actor: request.principal.subject, source: 'identity-webhooks.test', payload: samplePayload(catalog, eventType, organization) },
      };
      await deps.publisher.publish([task]);
      return reply.code(202).send({ queued: 1, taskIds: [task.taskId], eventId, eventType });
    });
  };
}
