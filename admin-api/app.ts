import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { adminRequestDuration, adminRequests, metricsRegistry } from '../connector/observability/metrics.js';
import { bearerToken, hashToken } from './auth/tokens.js';
import { idempotencyKeys } from './http/idempotency.js';
import { openApiOptions } from './http/openapi.js';
import { routeTemplate, templateOf, type RouteTemplate } from './http/route-templates.js';
import { bodyWithoutCoercion } from './http/validators.js';
import type { AdminApiDeps } from './context.js';
import { ApiProblem, sendProblem, toProblem } from './problem.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { eventTypeRoutes } from './routes/event-types.js';
import { healthRoutes, type ReadinessChecks } from './routes/health.js';
import { webhookActionRoutes } from './routes/webhook-actions.js';
import { webhookRoutes } from './routes/webhooks.js';
import { postgresRateLimitStore } from './rate-limit-store.js';
import { sharedSchemas } from './schemas.js';
import { authenticateToken } from './store/tokens.js';
import { createFailedAuthLimiter } from './auth/failed-auth-limiter.js';
import { createVerificationSweep } from './verification-sweep.js';
import { createVerificationRunner, type VerificationRunner } from './verification-runner.js';

const BODY_LIMIT_BYTES = 256 * 1024;

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
    frameworkErrors: (error, request, reply) => void sendProblem(reply, request, toProblem(error, request.method)),
  });
  const verifications = createVerificationRunner({ pool: deps.pool, verifier: deps.verifier, log: deps.log.child({ component: 'verification' }) });
  if (deps.config.admin.verification === 'challenge') {
    // Webhooks left pending by an admin API that stopped before challenging them; stopped before the runner drains.
    const sweep = createVerificationSweep({ pool: deps.pool, runner: verifications, log: deps.log.child({ component: 'verification' }) });
    app.addHook('onReady', async () => sweep.start());
    app.addHook('onClose', async () => sweep.stop());
  }

  for (const schema of sharedSchemas) app.addSchema(schema);
  // Bodies are JSON only; anything else is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  // An empty body labelled JSON (clients that set the header on every request) is no body: an action that takes none
  // (rotate-secret, verify, enable, disable, test, DELETE) runs, and a route that needs one names the missing body.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '') return done(null, undefined);
    json(request, text, done);
  });

  // The methods of each route template, so a known path asked with another method is a 405 naming the allowed ones, not a 404.
  const templates = new Map<string, RouteTemplate>();
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const template = templates.get(route.url) ?? routeTemplate(route.url);
    for (const method of [route.method].flat()) {
      template.methods.add(method);
      // Read when asked: onRoute hooks of inner scopes (Idempotency-Key's 409) add responses after this one runs.
      routes.push({ method, url: route.url, hidden: route.schema?.hide === true, get responses() { return Object.keys((route.schema?.response ?? {}) as object); } });
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
    const problem = toProblem(error, request.method);
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

  await app.register(swagger, openApiOptions);
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes(readiness, metricsRegistry));

  const failedAuth = createFailedAuthLimiter({ maxPerWindow: deps.config.admin.authFailuresPerMinute, windowMs: 60_000 });
  await app.register(async (v1) => {
    v1.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: [{ bearerToken: [] }] };
    });
    v1.addHook('onRequest', async (request) => {
      const token = bearerToken(request.headers.authorization);
      const tokenHash = token ? hashToken(token) : undefined;
      const tokenKey = tokenHash?.toString('base64');
      const wait = failedAuth.retryAfterMs(request.ip, tokenKey);
      if (wait > 0) {
        throw new ApiProblem('rate-limited', 'too many requests without a valid token from this address; retry later', undefined, { 'retry-after': String(Math.ceil(wait / 1000)) });
      }
      const principal = tokenHash ? await authenticateToken(deps.pool, tokenHash) : null;
      if (!principal) {
        failedAuth.failed(request.ip, tokenKey);
        throw new ApiProblem('unauthorized', token ? 'the token is unknown, expired or revoked' : 'send Authorization: Bearer <token>', undefined, { 'www-authenticate': 'Bearer' });
      }
      failedAuth.succeeded(tokenKey!);
      request.principal = principal;
    });
    await v1.register(rateLimit, {
      max: deps.config.admin.rateLimitPerMinute,
      timeWindow: 60_000,
      // One count per token for every admin API process; while Postgres cannot count, requests are not limited
      // (the routes themselves need it, and answer as they can).
      store: postgresRateLimitStore(deps.pool, deps.log, 60_000),
      skipOnError: true,
      // Before validation, so requests refused as invalid count too: they cost a lookup and a parse all the same.
      hook: 'preValidation',
      keyGenerator: (request) => request.principal.tokenId,
      errorResponseBuilder: (_request, context) =>
        new ApiProblem('rate-limited', `this token may make ${context.max} requests a minute; retry in ${context.after}`, undefined, { 'retry-after': String(Math.ceil(context.ttl / 1000)) }),
    });
    // Its hooks reach the routes registered after it in this scope: every POST below takes an Idempotency-Key.
    idempotencyKeys({ pool: deps.pool, box: deps.box, log: deps.log })(v1);
    await v1.register(webhookRoutes(deps, verifications));
    await v1.register(webhookActionRoutes(deps, verifications));
    await v1.register(deliveryRoutes(deps));
    await v1.register(eventTypeRoutes(deps.catalog));
  }, { prefix: '/v1' });

  app.decorateRequest('principal', null as never);
  return { app, verifications, routes };
}
