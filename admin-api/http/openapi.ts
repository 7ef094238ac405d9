import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';

const API_VERSION = '0.1.0';

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

/** The OpenAPI 3.1 document's frame; the paths come from the routes' own schemas. */
export const openApiOptions: FastifyDynamicSwaggerOptions = {
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
      { name: 'Webhook actions', description: 'Enable, disable, verify, rotate the secret or revoke the previous one, send a test event.' },
      { name: 'Deliveries', description: 'The delivery log; redeliver and recover.' },
      { name: 'Event types', description: 'The catalog of identity events.' },
      { name: 'Operations', description: 'Health, readiness and metrics.' },
    ],
  },
  // Fastify takes a request without a body where the body schema allows null (enable, disable, test); so must the document.
  transformObject: (document) => ('openapiObject' in document ? optionalNullableBodies(document.openapiObject) : document.swaggerObject),
  refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json['$id'] ?? `def-${i}`) },
};
