import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('../support/lifecycle-process.ts', import.meta.url));

function run(mode: 'fatal' | 'signal' | 'rejection' | 'exception'): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (mode === 'signal' && output.includes('running')) child.kill('SIGTERM');
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('ordered stop', () => {
  it('on a fatal error stops the parts once, logs the cause, and exits 1 for the supervisor to restart it', async () => {
    const { code, output } = await run('fatal');
    expect(code, output).toBe(1);
    expect(output.match(/parts stopped/g)).toHaveLength(1);
    expect(output).toContain('the deliverer consumer was given up');
    expect(output).not.toContain('a second report');
    expect(output).toContain('"level":"fatal"');
  });

  it('on an error nothing caught (a rejection or an exception) stops the parts in order, logs it as fatal, and exits 1', async () => {
    for (const mode of ['rejection', 'exception'] as const) {
      const { code, output } = await run(mode);
      expect(code, output).toBe(1);
      expect(output.match(/parts stopped/g), mode).toHaveLength(1);
      expect(output).toMatch(/"level":"fatal".*nothing (handled|caught)/);
    }
  });

  it('on SIGTERM stops the parts and exits 0', async () => {
    const { code, output } = await run('signal');
    expect(code, output).toBe(0);
    expect(output).toContain('parts stopped');
    expect(output).not.toContain('"level":"fatal"');
  });
});
