import type { FastifyInstance } from 'fastify';
import type { EventCatalog } from '../../connector/events/catalog.js';
import { AUTHED_PROBLEMS, problemResponses } from '../schemas.js';

/** The catalog (schemas/event-catalog.json): what a webhook may subscribe to. */
export function eventTypeRoutes(catalog: EventCatalog) {
  const body = {
    families: catalog.families.map((f) => ({ name: f.name, description: f.description, wildcard: `${f.name}.*` })),
    groups: catalog.groups,
    eventTypes: catalog.events.map((e) => ({
      type: e.type, family: e.family, description: e.description, ...(e.group ? { group: e.group } : {}), ...(e.aliases ? { aliases: e.aliases } : {}), ...(e.note ? { note: e.note } : {}),
    })),
  };
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/event-types', {
      schema: {
        tags: ['Event types'],
        operationId: 'listEventTypes',
        summary: 'List the event types a webhook can subscribe to, with families, notification groups and descriptions',
        response: { 200: { description: 'The catalog', $ref: 'EventTypes#' }, ...problemResponses(...AUTHED_PROBLEMS) },
      },
    }, async () => body);
  };
}
