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
 * An entry past its age is served while it is read again in the background,
 * and while Postgres cannot be read it goes on being served: the version
 * last read is the best there is (no change can be made or notified
 * meanwhile either), and deliveries go on instead of waiting for the
 * database. Only a webhook never read by this process has to wait, and a
 * caller asking for a version read within `maxAgeMs` (before a final skip).
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
  /** A reload past its age is under way, this version served meanwhile. */
  refreshing?: boolean;
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

  /**
   * Reads a webhook past its age again while the version held is served: the age only bounds a lost notification
   * (changes are notified), and callers must not wait on a read, for up to a query timeout while Postgres hangs.
   * The new version replaces the held one unless the webhook was invalidated meanwhile.
   */
  const refresh = (webhookId: string, held: Entry): void => {
    held.refreshing = true;
    loadWebhookTarget(deps.pool, deps.box, webhookId).then(
      (target) => void (entries.get(webhookId) === held && entries.set(webhookId, { target: Promise.resolve(target), loadedAt: now() })),
      (error: unknown) => void fallBack(webhookId, held, held, error),
    );
  };

  return {
    get(webhookId, maxAgeMs) {
      const entry = entries.get(webhookId);
      const age = entry ? now() - entry.loadedAt : 0;
      if (entry && (age < Math.min(maxAgeMs ?? deps.ttlMs, deps.ttlMs) || now() < (entry.retryAt ?? 0))) return entry.target;
      // Past the cache's age, no fresher version asked for: served as held while it is read again.
      if (entry && maxAgeMs === undefined) {
        if (!entry.refreshing) refresh(webhookId, entry);
        return entry.target;
      }
      return load(webhookId, entry);
    },
    invalidate: (webhookId) => void entries.delete(webhookId),
    clear: () => entries.clear(),
  };
}
