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

/** The index the router's subscription store keeps current, one webhook at a time as changes arrive. */
export interface MutableSubscriptionIndex extends SubscriptionIndex {
  /** Adds the webhook, or replaces what the index held for its id. */
  put(route: WebhookRoute): void;
  remove(id: string): void;
}

export function buildSubscriptionIndex(routes: Iterable<WebhookRoute> = []): MutableSubscriptionIndex {
  const byOrganization = new Map<string, Map<string, WebhookRoute[]>>();
  const byId = new Map<string, WebhookRoute>();

  const remove = (id: string): void => {
    const route = byId.get(id);
    if (!route) return;
    byId.delete(id);
    const byPattern = byOrganization.get(route.organization)!;
    for (const pattern of new Set(route.eventTypes)) {
      const rest = byPattern.get(pattern)!.filter((other) => other.id !== id);
      if (rest.length > 0) byPattern.set(pattern, rest);
      else byPattern.delete(pattern);
    }
    if (byPattern.size === 0) byOrganization.delete(route.organization);
  };

  const put = (route: WebhookRoute): void => {
    remove(route.id);
    byId.set(route.id, route);
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
  };

  for (const route of routes) put(route);
  // Built once per family, not per event: `user` → `user.*`.
  const familyKeys = new Map<string, string>();
  const familyKey = (family: string): string => {
    let key = familyKeys.get(family);
    if (key === undefined) familyKeys.set(family, (key = lookupKeys('', family)[1]));
    return key;
  };
  return {
    get size() {
      return byId.size;
    },
    put,
    remove,
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
