import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { stackEncryptionKey } from '../../scripts/stack/options.js';

/** `npm run stack:env` as a shell would eval it, with the stack's directory in `stateDir`. */
function stackEnv(stateDir: string): Record<string, string> {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/stack/cli.ts', 'env'], { env: { PATH: process.env['PATH'] ?? '', STACK_DIR: stateDir, STACK_KAFKA_PORT: '29092' }, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const env: Record<string, string> = {};
  for (const line of run.stdout.trim().split('\n')) {
    const match = /^export ([A-Z_]+)='([^']*)'$/.exec(line);
    expect(match, line).not.toBeNull();
    env[match![1]!] = match![2]!;
  }
  return env;
}

describe('npm run stack:env', () => {
  it('prints every setting a process run by hand needs against the stack, with one encryption key kept for good', () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'stack-env-')), 'stack');
    const env = stackEnv(stateDir);
    // The config loads from it alone: nothing left to guess, nothing refused.
    const config = loadConfig(env);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:29092']);
    expect(config.schemaRegistry.url).toMatch(/\/apis\/ccompat\/v7$/);
    expect(config.topics.replicationFactor).toBe(1);
    expect(config.http.allowPlainHttp).toBe(true);
    // Secrets written with the key in one shell decrypt in the next.
    expect(stackEnv(stateDir)['SECRETS_ENCRYPTION_KEY']).toBe(env['SECRETS_ENCRYPTION_KEY']);
    expect(statSync(join(stateDir, 'secrets-encryption-key')).mode & 0o777).toBe(0o600);
  });

  it('keeps the key a demo made before on the same stack, as its webhooks\' secrets were written with it', () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'stack-env-')), 'stack');
    mkdirSync(join(stateDir, 'demo'), { recursive: true });
    const demoKey = randomBytes(32).toString('base64');
    writeFileSync(join(stateDir, 'demo', 'secrets-encryption-key'), `${demoKey}\n`);
    expect(stackEnv(stateDir)['SECRETS_ENCRYPTION_KEY']).toBe(demoKey);
    expect(stackEncryptionKey(stateDir)).toBe(demoKey);
  });
});

describe('long quiet steps of the stack', () => {
  it('say they are still going every so often, and stop saying so once done', async () => {
    const { withHeartbeat } = await import('../../scripts/stack/maven.js');
    const lines: string[] = [];
    let finish: (value: string) => void = () => undefined;
    const step = new Promise<string>((resolve) => (finish = resolve));
    const running = withHeartbeat((line) => lines.push(line), 'downloading Kafka', step, 20);
    await waitForLines(lines, 2);
    finish('done');
    expect(await running).toBe('done');
    const said = lines.length;
    expect(lines[0]).toMatch(/^ {2}still downloading Kafka \(\d+ s\)…$/);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(lines).toHaveLength(said);
  });
});

async function waitForLines(lines: string[], count: number): Promise<void> {
  while (lines.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
}
