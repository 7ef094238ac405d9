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
  // Built once per family, not per event: `user` → `user.*`.
  const familyKeys = new Map<string, string>();
  const familyKey = (family: string): string => {
    let key = familyKeys.get(family);
    if (key === undefined) familyKeys.set(family, (key = lookupKeys('', family)[1]));
    return key;
  };
  return {
    size,
    match(organization, eventType, family) {
      const byPattern = byOrganization.get(organization);
      if (!byPattern) return [];
      const lists: WebhookRoute[][] = [];
      for (const key of [eventType, familyKey(family), '*']) {
        const list = byPattern.get(key);
        if (list) lists.push(list);
      }
      // The usual case, one pattern matching: no need to deduplicate.
      if (lists.length <= 1) return lists.length === 0 ? [] : [...lists[0]!];
      const found: WebhookRoute[] = [];
      const seen = new Set<string>();
      for (const list of lists) {
        for (const route of list) {
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
