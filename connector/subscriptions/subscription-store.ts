import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { subscriptionIndexLoadedAt, subscriptionIndexSize, subscriptionRefreshes, subscriptionReloadFailures } from '../observability/metrics.js';
import { createChangeListener } from './change-listener.js';
import { loadRoutableWebhooks, loadWebhookRoutes } from './repository.js';
import { buildSubscriptionIndex, type MutableSubscriptionIndex, type SubscriptionIndex } from './subscription-index.js';
import type { WebhookRoute } from './webhook.js';

export interface SubscriptionStore {
  current(): SubscriptionIndex;
  /** Loads the index once (fails if Postgres is unreachable at start) and starts following changes. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves after the next successful refresh; lets callers wait for a change to take effect. */
  reloaded(): Promise<void>;
}

/** Past this many changed webhooks waiting at once (a bulk import), one full reload is cheaper than a lookup by id. */
const MAX_CHANGES_BY_ID = 5_000;
/** After a failed refresh, the first retry's wait; it doubles while they keep failing, up to the longest. */
const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 15_000;

/**
 * Keeps the router's subscription index fresh. A NOTIFY from the webhooks
 * trigger names one webhook: only that row is read again and put into (or
 * taken out of) the index, so a change costs the same with 100 webhooks as
 * with 100,000. A full reload runs at start, after the listener reconnects
 * (notifications may have been missed) and periodically as a safety net.
 * Refreshes run one at a time, each reading the current state, so the index
 * converges whatever order changes arrive in. When Postgres is down the last
 * index stays in use, a failed refresh is tried again (a full reload) after
 * a pause that grows while it keeps failing, and the listener reconnects by
 * itself.
 */
export function createSubscriptionStore(deps: {
  pool: Pool;
  log: Logger;
  reloadIntervalMs: number;
  /**
   * The catalog's name for a stored pattern: events are matched by the catalog's name, and a row may hold another
   * product's (a type the catalog has since made an alias, a row written around the admin API, which stores names).
   */
  canonicalPattern: (pattern: string) => string;
}): SubscriptionStore {
  const { pool, log } = deps;
  const canonical = (route: WebhookRoute): WebhookRoute => ({ ...route, eventTypes: route.eventTypes.map(deps.canonicalPattern) });
  let index: MutableSubscriptionIndex = buildSubscriptionIndex();
  let stopped = false;
  let reloadTimer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | null = null;
  let fullReloadDue = false;
  let changedIds = new Set<string>();
  let waiters: Array<() => void> = [];
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = FIRST_RETRY_MS;

  const loaded = (kind: 'full' | 'changes'): void => {
    subscriptionRefreshes.inc({ kind });
    subscriptionIndexSize.set(index.size);
    subscriptionIndexLoadedAt.set(Date.now() / 1000);
    const done = waiters;
    waiters = [];
    for (const resolve of done) resolve();
  };

  const reloadAll = async (): Promise<void> => {
    index = buildSubscriptionIndex((await loadRoutableWebhooks(pool)).map(canonical));
    log.debug({ webhooks: index.size }, 'subscription index reloaded');
    loaded('full');
  };

  const applyChanges = async (ids: string[]): Promise<void> => {
    const current = new Map((await loadWebhookRoutes(pool, ids)).map((route) => [route.id, route]));
    for (const id of ids) {
      const route = current.get(id);
      if (route?.routable) index.put(canonical(route));
      else index.remove(id);
    }
    log.debug({ changed: ids.length, webhooks: index.size }, 'subscription changes applied');
    loaded('changes');
  };

  /** One refresh at a time; whatever arrived meanwhile runs next. */
  const refresh = (): void => {
    if (refreshing || stopped) return;
    const full = fullReloadDue || changedIds.size > MAX_CHANGES_BY_ID;
    if (!full && changedIds.size === 0) return;
    const ids = [...changedIds];
    fullReloadDue = false;
    changedIds = new Set();
    let failed = false;
    refreshing = (full ? reloadAll() : applyChanges(ids))
      .catch((error: unknown) => {
        failed = true;
        subscriptionReloadFailures.inc();
        // What failed is not lost: the next attempt reloads everything.
        fullReloadDue = true;
        log.warn({ err: error, retryInMs: retryDelayMs }, 'subscription refresh failed; routing with the last index');
      })
      .finally(() => {
        refreshing = null;
        if (!failed) {
          // A retry still pending from before would hold back the first, short one after a next failure.
          clearTimeout(retryTimer);
          retryTimer = undefined;
          retryDelayMs = FIRST_RETRY_MS;
          if (fullReloadDue || changedIds.size > 0) refresh();
          return;
        }
        // Not at once (Postgres is likely still away), but soon: with the listener still up, nothing else may come to
        // trigger one before the periodic reload, and a webhook just created would miss its events until then.
        if (stopped || retryTimer) return;
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          refresh();
        }, retryDelayMs);
        retryTimer.unref();
        retryDelayMs = Math.min(retryDelayMs * 2, LONGEST_RETRY_MS);
      });
  };

  const changes = createChangeListener({
    pool,
    log,
    onChange: (change) => {
      if (change) changedIds.add(change.id);
      else fullReloadDue = true;
      refresh();
    },
  });

  return {
    current: () => index,
    async start() {
      // Listening first: a change committed while the index loads is notified, and applied once the load is done
      // (refreshes run one at a time). Loaded first, a change committed between the load and LISTEN would wait for
      // the periodic reload.
      await changes.start();
      refreshing = reloadAll().finally(() => (refreshing = null));
      try {
        await refreshing;
      } catch (error) {
        stopped = true;
        await changes.stop();
        throw error;
      }
      // What was notified during the load.
      refresh();
      reloadTimer = setInterval(() => {
        fullReloadDue = true;
        refresh();
      }, deps.reloadIntervalMs);
      reloadTimer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(reloadTimer);
      clearTimeout(retryTimer);
      await changes.stop();
      await refreshing;
    },
    reloaded: () => new Promise((resolve) => waiters.push(resolve)),
  };
}
