import { lookupKeys } from './match.js';
import type { WebhookRoute } from './webhook.js';

/**
 * In-memory index of routable webhooks: organization → pattern → webhooks.
 * A lookup touches three map entries whatever the number of subscriptions,
 * so matching cost stays flat as organizations add webhooks.
 */
export interface SubscriptionIndex {
  readonly size: number;
  match(organization: string, eventType: string, family: string): WebhookRoute[];
}

export function buildSubscriptionIndex(routes: Iterable<WebhookRoute>): SubscriptionIndex {
  const byOrganization = new Map<string, Map<string, WebhookRoute[]>>();
  let size = 0;
  for (const route of routes) {
    size += 1;
    let byPattern = byOrganization.get(route.organization);
    if (!byPattern) {
      byPattern = new Map();
      byOrganization.set(route.organization, byPattern);
    }
    for (const pattern of new Set(route.eventTypes)) {
      const list = byPattern.get(pattern);
      if (list) list.push(route);
      else byPattern.set(pattern, [route]);
    }
  }
  return {
    size,
    match(organization, eventType, family) {
      const byPattern = byOrganization.get(organization);
      if (!byPattern) return [];
      const found: WebhookRoute[] = [];
      const seen = new Set<string>();
      for (const key of lookupKeys(eventType, family)) {
        for (const route of byPattern.get(key) ?? []) {
          // A webhook subscribed to both `USER_CREATED` and `user.*` still gets one task.
          if (!seen.has(route.id)) {
            seen.add(route.id);
            found.push(route);
          }
        }
      }
      return found;
    },
  };
}
