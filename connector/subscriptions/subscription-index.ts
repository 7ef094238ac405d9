import { lookupKeys } from './match.js';
import type { WebhookRoute } from './webhook.js';

/** A webhook an event goes to. */
export interface MatchedWebhook {
  id: string;
  organization: string;
}

/**
 * In-memory index of routable webhooks: organization → pattern → webhook ids.
 * A lookup touches three map entries whatever the number of subscriptions,
 * so matching cost stays flat as organizations add webhooks.
 */
export interface SubscriptionIndex {
  readonly size: number;
  match(organization: string, eventType: string, family: string): MatchedWebhook[];
}

/** The index the router's subscription store keeps current, one webhook at a time as changes arrive. */
export interface MutableSubscriptionIndex extends SubscriptionIndex {
  /** Adds the webhook, or replaces what the index held for its id. */
  put(route: WebhookRoute): void;
  remove(id: string): void;
}

/** One organization's webhook ids by pattern; the webhooks of an organization share it. */
interface OrganizationEntry {
  organization: string;
  idsByPattern: Map<string, string[]>;
}

/**
 * Only ids are kept, in arrays shared per pattern, and one entry per
 * organization: no object per webhook. At 100,000 webhooks the router's heap
 * stays small, and so do its garbage collections, which mark everything live.
 */
export function buildSubscriptionIndex(routes: Iterable<WebhookRoute> = []): MutableSubscriptionIndex {
  const byOrganization = new Map<string, OrganizationEntry>();
  const byId = new Map<string, OrganizationEntry>();

  const remove = (id: string): void => {
    const entry = byId.get(id);
    if (!entry) return;
    byId.delete(id);
    // An organization has few distinct patterns; scanning them spares storing each webhook's own.
    for (const [pattern, ids] of entry.idsByPattern) {
      if (!ids.includes(id)) continue;
      if (ids.length === 1) entry.idsByPattern.delete(pattern);
      else entry.idsByPattern.set(pattern, ids.filter((other) => other !== id));
    }
    if (entry.idsByPattern.size === 0) byOrganization.delete(entry.organization);
  };

  const put = (route: WebhookRoute): void => {
    remove(route.id);
    let entry = byOrganization.get(route.organization);
    if (!entry) {
      entry = { organization: route.organization, idsByPattern: new Map() };
      byOrganization.set(route.organization, entry);
    }
    byId.set(route.id, entry);
    for (const pattern of new Set(route.eventTypes)) {
      const ids = entry.idsByPattern.get(pattern);
      if (ids) ids.push(route.id);
      else entry.idsByPattern.set(pattern, [route.id]);
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
      const entry = byOrganization.get(organization);
      if (!entry) return [];
      const lists: string[][] = [];
      for (const key of [eventType, familyKey(family), '*']) {
        const ids = entry.idsByPattern.get(key);
        if (ids) lists.push(ids);
      }
      const found: MatchedWebhook[] = [];
      // The usual case, one pattern matching: no need to deduplicate.
      if (lists.length === 1) {
        for (const id of lists[0]!) found.push({ id, organization: entry.organization });
        return found;
      }
      const seen = new Set<string>();
      for (const ids of lists) {
        for (const id of ids) {
          // A webhook subscribed to both `USER_CREATED` and `user.*` still gets one task.
          if (!seen.has(id)) {
            seen.add(id);
            found.push({ id, organization: entry.organization });
          }
        }
      }
      return found;
    },
  };
}
