import type { Kafka } from '../connector/kafka/client.js';
import type { ServiceEndpoints } from '../test/support/provide-services.js';

/** Benchmarks use the addresses in the environment, or the local stack (started if needed). */
export async function benchServices(): Promise<ServiceEndpoints> {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL } = process.env;
  if (KAFKA_BROKERS && SCHEMA_REGISTRY_URL && DATABASE_URL) {
    return { kafkaBrokers: KAFKA_BROKERS.split(','), schemaRegistryUrl: SCHEMA_REGISTRY_URL, databaseUrl: DATABASE_URL };
  }
  // Loaded only when needed: with addresses in the environment no stack code runs.
  const { ensureStackUp, stackOptionsFromEnv } = await import('../scripts/stack/index.js');
  const { endpoints } = await ensureStackUp(stackOptionsFromEnv(), (line: string) => console.log(`  ${line}`));
  return endpoints;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Deletes a run's topics once measured, so repeated benchmarks do not pile partitions onto the broker. */
export async function deleteTopics(kafka: Kafka, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}
