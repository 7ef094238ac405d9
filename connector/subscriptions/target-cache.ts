import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import type { SecretBox } from '../security/encryption.js';
import { loadWebhookTarget } from './repository.js';
import type { WebhookTarget } from './webhook.js';

/**
 * The deliverer's view of webhooks, read from Postgres and kept briefly so a
 * burst for one endpoint costs one query. Changes (disable, URL edit, secret
 * rotation) are invalidated as Postgres notifies them; `ttlMs` bounds the
 * age of an entry should a notification be lost.
 *
 * While Postgres cannot be read, an entry past its age is still served: the
 * version last read is the best there is (no change can be made or notified
 * meanwhile either), and deliveries go on instead of waiting for the
 * database. Only a webhook never read by this process has to wait.
 */
export interface TargetCache {
  /** `maxAgeMs`: read again unless the version held was read that recently (default: the cache's ttlMs). */
  get(webhookId: string, maxAgeMs?: number): Promise<WebhookTarget | null>;
  invalidate(webhookId: string): void;
  /** Forgets every webhook (changes may have been missed). */
  clear(): void;
}

/** After a failed reload, how long the version last read is served before the next try. */
export const STALE_RETRY_MS = 5000;

interface Entry {
  target: Promise<WebhookTarget | null>;
  loadedAt: number;
  /** Set when a reload failed: no other is tried before then, however recent a version a caller asks for. */
  retryAt?: number;
}

export function createTargetCache(deps: { pool: Pool; box: SecretBox; ttlMs: number; log: Logger; now?: () => number }): TargetCache {
  const now = deps.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const load = (webhookId: string, previous: Entry | undefined): Promise<WebhookTarget | null> => {
    const loading = loadWebhookTarget(deps.pool, deps.box, webhookId);
    // On failure: with nothing to fall back on the caller sees it (and retries); else the version read before is served.
    const target = previous ? loading.catch((error: unknown) => fallBack(webhookId, entry, previous, error)) : loading;
    const entry: Entry = { target, loadedAt: now() };
    entries.set(webhookId, entry);
    if (!previous) loading.catch(() => entries.get(webhookId) === entry && entries.delete(webhookId));
    return target;
  };

  const fallBack = (webhookId: string, failed: Entry, previous: Entry, error: unknown): Promise<WebhookTarget | null> => {
    deps.log.debug({ err: error, webhookId }, 'webhook could not be read again; delivering with the version read before');
    // Counted as read STALE_RETRY_MS before its age runs out, so the next try comes that much later.
    if (entries.get(webhookId) === failed) entries.set(webhookId, { target: previous.target, loadedAt: now() - deps.ttlMs + STALE_RETRY_MS, retryAt: now() + STALE_RETRY_MS });
    return previous.target;
  };

  return {
    get(webhookId, maxAgeMs = deps.ttlMs) {
      const entry = entries.get(webhookId);
      if (entry && (now() - entry.loadedAt < Math.min(maxAgeMs, deps.ttlMs) || now() < (entry.retryAt ?? 0))) return entry.target;
      return load(webhookId, entry);
    },
    invalidate: (webhookId) => void entries.delete(webhookId),
    clear: () => entries.clear(),
  };
}
