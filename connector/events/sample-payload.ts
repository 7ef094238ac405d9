import { randomUUID } from 'node:crypto';
import type { EventCatalog } from './catalog.js';

/** The verbs admin-family types end in; what comes before names the object (API_KEY_CREATED: api_key). */
const ADMIN_VERB = /_(CREATED|UPDATED|MODIFIED|DELETED|REMOVED|STATE_CHANGED)$/;

/** The kind of configuration object an admin-family event is about, from its type. */
export function resourceTypeOf(eventType: string): string {
  return eventType.replace(ADMIN_VERB, '').toLowerCase();
}

/**
 * A plausible payload for any catalog event type, in the shapes the seeds
 * show (seed 000: username, email, userId, organization; remainingSeats for
 * USER_CREATED; groupName for group events). Used by sample producers and by
 * the admin API's test events, so a receiver is tested against what it will get.
 */
export function samplePayload(catalog: EventCatalog, eventType: string, organization: string): Record<string, unknown> {
  // An alias gets its type's shape.
  const entry = catalog.entryOf(eventType);
  if (!entry) throw new Error(`unknown event type ${eventType}`);
  const { type, family } = entry;
  const userId = randomUUID();
  const payload: Record<string, unknown> = { username: `user-${userId.slice(0, 6)}`, email: `user-${userId.slice(0, 6)}@example.com`, userId, organization };
  if (type === 'USER_CREATED') payload['remainingSeats'] = 5;
  if (family === 'group') payload['groupName'] = 'Demo-Group';
  if (family === 'admin') Object.assign(payload, { resourceType: resourceTypeOf(type), resourceId: randomUUID(), resourceName: 'demo' });
  return payload;
}
