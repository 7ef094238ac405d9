import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PATTERN_MESSAGES } from './patterns.js';
import { unavailableDependency } from './unavailable.js';

/**
 * RFC 9457 problem details. Every error the admin API answers is one of
 * these, with a stable `type` clients can switch on; validation problems
 * also name each offending field and why.
 */
export interface FieldProblem {
  /** Where the field is: body, query, path or header. */
  in: 'body' | 'query' | 'path' | 'header';
  /** Dotted path of the field, e.g. `eventTypes.2` or `url`. */
  field: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldProblem[];
}

const TYPE_PREFIX = 'urn:identity-webhooks:problem:';

/** The stable problem types, their status and title. */
export const PROBLEM_TYPES = {
  'validation-failed': { status: 400, title: 'The request is not valid' },
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'The resource is not in a state that allows this' },
  'precondition-failed': { status: 412, title: 'The resource changed since you read it' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'The request body must be JSON' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A dependency is unavailable' },
} as const;

export type ProblemType = keyof typeof PROBLEM_TYPES;

export const problemTypeUri = (type: ProblemType): string => TYPE_PREFIX + type;

export class ApiProblem extends Error {
  readonly status: number;
  constructor(
    readonly type: ProblemType,
    readonly detail?: string,
    readonly errors?: FieldProblem[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? PROBLEM_TYPES[type].title);
    this.name = 'ApiProblem';
    this.status = PROBLEM_TYPES[type].status;
  }

  body(instance?: string): ProblemBody {
    const body: ProblemBody = { type: problemTypeUri(this.type), title: PROBLEM_TYPES[this.type].title, status: this.status };
    if (this.detail !== undefined) body.detail = this.detail;
    if (instance !== undefined) body.instance = instance;
    if (this.errors) body.errors = this.errors;
    return body;
  }
}

export const notFound = (what: string): ApiProblem => new ApiProblem('not-found', `${what} does not exist`);

export const invalidField = (location: FieldProblem['in'], field: string, message: string): ApiProblem =>
  new ApiProblem('validation-failed', `${field}: ${message}`, [{ in: location, field, message }]);

const LOCATION: Record<string, FieldProblem['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

interface AjvIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** Ajv's issue as "the field and why", in words an API user reads. */
export function fieldProblem(issue: AjvIssue, context: string | undefined): FieldProblem {
  const base = issue.instancePath.replace(/^\//, '').split('/').filter((p) => p !== '').join('.');
  const child = (name: unknown): string => (base ? `${base}.${String(name)}` : String(name));
  const location = LOCATION[context ?? 'body'] ?? 'body';
  switch (issue.keyword) {
    case 'required':
      return { in: location, field: child(issue.params['missingProperty']), message: 'is required' };
    case 'additionalProperties':
      return { in: location, field: child(issue.params['additionalProperty']), message: 'is not a known field' };
    case 'enum':
      return { in: location, field: base || '(root)', message: `must be one of: ${(issue.params['allowedValues'] as unknown[]).join(', ')}` };
    case 'pattern':
      return { in: location, field: base || '(root)', message: PATTERN_MESSAGES[String(issue.params['pattern'])] ?? issue.message ?? 'is not valid' };
    default:
      return { in: location, field: base || (location === 'body' ? '(body)' : '(root)'), message: issue.message ?? 'is not valid' };
  }
}

/** Turns whatever was thrown into a problem: our own, Fastify's validation and parsing errors, or an internal error. */
export function toProblem(error: unknown, method = 'GET'): ApiProblem {
  if (error instanceof ApiProblem) return error;
  const fastifyError = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const errors = fastifyError.validation.map((issue) => fieldProblem(issue, fastifyError.validationContext));
    return new ApiProblem('validation-failed', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiProblem('unsupported-media-type', 'send the body as application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiProblem('payload-too-large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiProblem('validation-failed', 'the body is empty; send a JSON object', [{ in: 'body', field: '(body)', message: 'is empty' }]);
    case 'FST_ERR_BAD_URL':
      return new ApiProblem('validation-failed', 'the path is not a valid URL path (bad percent-encoding)', [{ in: 'path', field: '(path)', message: 'is not a valid URL path' }]);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiProblem('validation-failed', 'a path parameter is too long', [{ in: 'path', field: '(path)', message: 'has a parameter longer than any id' }]);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiProblem('validation-failed', 'the body is not valid JSON', [{ in: 'body', field: '(body)', message: 'is not valid JSON' }]);
    default:
      break;
  }
  const status = fastifyError.statusCode;
  // Other client errors Fastify raises itself (a malformed body, a bad header): keep their message, never a 500.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ApiProblem('validation-failed', fastifyError.message, [{ in: 'body', field: '(body)', message: fastifyError.message }]);
  }
  const dependency = unavailableDependency(error);
  if (dependency) {
    // A query not answered in time, or a connection lost mid-request, may have committed all the same: a client
    // retrying a change blindly could make it twice (a second webhook) or undo one made meanwhile.
    const changing = !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
    const detail = `${dependency === 'postgres' ? 'Postgres' : 'Kafka'} is out of reach; try again shortly${changing ? '. The change may have been made before the failure: read it back before sending it again' : ''}`;
    return new ApiProblem('unavailable', detail, undefined, { 'retry-after': '5' });
  }
  return new ApiProblem('internal', 'the server failed to answer this request; it has been logged');
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, problem: ApiProblem): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type('application/problem+json')
    .send(problem.body(request.url.split('?')[0]));
}
