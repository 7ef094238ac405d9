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

    const listed = cli('tokens', 'list', '--organization', organization);
    expect(listed.status).toBe(0);
    const [line] = listed.stdout.trim().split('\n');
    expect(line).toContain('ops@example.com');
    expect(line).toContain('active');
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
  });
});
