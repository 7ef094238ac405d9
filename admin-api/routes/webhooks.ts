import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { secretPlace } from '../../connector/security/encryption.js';
import type { AdminApiDeps } from '../context.js';
import { invalidField, notFound } from '../problem.js';
import {
  AUTHED_PROBLEMS, bulkDeleteBody, createWebhookBody, idParam, listWebhooksQuery, problemResponses, updateWebhookBody,
} from '../schemas.js';
import {
  deleteWebhook, deleteWebhooks, insertWebhookRow, listWebhookRows, toView, updateWebhookRow, type ListWebhooksQuery, type WebhookChanges, type WebhookFields,
} from '../store/webhooks.js';
import type { VerificationRunner } from '../verification-runner.js';
import { apiKeyHeaderProblem, DEFAULT_API_KEY_HEADER, defaultStatusReason, eventTypesProblem, urlProblem } from '../webhook-rules.js';
import { parseIfMatch, refuseChange, requireWebhook, staleVersion } from './webhook-lookup.js';

interface ApiKeyInput {
  header?: string;
  value: string;
}

interface WebhookInput extends WebhookFields {
  apiKey?: ApiKeyInput | null;
  enabled?: boolean;
}

/** The list query as sent: one event type or pattern, which the route widens to the patterns that match it. */
type ListQuery = Omit<ListWebhooksQuery, 'eventTypePatterns'> & { eventType?: string };

const TAG = 'Webhooks';

export function webhookRoutes(deps: AdminApiDeps, verifications: VerificationRunner) {
  const { pool, box, catalog, config } = deps;

  /** The checks JSON Schema cannot make; each names its field. */
  const checkInput = (input: WebhookInput): void => {
    if (input.url !== undefined) {
      const problem = urlProblem(input.url, { allowPlainHttp: config.http.allowPlainHttp, guard: deps.guard });
      if (problem) throw invalidField('body', 'url', problem);
    }
    if (input.eventTypes !== undefined) {
      const problem = eventTypesProblem(input.eventTypes, catalog);
      if (problem) throw invalidField('body', `eventTypes.${problem.index}`, problem.message);
    }
    if (input.apiKey?.header !== undefined) {
      const problem = apiKeyHeaderProblem(input.apiKey.header);
      if (problem) throw invalidField('body', 'apiKey.header', problem);
    }
  };

  /** Subscriptions as stored: aliases under the catalog's names, each once. */
  const canonicalPatterns = (patterns: readonly string[]): string[] => [...new Set(patterns.map((pattern) => catalog.canonicalPattern(pattern)))];

  /** A key sent without its header (header null) keeps the webhook's on update (see updateWebhookRow). */
  const encryptApiKey = (webhookId: string, apiKey: ApiKeyInput) => ({ header: apiKey.header?.toLowerCase() ?? null, valueEnc: box.encrypt(apiKey.value, secretPlace.apiKey(webhookId)) });
  const verifyByChallenge = config.admin.verification === 'challenge';

  return async function register(app: FastifyInstance): Promise<void> {
    app.post<{ Body: WebhookInput }>('/webhooks', {
      schema: {
        tags: [TAG],
        operationId: 'createWebhook',
        summary: 'Create a webhook',
        description: 'The signing secret is returned in full only in this response. The webhook starts unverified: a challenge is sent to its URL, and it receives events once verified and enabled.',
        body: createWebhookBody,
        response: { 201: { description: 'Created', $ref: 'WebhookWithSecret#' }, ...problemResponses(...AUTHED_PROBLEMS, 413, 415) },
      },
    }, async (request, reply) => {
      const input = request.body;
      checkInput(input);
      const secret = generateSigningSecret();
      const id = randomUUID();
      const apiKey = input.apiKey ? encryptApiKey(id, input.apiKey) : null;
      const row = await insertWebhookRow(pool, {
        id,
        organization: request.principal.organization,
        owner: request.principal.subject,
        name: input.name!,
        description: input.description ?? '',
        url: input.url!,
        eventTypes: canonicalPatterns(input.eventTypes!),
        bodyFormat: input.bodyFormat ?? 'parallelworks',
        ordering: input.ordering ?? 'relaxed',
        enabled: input.enabled ?? true,
        verified: !verifyByChallenge,
        signingSecretEnc: box.encrypt(secret, secretPlace.signingSecret(id)),
        apiKey: apiKey ? { ...apiKey, header: apiKey.header ?? DEFAULT_API_KEY_HEADER } : null,
      });
      if (verifyByChallenge) verifications.start(row);
      request.log.info({ webhookId: row.id, organization: row.organization }, 'webhook created');
      return reply.code(201).header('location', `/v1/webhooks/${row.id}`).header('etag', `"${row.version}"`).send({ webhook: toView(row, box), secret });
    });

    app.get<{ Querystring: ListQuery }>('/webhooks', {
      schema: {
        tags: [TAG],
        operationId: 'listWebhooks',
        summary: 'List webhooks',
        description: 'Sorted by createdAt, name, url, owner or status, either direction; filtered by status, verification, event type and text; paged with a cursor.',
        querystring: listWebhooksQuery(config.admin.maxPageSize),
        response: { 200: { description: 'A page of webhooks', $ref: 'WebhookPage#' }, ...problemResponses(...AUTHED_PROBLEMS) },
      },
    }, async (request) => {
      const { eventType: named, ...query } = request.query;
      const eventType = named === undefined ? undefined : catalog.canonicalPattern(named);
      let eventTypePatterns: string[] | undefined;
      if (eventType !== undefined) {
        if (!catalog.isValidPattern(eventType)) throw invalidField('query', 'eventType', `"${eventType}" is not an event type or family wildcard of the catalog`);
        const family = catalog.familyOf(eventType);
        // An exact type: the webhooks that would receive it. A pattern: the webhooks that name it.
        eventTypePatterns = family ? [eventType, `${family}.*`, '*'] : [eventType];
      }
      const page = await listWebhookRows(pool, request.principal.organization, { ...query, eventTypePatterns });
      return { items: page.items.map((row) => toView(row, box)), nextCursor: page.nextCursor };
    });

    app.get<{ Params: { id: string } }>('/webhooks/:id', {
      schema: {
        tags: [TAG],
        operationId: 'getWebhook',
        summary: 'Get a webhook',
        params: idParam,
        response: { 200: { description: 'The webhook; ETag is its version', $ref: 'Webhook#' }, ...problemResponses(...AUTHED_PROBLEMS, 404) },
      },
    }, async (request, reply) => {
      const row = await requireWebhook(pool, request.principal.organization, request.params.id);
      return reply.header('etag', `"${row.version}"`).send(toView(row, box));
    });

    app.patch<{ Params: { id: string }; Body: WebhookInput; Headers: { 'if-match'?: string } }>('/webhooks/:id', {
      schema: {
        tags: [TAG],
        operationId: 'updateWebhook',
        summary: 'Update some fields of a webhook',
        description: 'Only the fields sent change, so concurrent updates of different fields both take effect. Send If-Match with the ETag to refuse the update if anything changed since you read it. A new URL must be verified again. `enabled` enables or disables the webhook as POST …/enable and …/disable do (without a reason of your own: use those to give one); sent with the value it has, it changes nothing of its status or reason.',
        params: idParam,
        body: updateWebhookBody,
        response: { 200: { description: 'The updated webhook', $ref: 'Webhook#' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 412, 413, 415) },
      },
    }, async (request, reply) => {
      const input = request.body;
      checkInput(input);
      const expectedVersion = parseIfMatch(request.headers['if-match']);
      const organization = request.principal.organization;
      const changes: WebhookChanges = {
        name: input.name,
        description: input.description,
        url: input.url,
        eventTypes: input.eventTypes && canonicalPatterns(input.eventTypes),
        bodyFormat: input.bodyFormat,
        ordering: input.ordering,
        apiKey: input.apiKey === undefined ? undefined : input.apiKey === null ? null : encryptApiKey(request.params.id, input.apiKey),
        verifyChangedUrl: verifyByChallenge,
        status: input.enabled === undefined ? undefined : { enabled: input.enabled, reason: defaultStatusReason(input.enabled, request.principal.subject) },
      };
      const result = await updateWebhookRow(pool, request.principal.subject, organization, request.params.id, changes, expectedVersion);
      if (result.kind === 'not-found') throw notFound('webhook');
      if (result.kind === 'api-key-needed') {
        throw invalidField('body', 'apiKey', 'this webhook sends an API key: a new url needs the key sent again (apiKey), or apiKey: null to drop it, so the key never goes to a URL it was not given for');
      }
      if (result.kind === 'version-mismatch') throw staleVersion(result.current, expectedVersion);
      if (result.urlChanged && verifyByChallenge) verifications.start(result.row);
      return reply.header('etag', `"${result.row.version}"`).send(toView(result.row, box));
    });

    app.delete<{ Params: { id: string }; Headers: { 'if-match'?: string } }>('/webhooks/:id', {
      schema: {
        tags: [TAG],
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook',
        description: 'Send If-Match with the ETag to delete it only if nothing changed since you read it.',
        params: idParam,
        response: { 204: { description: 'Deleted', type: 'null' }, ...problemResponses(...AUTHED_PROBLEMS, 404, 412) },
      },
    }, async (request, reply) => {
      const { organization, subject } = request.principal;
      const expectedVersion = parseIfMatch(request.headers['if-match']);
      if (!(await deleteWebhook(pool, subject, organization, request.params.id, expectedVersion))) await refuseChange(pool, organization, request.params.id, expectedVersion);
      return reply.code(204).send();
    });

    app.post<{ Body: { ids: string[] } }>('/webhooks/bulk-delete', {
      schema: {
        tags: [TAG],
        operationId: 'bulkDeleteWebhooks',
        summary: 'Delete several webhooks',
        description: 'Ids that are not webhooks of your organization are listed in notFound; the others are deleted.',
        body: bulkDeleteBody,
        response: {
          200: {
            description: 'What was deleted',
            type: 'object',
            required: ['deleted', 'notFound'],
            properties: { deleted: { type: 'array', items: { type: 'string' } }, notFound: { type: 'array', items: { type: 'string' } } },
          },
          ...problemResponses(...AUTHED_PROBLEMS, 413, 415),
        },
      },
    }, async (request) => {
      const ids = request.body.ids.map((id) => id.toLowerCase());
      const deleted = await deleteWebhooks(pool, request.principal.subject, request.principal.organization, ids);
      const gone = new Set(deleted);
      return { deleted, notFound: ids.filter((id) => !gone.has(id)) };
    });
  };
}
