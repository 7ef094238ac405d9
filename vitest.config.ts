import { defineConfig } from 'vitest/config';

// Two projects: unit tests need no services; integration tests get real Kafka,
// a real schema registry and real Postgres from test/support/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Some start the real entry points as processes (node --import tsx): seconds each on a busy 2-core machine.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One real broker on 2 cores: run integration files one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
