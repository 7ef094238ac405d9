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
