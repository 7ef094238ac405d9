import { compileErrors, validate } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminApp, type RegisteredRoute } from '../../admin-api/app.js';
import { routeTemplate, templateOf } from '../../admin-api/http/route-templates.js';
import type { TaskPublisher } from '../../admin-api/task-publisher.js';
import type { Verifier } from '../../admin-api/verification.js';
import type { Pool } from '../../connector/db/pool.js';
import { createSsrfGuard } from '../../connector/delivery/ssrf-guard.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { testConfig } from '../support/harness.js';

/**
 * The admin API's OpenAPI document as the app serves it, without services:
 * nothing here reaches Postgres or Kafka (the pool and the publisher are
 * stand-ins that fail if used).
 */
const unused = (what: string) => () => Promise.reject(new Error(`${what} is not used by this test`));

type Operation = { operationId?: string; responses?: Record<string, unknown>; security?: unknown[] };
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

describe('admin API OpenAPI document', () => {
  const config = testConfig({ kafkaBrokers: ['127.0.0.1:9'], schemaRegistryUrl: 'http://127.0.0.1:9', databaseUrl: 'postgres://none@127.0.0.1:9/none' });
  let app: FastifyInstance;
  let routes: readonly RegisteredRoute[];
  let document: Document;

  beforeAll(async () => {
    const publisher: TaskPublisher = { publish: unused('publisher'), check: unused('publisher'), close: async () => {} };
    const verifier: Verifier = { challenge: unused('verifier') };
    const built = await buildAdminApp(
      {
        config,
        pool: { query: unused('pool') } as unknown as Pool,
        box: createSecretBox(config.secrets.encryptionKey),
        catalog: loadEventCatalog(),
        publisher,
        verifier,
        guard: createSsrfGuard([]),
        log: createRootLogger({ level: 'silent' }),
      },
      {},
    );
    app = built.app;
    routes = built.routes;
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    document = response.json<Document>();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('validates as OpenAPI 3.1', async () => {
    expect(document.openapi).toBe('3.1.0');
    // validate() dereferences in place: give it a copy.
    const result = await validate(structuredClone(document) as Parameters<typeof validate>[0]);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('describes every route of the app, with the responses its schema declares, and nothing else', () => {
    const documented = routes.filter((route) => !route.hidden && route.method !== 'HEAD');
    expect(documented.length).toBeGreaterThan(15);
    const operations = new Set<string>();
    for (const route of documented) {
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const operation = document.paths[path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.url} is missing from the document`).toBeDefined();
      expect(Object.keys(operation!.responses ?? {}).sort(), `responses of ${route.method} ${route.url}`).toEqual([...route.responses].sort());
      expect(Object.keys(operation!.responses ?? {}).some((status) => status.startsWith('2')), `${route.method} ${route.url} documents a success`).toBe(true);
      expect(operation!.operationId, `operationId of ${route.method} ${route.url}`).toMatch(/^[a-z][A-Za-z]+$/);
      if (route.url.startsWith('/v1/')) {
        expect(operation!.security, `${route.method} ${route.url} needs the bearer token`).toEqual([{ bearerToken: [] }]);
        for (const status of ['400', '401', '429', '500', '503']) expect(operation!.responses, `${route.method} ${route.url} documents ${status}`).toHaveProperty(status);
        // Every POST takes an Idempotency-Key, and says so.
        if (route.method === 'POST') {
          const parameters = (operation as { parameters?: Array<{ in: string; name: string }> }).parameters ?? [];
          expect(parameters, `${route.method} ${route.url} documents Idempotency-Key`).toContainEqual(expect.objectContaining({ in: 'header', name: 'idempotency-key' }));
        }
      }
      operations.add(`${route.method.toLowerCase()} ${path}`);
    }
    const inDocument = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    expect(inDocument.sort()).toEqual([...operations].sort());
    const ids = inDocument.map((key) => { const [method, path] = key.split(' '); return document.paths[path!]![method!]!.operationId; });
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('admin API routing answers', () => {
  it('picks the most specific route template for a path, as the router does', () => {
    const templates = ['/v1/webhooks/:id', '/v1/webhooks/bulk-delete', '/v1/webhooks/:id/attempts/:attemptId', '/docs/*'].map(routeTemplate);
    expect(templateOf(templates, '/v1/webhooks/bulk-delete')?.url).toBe('/v1/webhooks/bulk-delete');
    expect(templateOf(templates, '/v1/webhooks/0c6a2ba0-5d5e-4b53-9d0c-3b1e1d6f4e0b')?.url).toBe('/v1/webhooks/:id');
    expect(templateOf(templates, '/v1/webhooks/a/attempts/b')?.url).toBe('/v1/webhooks/:id/attempts/:attemptId');
    expect(templateOf(templates, '/docs/static/index.css')?.url).toBe('/docs/*');
    expect(templateOf(templates, '/v1/webhooks/')).toBeUndefined();
    expect(templateOf(templates, '/v1/webhooks/a/b')).toBeUndefined();
  });
});
