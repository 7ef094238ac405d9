import type { TestProject } from 'vitest/node';
import { provideServices, type ServiceEndpoints } from './provide-services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceEndpoints;
  }
}

/**
 * Once per run: real Kafka, registry and Postgres from the environment,
 * testcontainers (where Docker answers) or the local stack.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await provideServices((line) => console.log(`[services] ${line}`));
  console.log(`[services] using ${services.source}: ${JSON.stringify(services.endpoints)}`);
  project.provide('services', services.endpoints);
  return () => services.stop();
}
