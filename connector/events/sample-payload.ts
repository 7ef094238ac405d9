import { randomUUID } from 'node:crypto';
import type { EventCatalog } from './catalog.js';

/**
 * A plausible payload for any catalog event type, in the shapes the seeds
 * show (seed 000: username, email, userId, organization; groupName for group
 * events). Used by sample producers and by the admin API's test events.
 */
export function samplePayload(catalog: EventCatalog, eventType: string, organization: string): Record<string, unknown> {
  const family = catalog.familyOf(eventType);
  if (family === undefined) throw new Error(`unknown event type ${eventType}`);
  const userId = randomUUID();
  const payload: Record<string, unknown> = { username: `user-${userId.slice(0, 6)}`, email: `user-${userId.slice(0, 6)}@example.com`, userId, organization };
  if (family === 'group') payload['groupName'] = 'Demo-Group';
  if (family === 'admin') Object.assign(payload, { resourceType: eventType.split('_')[0]!.toLowerCase(), resourceId: randomUUID(), resourceName: 'demo' });
  return payload;
}
