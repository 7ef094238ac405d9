import type { Kafka } from 'kafkajs';
import { onEachCluster } from './cluster-hook.js';

/** How long a coordinator lookup is reused; a coordinator that moved is found again within this. */
export const COORDINATOR_TTL_MS = 1000;

type FindCoordinator = (args: { groupId: string; coordinatorType?: number }) => Promise<unknown>;
interface ClusterLike { findGroupCoordinator: FindCoordinator }

/**
 * kafkajs asks the broker which node coordinates a transaction (a
 * FindCoordinator round trip) before every transactional request: four extra
 * round trips in each of the router's transactions, and a third of the
 * broker's requests at a steady 500 events/s. The Java client keeps the
 * coordinator until a request says it moved; here each lookup is reused for
 * `ttlMs`, so a coordinator that moved (a broker restart, a partition
 * leader change) costs kafkajs's retries at most that long.
 *
 * Only clients of this Kafka instance are affected. Returns whether kafkajs's
 * cluster factory was found (a kafkajs upgrade that renames it leaves lookups
 * uncached, and a test says so).
 */
export function cacheCoordinatorLookups(kafka: Kafka, ttlMs = COORDINATOR_TTL_MS, now: () => number = Date.now): boolean {
  return onEachCluster<ClusterLike>(kafka, (cluster) => {
    const lookUp = cluster.findGroupCoordinator.bind(cluster);
    const found = new Map<string, { broker: Promise<unknown>; at: number }>();
    cluster.findGroupCoordinator = (request) => {
      const id = `${request.coordinatorType ?? 0}\u0000${request.groupId}`;
      const hit = found.get(id);
      if (hit && now() - hit.at < ttlMs) return hit.broker;
      const entry = { broker: lookUp(request), at: now() };
      found.set(id, entry);
      // A failed lookup is not remembered: the retry asks again.
      entry.broker.catch(() => found.get(id) === entry && found.delete(id));
      return entry.broker;
    };
  });
}
