import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { checkReadiness, type ReadinessCheck } from '../../connector/observability/server.js';

export type ReadinessChecks = Record<string, ReadinessCheck>;

const TAG = 'Operations';

/**
 * `/healthz` (alive), `/readyz` (every dependency answers; 503 names those
 * that do not), `/metrics`. The admin API faces organizations' admins, so
 * /readyz says which dependency is down but not why: the reasons (addresses,
 * user names, driver messages) go to the log, where operators read them.
 */
export function healthRoutes(checks: ReadinessChecks, registry: Registry) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/healthz', {
      schema: {
        tags: [TAG], operationId: 'health', summary: 'The process is alive',
        response: { 200: { description: 'Alive', type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } },
      },
    }, async () => ({ status: 'ok' }));

    const readiness = { type: 'object', required: ['status', 'down'], properties: { status: { type: 'string', enum: ['ready', 'not ready'] }, down: { type: 'object', additionalProperties: { type: 'string' } } } };
    app.get('/readyz', {
      schema: {
        tags: [TAG], operationId: 'ready', summary: 'Postgres and Kafka answer',
        response: { 200: { description: 'Ready', ...readiness }, 503: { description: 'Not ready; down names each dependency that does not answer (the reason is in the log)', ...readiness } },
      },
    }, async (request, reply) => {
      const { ready, body } = await checkReadiness(checks);
      if (ready) return reply.code(200).send(body);
      request.log.warn({ down: body.down }, 'not ready');
      const down = Object.fromEntries(Object.keys(body.down).map((name) => [name, 'unavailable']));
      return reply.code(503).send({ ...body, down });
    });

    app.get('/metrics', {
      schema: { tags: [TAG], operationId: 'metrics', summary: 'Prometheus metrics', produces: ['text/plain'], response: { 200: { description: 'Prometheus text format', type: 'string' } } },
    }, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  };
}
