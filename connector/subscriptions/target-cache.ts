import type { Pool } from '../db/pool.js';
import type { SecretBox } from '../security/encryption.js';
import { loadWebhookTarget } from './repository.js';
import type { WebhookTarget } from './webhook.js';

/**
 * The deliverer's view of webhooks, read from Postgres and kept briefly so a
 * burst for one endpoint costs one query. Changes (disable, URL edit, secret
 * rotation) are invalidated as Postgres notifies them; `ttlMs` bounds the
 * age of an entry should a notification be lost.
 */
export interface TargetCache {
  get(webhookId: string): Promise<WebhookTarget | null>;
  invalidate(webhookId: string): void;
  /** Forgets every webhook (changes may have been missed). */
  clear(): void;
}

export function createTargetCache(deps: { pool: Pool; box: SecretBox; ttlMs: number; now?: () => number }): TargetCache {
  const now = deps.now ?? Date.now;
  const entries = new Map<string, { target: Promise<WebhookTarget | null>; loadedAt: number }>();
  return {
    get(webhookId) {
      const entry = entries.get(webhookId);
      if (entry && now() - entry.loadedAt < deps.ttlMs) return entry.target;
      const target = loadWebhookTarget(deps.pool, deps.box, webhookId);
      entries.set(webhookId, { target, loadedAt: now() });
      target.catch(() => entries.delete(webhookId));
      return target;
    },
    invalidate: (webhookId) => void entries.delete(webhookId),
    clear: () => entries.clear(),
  };
}
