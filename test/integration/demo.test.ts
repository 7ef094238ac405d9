import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';

const DEMO = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));

/**
 * The README's first command, as a newcomer runs it (`npm run demo -- --once`), on the suite's services: router,
 * deliverer and sink as processes, the admin API, a receiver that checks signatures, eight events (one refused once
 * and retried), the delivery log read back through the admin API. The demo itself says what failed and exits 1.
 */
describe('the demo', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'demo-test-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('npm run demo -- --once delivers its sample events, the refused one retried, logs every attempt and exits 0', async () => {
    const services = inject('services');
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', DEMO, '--once'], {
      env: {
        ...process.env,
        DEMO_SERVICES: 'env',
        KAFKA_BROKERS: services.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: services.schemaRegistryUrl,
        DATABASE_URL: services.databaseUrl,
        // Its logs, token and key go here, not into a developer's .stack.
        STACK_DIR: stateDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code, output).toBe(0);
    expect(output).toMatch(/all 8 delivered/);
    expect(output).toMatch(/receiver refused \S+ with 503 once/);
    // Nine attempts: eight deliveries and the refused one.
    expect(output).toMatch(/delivery log \(GET \/v1\/webhooks\/[0-9a-f-]+\/attempts\): 9 attempts/);
    expect(output).not.toMatch(/INVALID signatures/);
  }, 240_000);
});
