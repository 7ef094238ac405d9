import type { Kafka } from 'kafkajs';

const CREATE_CLUSTER = 'private:Kafka:createCluster';

/**
 * kafkajs creates one cluster per producer, consumer and admin through a
 * private factory on the client. This wraps that factory so `adjust` sees
 * every cluster of this Kafka instance (and of no other) as it is created.
 * Returns whether the factory was found: a kafkajs upgrade that renames it
 * leaves the clusters as they are, and the caller decides what that costs.
 */
export function onEachCluster<Cluster>(kafka: Kafka, adjust: (cluster: Cluster) => void): boolean {
  const holder = kafka as unknown as Record<symbol, unknown>;
  const key = Object.getOwnPropertySymbols(holder).find((symbol) => symbol.description === CREATE_CLUSTER);
  const createCluster = key === undefined ? undefined : holder[key];
  if (key === undefined || typeof createCluster !== 'function') return false;
  holder[key] = (...args: unknown[]): unknown => {
    const cluster = (createCluster as (...a: unknown[]) => Cluster)(...args);
    adjust(cluster);
    return cluster;
  };
  return true;
}
