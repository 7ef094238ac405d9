import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { testEnv, uniqueName } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const MAIN = fileURLToPath(new URL('../../admin-api/main.ts', import.meta.url));

/** The admin API and its token commands as an operator runs them: real processes, real Postgres and Kafka. */
describe('admin API process', () => {
  const env = { PATH: process.env['PATH'] ?? '', ...testEnv(inject('services'), { LOG_LEVEL: 'info' }) };
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { env, encoding: 'utf8', timeout: 60_000 });

  it('creates, lists and revokes tokens; the API takes a token until it is revoked; SIGTERM stops it cleanly', async () => {
    const organization = uniqueName('org');
    const created = cli('tokens', 'create', '--organization', organization, '--subject', 'ops@example.com', '--name', 'ci');
    expect(created.status, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^iwh_[A-Za-z0-9_-]+$/);
    expect(created.stderr).toContain(`organization "${organization}"`);
    // Ninety days unless told otherwise.
    const expires = Date.parse(/expires (\S+)\)/.exec(created.stderr)?.[1] ?? '');
    expect(Math.abs(expires - Date.now() - 90 * 86_400_000)).toBeLessThan(120_000);

    const listed = cli('tokens', 'list', '--organization', organization);
    expect(listed.status).toBe(0);
    const [line] = listed.stdout.trim().split('\n');
    expect(line).toContain('ops@example.com');
    expect(line).toContain(`active until ${new Date(expires).toISOString()}`);
    expect(listed.stdout).not.toContain(token);
    const id = line!.split('\t')[0]!;

    let output = '';
    const server = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    try {
      const address = await waitFor('the API to listen', () => /"address":"(http:\/\/[^"]+)","msg":"admin API listening"/.exec(output)?.[1], 60_000);
      const list = () => fetch(`${address}/v1/webhooks`, { headers: { authorization: `Bearer ${token}` } });
      expect((await list()).status).toBe(200);
      expect((await fetch(`${address}/readyz`)).status).toBe(200);

      const revoked = cli('tokens', 'revoke', id);
      expect(revoked.status).toBe(0);
      expect((await list()).status).toBe(401);
      expect(cli('tokens', 'revoke', id).status).toBe(1);
      expect(cli('tokens', 'list', '--organization', organization).stdout).toContain('REVOKED');

      server.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('stopped cleanly');
      expect(output).not.toContain(token);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('refuses incomplete token commands with a one-line reason', () => {
    const missing = cli('tokens', 'create', '--organization', 'x');
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim()).toBe('admin-api: tokens create needs --organization and --subject');
    expect(cli('tokens', 'frobnicate').stderr).toMatch(/unknown tokens action "frobnicate"/);
    const badLifetime = cli('tokens', 'create', '--organization', 'x', '--subject', 'y', '--expires-in', '3 weeks');
    expect(badLifetime.status).toBe(2);
    expect(badLifetime.stderr.trim()).toBe('admin-api: --expires-in "3 weeks" is not a lifetime; use days (90d), hours (12h) or never');
  });

  it('makes a token for 12 hours or for good when told to', () => {
    const organization = uniqueName('org');
    const hours = cli('tokens', 'create', '--organization', organization, '--subject', 'a@example.com', '--expires-in', '12h');
    expect(hours.status, hours.stderr).toBe(0);
    const expires = Date.parse(/expires (\S+)\)/.exec(hours.stderr)?.[1] ?? '');
    expect(Math.abs(expires - Date.now() - 12 * 3_600_000)).toBeLessThan(120_000);
    const forever = cli('tokens', 'create', '--organization', organization, '--subject', 'b@example.com', '--expires-in', 'never');
    expect(forever.status, forever.stderr).toBe(0);
    expect(forever.stderr).toContain('never expires');
    const listed = cli('tokens', 'list', '--organization', organization).stdout;
    expect(listed).toMatch(/a@example\.com.*\tactive until /);
    expect(listed).toMatch(/b@example\.com.*\tactive, no expiry/);
  });
});
