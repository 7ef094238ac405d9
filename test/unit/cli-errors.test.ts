import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** What an operator sees when something is wrong: one line naming the cause, and a non-zero exit. */
function run(script: string, args: string[], env: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('command-line errors', () => {
  it('a bad config value stops the connector with the key, the problem and the variable, exit 78', () => {
    const { status, stderr } = run('connector/main.ts', ['router'], { KAFKA_BROKERS: 'no-port-here', SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    expect(status).toBe(78);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/config error: kafka\.brokers: .*"no-port-here" is not.*\(set KAFKA_BROKERS\)/);
  });

  it('a bad config value stops the admin API the same way', () => {
    const { status, stderr } = run('admin-api/main.ts', ['serve'], { ADMIN_WEBHOOK_VERIFICATION: 'maybe', SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    expect(status).toBe(78);
    expect(stderr.trim()).toMatch(/^admin-api: config error: admin\.verification: .*"maybe".*\(set ADMIN_WEBHOOK_VERIFICATION\)$/);
    const production = run('admin-api/main.ts', ['serve'], { NODE_ENV: 'production', ADMIN_WEBHOOK_VERIFICATION: 'off', SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    expect(production.stderr).toContain('admin.verification: webhooks must be verified in production');
  });

  it('an unknown option or a mistyped token argument is a one-line usage error, exit 2, before any config is read', () => {
    // No environment at all: were the config read first, the first complaint would be the missing encryption key.
    const connector = run('connector/main.ts', ['router', '--threads', '4'], {});
    expect(connector.status).toBe(2);
    expect(connector.stderr.trim()).toBe("identity-webhooks: Unknown option '--threads'; settings are environment variables (docs/configuration.md); run with --help");
    const typo = run('admin-api/main.ts', ['tokens', 'create', '--org', 'acme'], {});
    expect(typo.status).toBe(2);
    expect(typo.stderr.trim()).toBe("admin-api: Unknown option '--org' (see --help)");
    const lifetime = run('admin-api/main.ts', ['tokens', 'create', '--organization', 'acme', '--subject', 'a', '--expires-in', '2w'], {});
    expect(lifetime.status).toBe(2);
    expect(lifetime.stderr).toContain('--expires-in "2w" is not a lifetime');
    const serve = run('admin-api/main.ts', ['serve', '--port', '3'], {});
    expect(serve.status).toBe(2);
    expect(serve.stderr).toMatch(/serve takes no arguments besides --help/);
  }, 60_000);

  it('an argument a command does not take is refused, exit 2, not dropped: nothing runs other than was asked', () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['connector/main.ts', ['router', 'sink'], /^identity-webhooks: unexpected argument "sink"/],
      ['admin-api/main.ts', ['--organization=acme', 'tokens', 'list'], /^admin-api: options go after the command/],
      ['admin-api/main.ts', ['tokens', 'list', '--subject', 'x'], /^admin-api: tokens list takes no --subject \(it takes --organization\)$/],
      ['admin-api/main.ts', ['tokens', 'revoke', '00000000-0000-4000-8000-000000000000', '--name', 'y'], /^admin-api: tokens revoke takes no --name$/],
      ['scripts/stack/cli.ts', ['down', 'clean'], /^stack: unexpected argument "clean"/],
      ['scripts/stack/cli.ts', ['up', '--clean'], /^stack: --clean goes with down only/],
      ['scripts/events.ts', ['register', '--count', '5'], /^events: register takes no --count/],
      // Names an object has of its own kind are no commands either.
      ['scripts/events.ts', ['toString'], /^events: unknown command "toString"/],
      ['admin-api/main.ts', ['tokens', 'constructor'], /^admin-api: unknown tokens action "constructor"/],
      // A misspelled part would have measured nothing and overwritten the results, after starting the stack.
      ['bench/delivery.ts', ['--only', 'latncy'], /^bench:delivery: --only takes throughput, floor, latency, isolation, memory, serial .*got "latncy"/],
      ['bench/router.ts', ['--events', 'many'], /^bench:router: --events must be an integer at least 1; got "many"/],
    ];
    for (const [script, args, expected] of cases) {
      const { status, stderr } = run(script, args, {});
      expect(status, `${script} ${args.join(' ')}`).toBe(2);
      expect(stderr.trim(), `${script} ${args.join(' ')}`).toMatch(expected);
    }
  }, 120_000);

  it('every command answers --help', () => {
    for (const [script, args] of [['connector/main.ts', ['--help']], ['scripts/stack/cli.ts', ['--help']], ['scripts/events.ts', ['--help']], ['scripts/demo.ts', ['--help']], ['admin-api/main.ts', ['--help']], ['bench/all.ts', ['--help']]] as const) {
      const { status, stdout } = run(script, [...args], {});
      expect(status, script).toBe(0);
      expect(stdout.length, script).toBeGreaterThan(50);
    }
  }, 60_000);

  describe('the local stack', () => {
    let blocker: Server;
    let port: number;

    beforeAll(async () => {
      blocker = createServer().listen(0, '127.0.0.1');
      await new Promise((resolve) => blocker.once('listening', resolve));
      port = (blocker.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

    it('a port in use stops start-up with the port, the service and the variable to change, before starting anything', () => {
      const stateDir = mkdtempSync(join(tmpdir(), 'stack-'));
      const { status, stderr } = run('scripts/stack/cli.ts', ['up'], { STACK_DIR: stateDir, STACK_KAFKA_PORT: String(port), HOME: process.env['HOME'] ?? '/root' });
      expect(status).toBe(1);
      const lines = stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`port ${port} (kafka) is in use`);
      expect(lines[0]).toContain('STACK_KAFKA_PORT');
    });
  });
});
