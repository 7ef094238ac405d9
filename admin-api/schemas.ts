/**
 * JSON Schemas of the admin API. One schema drives request validation,
 * response serialization (fields not listed here never leave the process,
 * which is one more guard against leaking secrets) and the OpenAPI document.
 */
import { CURSOR, HEADER_NAME, HEADER_VALUE, NO_NUL, QUERYABLE_DATE_TIME, UUID } from './patterns.js';
import { PROBLEM_TYPES, problemTypeUri, type ProblemType } from './problem.js';
import { BODY_FORMATS } from '../connector/subscriptions/webhook.js';
import { DEFAULT_API_KEY_HEADER } from './webhook-rules.js';

const nullable = (schema: Record<string, unknown>): Record<string, unknown> => ({ ...schema, type: [schema['type'] as string, 'null'] });
const dateTime = { type: 'string', format: 'date-time' } as const;

/** A date-time the API queries with: refused with a 400 naming the field if Postgres could not take it. */
const dateTimeInput = { ...dateTime, pattern: QUERYABLE_DATE_TIME } as const;

export { BODY_FORMATS };
export const ORDERING_MODES = ['relaxed', 'strict'] as const;
export const WEBHOOK_SORTS = ['createdAt', 'name', 'url', 'owner', 'status'] as const;
export const ATTEMPT_STATUSES = ['delivered', 'retry', 'dead_letter', 'disabled', 'skipped'] as const;

export const idParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid', pattern: UUID, description: 'The webhook id.' } },
  additionalProperties: false,
} as const;

const eventTypePattern = {
  type: 'string',
  minLength: 1,
  maxLength: 100,
  pattern: NO_NUL,
  description: 'An event type of the catalog (USER_CREATED), a family wildcard (user.*) or * for every event.',
} as const;

const headerField = { type: 'string', minLength: 1, maxLength: 100, pattern: HEADER_NAME, description: 'The request header the key is sent in.' } as const;

const apiKeyInput = {
  type: 'object',
  required: ['value'],
  additionalProperties: false,
  description: 'Sent with every request in the named header so the receiver can tell the request is ours (seeds 002, 003). Encrypted at rest; shown masked afterwards.',
  properties: {
    header: { ...headerField, default: DEFAULT_API_KEY_HEADER },
    value: { type: 'string', minLength: 1, maxLength: 4096, pattern: HEADER_VALUE, description: 'Printable ASCII without spaces at either end: it is sent as a header value.' },
  },
} as const;

const webhookFields = {
  name: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_NUL, description: 'Shown to admins; identifies the webhook.', examples: ['CRM sync'] },
  description: { type: 'string', maxLength: 2000, pattern: NO_NUL, examples: ['New users into the CRM'] },
  url: { type: 'string', minLength: 1, maxLength: 2048, pattern: NO_NUL, description: 'Where events are POSTed. HTTPS unless the deployment allows plain HTTP.', examples: ['https://crm.example.com/hooks/identity'] },
  eventTypes: { type: 'array', minItems: 1, maxItems: 200, uniqueItems: true, items: eventTypePattern, examples: [['USER_CREATED', 'USER_DISABLED', 'group.*']] },
  bodyFormat: { type: 'string', enum: BODY_FORMATS, description: 'parallelworks ({type, webhook, payload}, as Parallel Works sends), cidaas ({event_time, event_type, current_context, data}, as cidaas sends) or cloudevents (CloudEvents 1.0 structured JSON).' },
  ordering: { type: 'string', enum: ORDERING_MODES, description: 'relaxed: a failing event is retried while later ones go on; strict: later events wait for it.' },
} as const;

export const createWebhookBody = {
  type: 'object',
  required: ['name', 'url', 'eventTypes'],
  additionalProperties: false,
  properties: {
    ...webhookFields,
    apiKey: apiKeyInput,
    enabled: { type: 'boolean', default: true, description: 'Whether the webhook receives events once verified.' },
  },
} as const;

export const updateWebhookBody = {
  type: 'object',
  minProperties: 1,
  additionalProperties: false,
  properties: {
    ...webhookFields,
    // No default header here: a new value alone keeps the header the webhook has.
    apiKey: {
      ...apiKeyInput,
      type: ['object', 'null'],
      description: `${apiKeyInput.description} null removes it; a value without a header keeps the header the webhook has.`,
      properties: { ...apiKeyInput.properties, header: headerField },
    },
    enabled: { type: 'boolean', description: 'Enables or disables the webhook, as POST /v1/webhooks/{id}/enable and /disable do; sent with the value it has, nothing of its status changes.' },
  },
} as const;

export const statusChangeBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    reason: { type: 'string', minLength: 1, maxLength: 500, pattern: NO_NUL, description: 'Why the status changed; kept and shown with the webhook as statusReason.' },
  },
} as const;

export const rotateSecretBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    force: {
      type: 'boolean',
      description: 'Rotate even while an earlier rotation\'s overlap is open: the secret that rotation replaced stops signing at once, and the one it made becomes the previous secret. Without it such a rotation is a 409.',
    },
  },
} as const;

export const bulkDeleteBody = {
  type: 'object',
  required: ['ids'],
  additionalProperties: false,
  properties: { ids: { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: { type: 'string', format: 'uuid', pattern: UUID } } },
} as const;

export const testEventBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { eventType: { type: 'string', minLength: 1, maxLength: 100, pattern: NO_NUL, description: 'A catalog event type; defaults to one the webhook subscribes to.' } },
} as const;

export const recoverBody = {
  type: 'object',
  required: ['since'],
  additionalProperties: false,
  properties: {
    since: { ...dateTimeInput, description: 'Recover deliveries that failed at or after this time.' },
    until: { ...dateTimeInput, description: 'And before this time (default: now).' },
    afterTaskId: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: 'Carrying a walk on: the afterTaskId of the answer before, with its nextSince as since and its until.' },
  },
} as const;

export function listWebhooksQuery(maxPageSize: number) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: maxPageSize, default: 50 },
      cursor: { type: 'string', minLength: 1, maxLength: 1000, pattern: CURSOR, description: 'nextCursor of the previous page; the other parameters must stay the same.' },
      sort: { type: 'string', enum: WEBHOOK_SORTS, default: 'createdAt' },
      order: { type: 'string', enum: ['asc', 'desc'], default: 'desc' },
      status: { type: 'string', enum: ['active', 'inactive'] },
      verification: { type: 'string', enum: ['pending', 'verified', 'failed'] },
      eventType: { ...eventTypePattern, description: 'Webhooks that receive this event type (an exact type), or that name this pattern.' },
      q: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_NUL, description: 'Text in the name, description or URL (case-insensitive).' },
    },
  } as const;
}

export function listAttemptsQuery(maxPageSize: number) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: maxPageSize, default: 50 },
      cursor: { type: 'string', minLength: 1, maxLength: 1000, pattern: CURSOR },
      status: { type: 'string', enum: ATTEMPT_STATUSES, description: 'What the attempt led to.' },
      eventType: { type: 'string', minLength: 1, maxLength: 100, pattern: NO_NUL },
      since: { ...dateTimeInput, description: 'Attempts at or after this time.' },
      until: { ...dateTimeInput, description: 'Attempts before this time.' },
    },
  } as const;
}

export const attemptParams = {
  type: 'object',
  required: ['id', 'attemptId'],
  additionalProperties: false,
  properties: { id: idParam.properties.id, attemptId: { type: 'string', format: 'uuid', pattern: UUID, description: 'The attempt id.' } },
} as const;

export const webhookSchema = {
  $id: 'Webhook',
  type: 'object',
  required: ['id', 'organization', 'name', 'description', 'url', 'eventTypes', 'enabled', 'status', 'statusReason', 'statusChangedAt', 'verification', 'receivingEvents', 'bodyFormat', 'ordering', 'signingSecret', 'apiKey', 'owner', 'createdAt', 'updatedAt', 'version'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    organization: { type: 'string' },
    ...webhookFields,
    enabled: { type: 'boolean' },
    status: { type: 'string', enum: ['active', 'inactive'], description: 'active when enabled, inactive when disabled by an admin or by the connector (statusReason says why).' },
    statusReason: { ...nullable({ type: 'string' }), description: 'Why the status last changed: an admin\'s reason, or the connector\'s (410 Gone, failing for days).' },
    statusChangedAt: nullable(dateTime),
    verification: {
      type: 'object',
      required: ['status', 'verifiedAt', 'attemptedAt', 'error'],
      properties: {
        status: { type: 'string', enum: ['pending', 'verified', 'failed'] },
        verifiedAt: nullable(dateTime),
        attemptedAt: nullable(dateTime),
        error: { ...nullable({ type: 'string' }), description: 'Why the last challenge failed.' },
      },
    },
    receivingEvents: { type: 'boolean', description: 'Enabled and verified: events are sent only then.' },
    signingSecret: {
      type: 'object',
      required: ['masked', 'previousValidUntil'],
      properties: {
        masked: { type: 'string', description: 'The secret\'s prefix and last characters only.' },
        previousValidUntil: { ...nullable(dateTime), description: 'During a rotation, the previous secret signs too until then.' },
      },
    },
    apiKey: {
      type: ['object', 'null'],
      required: ['header', 'masked'],
      properties: { header: { type: 'string' }, masked: { type: 'string' } },
    },
    owner: { type: 'string', description: 'Subject of the token that created it.' },
    createdAt: dateTime,
    updatedAt: dateTime,
    version: { type: 'integer', description: 'Increases with every change; also the ETag, for If-Match.' },
  },
} as const;

export const webhookWithSecretSchema = {
  $id: 'WebhookWithSecret',
  type: 'object',
  required: ['webhook', 'secret'],
  properties: {
    webhook: { $ref: 'Webhook#' },
    secret: { type: 'string', description: 'The signing secret (whsec_...), shown only in this response: store it now.' },
  },
} as const;

export const webhookPageSchema = {
  $id: 'WebhookPage',
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: { $ref: 'Webhook#' } }, nextCursor: nullable({ type: 'string' }) },
} as const;

const attemptProperties = {
  id: { type: 'string', format: 'uuid' },
  webhookId: { type: 'string', format: 'uuid' },
  taskId: { type: 'string', description: 'The webhook-id header: the same for every attempt of one event to this webhook.' },
  eventId: { type: 'string' },
  eventType: { type: 'string' },
  attempt: { type: 'integer' },
  status: { type: 'string', enum: ATTEMPT_STATUSES },
  responseStatus: nullable({ type: 'integer' }),
  errorCode: nullable({ type: 'string' }),
  errorMessage: nullable({ type: 'string' }),
  durationMs: nullable({ type: 'integer' }),
  nextRetryAt: nullable(dateTime),
  attemptedAt: dateTime,
} as const;

export const attemptSummarySchema = {
  $id: 'DeliveryAttemptSummary',
  type: 'object',
  required: Object.keys(attemptProperties),
  properties: attemptProperties,
} as const;

export const attemptSchema = {
  $id: 'DeliveryAttempt',
  type: 'object',
  required: [...Object.keys(attemptProperties), 'request', 'response'],
  properties: {
    ...attemptProperties,
    request: {
      type: 'object',
      required: ['headers', 'body'],
      properties: {
        headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Without the signature and the API key.' },
        body: nullable({ type: 'string' }),
      },
    },
    response: {
      type: 'object',
      required: ['status', 'body'],
      properties: { status: nullable({ type: 'integer' }), body: { ...nullable({ type: 'string' }), description: 'Up to the first 64 KiB.' } },
    },
  },
} as const;

export const attemptPageSchema = {
  $id: 'DeliveryAttemptPage',
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: { $ref: 'DeliveryAttemptSummary#' } }, nextCursor: nullable({ type: 'string' }) },
} as const;

export const queuedSchema = {
  $id: 'Queued',
  type: 'object',
  required: ['queued', 'taskIds'],
  properties: {
    queued: { type: 'integer', description: 'Delivery tasks produced to Kafka; the deliverers send them.' },
    taskIds: { type: 'array', items: { type: 'string' } },
    eventId: { type: 'string' },
    eventType: { type: 'string' },
    more: { type: 'boolean', description: 'Recovery only: more failed events are left than one request queues (ADMIN_MAX_RECOVER_EVENTS).' },
    nextSince: { type: 'string', format: 'date-time', description: 'With `more`: the `since` of the request that carries on.' },
    afterTaskId: { type: 'string', description: 'With `more`: the `afterTaskId` of the request that carries on (the last task queued).' },
    until: { type: 'string', format: 'date-time', description: 'With `more`: the `until` of the request that carries on, this walk\'s end, fixed by its first request.' },
  },
} as const;

export const eventTypesSchema = {
  $id: 'EventTypes',
  type: 'object',
  required: ['families', 'groups', 'eventTypes'],
  properties: {
    families: { type: 'array', items: { type: 'object', required: ['name', 'description', 'wildcard'], properties: { name: { type: 'string' }, description: { type: 'string' }, wildcard: { type: 'string' } } } },
    groups: {
      type: 'array',
      description: 'Notification groups a console offers as checkboxes (Users, Invites, Groups, Roles, API Keys, State changes). A group is not a pattern: a console subscribes to one by listing its eventTypes, and shows it checked when a webhook has them all.',
      items: {
        type: 'object',
        required: ['name', 'label', 'description', 'eventTypes'],
        properties: { name: { type: 'string' }, label: { type: 'string' }, description: { type: 'string' }, eventTypes: { type: 'array', items: { type: 'string' } } },
      },
    },
    eventTypes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'family', 'description'],
        properties: {
          type: { type: 'string' },
          family: { type: 'string' },
          description: { type: 'string' },
          group: { type: 'string', description: 'The notification group it belongs to, if any (see groups).' },
          aliases: { type: 'array', items: { type: 'string' }, description: 'Other products\' names for the same event (cidaas: GROUP_USER_REMOVED); a subscription may use them, and stores the type.' },
          note: { type: 'string', description: 'What to know before subscribing, e.g. a type a product lists but does not send yet.' },
        },
      },
    },
  },
} as const;

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status'],
  description: 'RFC 9457 problem details.',
  properties: {
    type: { type: 'string', enum: Object.keys(PROBLEM_TYPES).map((t) => problemTypeUri(t as ProblemType)) },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['in', 'field', 'message'],
        properties: { in: { type: 'string', enum: ['body', 'query', 'path', 'header'] }, field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;

export const sharedSchemas = [webhookSchema, webhookWithSecretSchema, webhookPageSchema, attemptSummarySchema, attemptSchema, attemptPageSchema, queuedSchema, eventTypesSchema, problemSchema];

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid; `errors` names each field and why.',
  401: 'No valid bearer token.',
  404: 'No such resource in your organization.',
  409: 'The webhook is not in a state that allows this (disabled or unverified; a rotation\'s overlap still open; an attempt logged before events were kept); or the Idempotency-Key was sent with another request, or its first request is under way.',
  412: 'If-Match does not match the current version.',
  413: 'The request body is too large.',
  415: 'The request body is not JSON.',
  429: 'A rate limit was reached: this token\'s requests, failed logins from this address, or the organization\'s verification checks; see Retry-After.',
  500: 'Internal error.',
  503: 'Postgres or Kafka is out of reach; the same request may succeed later (see Retry-After). A change may have been made before the failure: read it back before sending it again.',
};

/** Response entries for the given problem statuses, as problem+json. */
export function problemResponses(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: PROBLEM_DESCRIPTIONS[status] ?? 'Problem',
    content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
  }]));
}

/** Problems every authenticated route can answer (503: Postgres or Kafka out of reach). */
export const AUTHED_PROBLEMS = [400, 401, 429, 500, 503] as const;
