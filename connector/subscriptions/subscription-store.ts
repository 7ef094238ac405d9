import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { subscriptionIndexLoadedAt, subscriptionIndexSize, subscriptionReloadFailures } from '../observability/metrics.js';
import { createChangeListener } from './change-listener.js';
import { loadRoutableWebhooks } from './repository.js';
import { buildSubscriptionIndex, type SubscriptionIndex } from './subscription-index.js';

export interface SubscriptionStore {
  current(): SubscriptionIndex;
  /** Loads the index once (fails if Postgres is unreachable at start) and starts following changes. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves after the next successful reload; lets callers wait for a change to take effect. */
  reloaded(): Promise<void>;
}

/**
 * Keeps the router's subscription index fresh: a full reload on every NOTIFY
 * from the webhooks trigger (coalesced), plus a periodic reload as a safety
 * net for missed notifications. When Postgres is down the last index stays in
 * use and the listener reconnects by itself (and reloads then).
 */
export function createSubscriptionStore(deps: { pool: Pool; log: Logger; reloadIntervalMs: number }): SubscriptionStore {
  const { pool, log } = deps;
  let index = buildSubscriptionIndex([]);
  let stopped = false;
  let reloadTimer: NodeJS.Timeout | undefined;
  let reloadInFlight: Promise<void> | null = null;
  let reloadAgain = false;
  let waiters: Array<() => void> = [];

  const reload = async (): Promise<void> => {
    const routes = await loadRoutableWebhooks(pool);
    index = buildSubscriptionIndex(routes);
    subscriptionIndexSize.set(index.size);
    subscriptionIndexLoadedAt.set(Date.now() / 1000);
    log.debug({ webhooks: index.size }, 'subscription index reloaded');
    const done = waiters;
    waiters = [];
    for (const resolve of done) resolve();
  };

  // Notifications arrive in bursts (bulk deletes); one reload runs at a time and one more follows it.
  const requestReload = (): void => {
    if (reloadInFlight) {
      reloadAgain = true;
      return;
    }
    reloadInFlight = reload()
      .catch((error: unknown) => {
        subscriptionReloadFailures.inc();
        log.warn({ err: error }, 'subscription reload failed; routing with the last index');
      })
      .finally(() => {
        reloadInFlight = null;
        if (reloadAgain && !stopped) {
          reloadAgain = false;
          requestReload();
        }
      });
  };

  const changes = createChangeListener({ pool, log, onChange: () => requestReload() });

  return {
    current: () => index,
    async start() {
      await reload();
      await changes.start();
      reloadTimer = setInterval(requestReload, deps.reloadIntervalMs);
      reloadTimer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(reloadTimer);
      await changes.stop();
      await reloadInFlight;
    },
    reloaded: () => new Promise((resolve) => waiters.push(resolve)),
  };
}
