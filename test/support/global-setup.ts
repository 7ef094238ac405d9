import type { TestProject } from 'vitest/node';
import { createKafka } from '../../connector/kafka/client.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { testConfig } from './harness.js';
import { provideServices, type ServiceEndpoints } from './provide-services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceEndpoints;
  }
}

/** Topics a test names through testEnv: `t-<8 hex>.<name>`. */
const TEST_TOPIC = /^t-[0-9a-f]{8}\./;

/**
 * Once per run: real Kafka, registry and Postgres from the environment,
 * testcontainers (where Docker answers) or the local stack.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await provideServices((line) => console.log(`[services] ${line}`));
  console.log(`[services] using ${services.source}: ${JSON.stringify(services.endpoints)}`);
  project.provide('services', services.endpoints);
  const admin = createKafka(testConfig(services.endpoints).kafka, createRootLogger({ level: 'error' }), 'test-cleanup').admin();
  await admin.connect();
  const before = new Set(await admin.listTopics());
  return async () => {
    // Every test makes topics of its own; left behind, a long-lived local broker collects thousands of
    // partitions over many runs and slows down. Only topics this run created go, so a run alongside is safe.
    const created = (await admin.listTopics()).filter((topic) => TEST_TOPIC.test(topic) && !before.has(topic));
    for (let i = 0; i < created.length; i += 100) {
      const topics = created.slice(i, i + 100);
      await admin.deleteTopics({ topics, timeout: 30_000 }).catch((error: unknown) => console.log(`[services] could not delete test topics: ${String(error)}`));
    }
    if (created.length > 0) console.log(`[services] deleted the ${created.length} topics this run created`);
    await admin.disconnect();
    await services.stop();
  };
}
