import AjvCompiler from '@fastify/ajv-compiler';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { adminRequestDuration, adminRequests, metricsRegistry } from '../connector/observability/metrics.js';
import { bearerToken } from './auth/tokens.js';
import type { AdminApiDeps } from './context.js';
import { ApiProblem, sendProblem, toProblem } from './problem.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { eventTypeRoutes } from './routes/event-types.js';
import { healthRoutes, type ReadinessChecks } from './routes/health.js';
import { webhookActionRoutes } from './routes/webhook-actions.js';
import { webhookRoutes } from './routes/webhooks.js';
import { sharedSchemas } from './schemas.js';
import { authenticateToken } from './store/tokens.js';
import { createVerificationRunner, type VerificationRunner } from './verification-runner.js';

export const API_VERSION = '0.1.0';
const BODY_LIMIT_BYTES = 256 * 1024;

/** A route template (`/v1/webhooks/:id`, `/docs/*`): the paths it takes, how specific it is, its methods. */
export interface RouteTemplate {
  url: string;
  pattern: RegExp;
  /** Static segments count 2, parameters 1, a wildcard 0: /v1/webhooks/bulk-delete beats /v1/webhooks/:id. */
  specificity: number;
  methods: Set<string>;
}

export function routeTemplate(url: string): RouteTemplate {
  const segments = url.split('/');
  const source = segments
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  const specificity = segments.reduce((sum, segment) => sum + (segment.startsWith(':') ? 1 : segment === '*' ? 0 : 2), 0);
  return { url, pattern: new RegExp(`^${source}$`), specificity, methods: new Set() };
}

/** The most specific template that takes this path, as the router picks it. */
export function templateOf(templates: Iterable<RouteTemplate>, path: string): RouteTemplate | undefined {
  let best: RouteTemplate | undefined;
  for (const template of templates) if (template.pattern.test(path) && (!best || template.specificity > best.specificity)) best = template;
  return best;
}

/**
 * Validators as Fastify builds them, except that a JSON body is taken as
 * sent: `{"reason": false}` is not the string "false", nor `false` a missing
 * body. Query strings and paths are text, so there types are still coerced
 * (`limit=5` is a number).
 */
function bodyWithoutCoercion(): AjvCompiler.BuildCompilerFromPool {
  const pool = AjvCompiler();
  // Fastify calls a compiler with the route ({ schema, method, url, httpPart }), not with the schema alone as its type says.
  type RouteCompiler = (route: { httpPart?: string }) => unknown;
  const build = (...[externalSchemas, options = {}]: Parameters<AjvCompiler.BuildCompilerFromPool>): RouteCompiler => {
    const coercing = pool(externalSchemas, options) as unknown as RouteCompiler;
    const exact = pool(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } } as typeof options) as unknown as RouteCompiler;
    return (route) => (route.httpPart === 'body' ? exact : coercing)(route);
  };
  return build as unknown as AjvCompiler.BuildCompilerFromPool;
}

type OpenApiOperation = { requestBody?: { required?: boolean; content?: Record<string, { schema?: { type?: unknown } }> } };

/** requestBody.required is false where the JSON body's schema allows null: such a request may come without a body. */
function optionalNullableBodies<T extends { paths?: object }>(document: T): T {
  for (const operations of Object.values(document.paths ?? {}) as Array<Record<string, OpenApiOperation>>) {
    for (const operation of Object.values(operations)) {
      const type = operation.requestBody?.content?.['application/json']?.schema?.type;
      if (operation.requestBody && Array.isArray(type) && type.includes('null')) operation.requestBody.required = false;
    }
  }
  return document;
}

/** A route as registered: what the OpenAPI document must describe unless hidden. */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** Left out of the OpenAPI document on purpose (the document itself, the /docs page). */
  hidden: boolean;
  /** The status codes its schema declares responses for. */
  responses: string[];
}

export interface AdminApp {
  app: FastifyInstance;
  verifications: VerificationRunner;
  /** Every route of the app, HEAD routes included. */
  routes: readonly RegisteredRoute[];
}

/**
 * The admin API as a Fastify app, built from explicit dependencies so tests
 * run the very same app against real Postgres and Kafka.
 */
export async function buildAdminApp(deps: AdminApiDeps, readiness: ReadinessChecks): Promise<AdminApp> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Requests are logged once, by our onResponse hook, with the route template and no headers.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Unknown fields are refused by name, not dropped silently.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
    schemaController: { compilersFactory: { buildValidator: bodyWithoutCoercion() } },
    return503OnClosing: true,
    // The router's own refusals (a malformed or overlong path) are problems like every other error.
    frameworkErrors: (error, request, reply) => void sendProblem(reply, request, toProblem(error)),
  });
  const verifications = createVerificationRunner({ pool: deps.pool, verifier: deps.verifier, log: deps.log.child({ component: 'verification' }) });

  for (const schema of sharedSchemas) app.addSchema(schema);
  // Bodies are JSON only; anything else is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  // The methods of each route template, so a known path asked with another method is a 405 naming the allowed ones, not a 404.
  const templates = new Map<string, RouteTemplate>();
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const template = templates.get(route.url) ?? routeTemplate(route.url);
    for (const method of [route.method].flat()) {
      template.methods.add(method);
      routes.push({ method, url: route.url, hidden: route.schema?.hide === true, responses: Object.keys((route.schema?.response ?? {}) as object) });
    }
    templates.set(route.url, template);
  });
  const methodNotAllowed = (request: FastifyRequest, path: string, template: RouteTemplate): ApiProblem => {
    const allow = [...template.methods].sort().join(', ');
    return new ApiProblem('method-not-allowed', `${request.method} is not allowed on ${path}; allowed: ${allow}`, undefined, { allow });
  };
  const noRoute = (request: FastifyRequest): ApiProblem => {
    const path = request.url.split('?')[0]!;
    const template = templateOf(templates.values(), path);
    return template ? methodNotAllowed(request, path, template) : new ApiProblem('not-found', `no route ${request.method} ${path}`);
  };
  // The router falls back to a parametric route for a method the static one lacks (PATCH /v1/webhooks/bulk-delete
  // would reach PATCH /v1/webhooks/:id); the path is the static route's, so that is a 405 too.
  app.addHook('onRequest', async (request) => {
    const matched = request.routeOptions.url;
    if (request.is404 || matched === undefined || !/[:*]/.test(matched)) return;
    const path = request.url.split('?')[0]!;
    const template = templateOf(templates.values(), path);
    if (template && template.url !== matched) throw methodNotAllowed(request, path, template);
  });

  app.setErrorHandler((error, request, reply) => {
    // A request no route takes can fail before the not-found handler (its body could not be parsed): still a 404 or 405.
    if (request.is404) return sendProblem(reply, request, noRoute(request));
    const problem = toProblem(error);
    if (problem.status >= 500) request.log.error({ err: error, route: request.routeOptions.url }, 'admin API request failed');
    return sendProblem(reply, request, problem);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, noRoute(request)));

  // Route templates, never raw URLs, label the metrics: ids would grow without bound.
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const statusClass = `${Math.floor(reply.statusCode / 100)}xx`;
    adminRequests.inc({ route, method: request.method, status_class: statusClass });
    adminRequestDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
    request.log.debug({ route, method: request.method, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'admin API request');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'identity-webhooks admin API',
        version: API_VERSION,
        description: 'Manage the webhooks of your organization: subscriptions to identity events, their verification, status, secrets and delivery log. Every error is RFC 9457 problem+json.',
      },
      components: { securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer', description: 'A token scoped to one organization (create one with `npm run admin-api -- tokens create`).' } } },
      tags: [
        { name: 'Webhooks', description: 'Create, list, read, change and delete webhooks.' },
        { name: 'Webhook actions', description: 'Enable, disable, verify, rotate the secret, send a test event.' },
        { name: 'Deliveries', description: 'The delivery log; redeliver and recover.' },
        { name: 'Event types', description: 'The catalog of identity events.' },
        { name: 'Operations', description: 'Health, readiness and metrics.' },
      ],
    },
    // Fastify takes a request without a body where the body schema allows null (enable, disable, test); so must the document.
    transformObject: (document) => ('openapiObject' in document ? optionalNullableBodies(document.openapiObject) : document.swaggerObject),
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json['$id'] ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes(readiness, metricsRegistry));

  await app.register(async (v1) => {
    v1.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: [{ bearerToken: [] }] };
    });
    v1.addHook('onRequest', async (request) => {
      const token = bearerToken(request.headers.authorization);
      const principal = token ? await authenticateToken(deps.pool, token) : null;
      if (!principal) {
        throw new ApiProblem('unauthorized', token ? 'the token is unknown or revoked' : 'send Authorization: Bearer <token>', undefined, { 'www-authenticate': 'Bearer' });
      }
      request.principal = principal;
    });
    await v1.register(rateLimit, {
      max: deps.config.admin.rateLimitPerMinute,
      timeWindow: 60_000,
      hook: 'preHandler',
      keyGenerator: (request) => request.principal.tokenId,
      errorResponseBuilder: (_request, context) =>
        new ApiProblem('rate-limited', `this token may make ${context.max} requests a minute; retry in ${context.after}`, undefined, { 'retry-after': String(Math.ceil(context.ttl / 1000)) }),
    });
    await v1.register(webhookRoutes(deps, verifications));
    await v1.register(webhookActionRoutes(deps, verifications));
    await v1.register(deliveryRoutes(deps));
    await v1.register(eventTypeRoutes(deps.catalog));
  }, { prefix: '/v1' });

  app.decorateRequest('principal', null as never);
  return { app, verifications, routes };
}
