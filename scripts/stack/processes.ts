import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';

/** Starts a long-lived process that outlives this one, its output in `logFile`. */
export function spawnDetached(command: string, args: string[], options: { cwd: string; logFile: string; uid?: number; gid?: number }): number {
  const out = openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', out, out],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child.pid;
}

/** Alive, and really ours: its command line still contains `marker` (pids get reused). */
export function isOurs(pid: number | undefined, marker: string): boolean {
  if (!pid) return false;
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return false;
  try {
    return readFileSync(cmdline, 'utf8').replace(/\0/g, ' ').includes(marker);
  } catch {
    return false;
  }
}

export async function stopProcess(pid: number, marker: string, graceMs = 15_000): Promise<void> {
  if (!isOurs(pid, marker)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isOurs(pid, marker)) await new Promise((r) => setTimeout(r, 100));
  if (isOurs(pid, marker)) process.kill(pid, 'SIGKILL');
}

/** True when something accepts connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs a command to completion; throws with its output on failure. */
export function run(command: string, args: string[], options: { cwd?: string; uid?: number; gid?: number; what: string }): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
  if (result.error) throw new Error(`${options.what}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${options.what} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return result.stdout;
}

export function lastLines(file: string, count = 5): string {
  if (!existsSync(file)) return '(no log yet)';
  return readFileSync(file, 'utf8').trim().split('\n').slice(-count).join('\n    ');
}
